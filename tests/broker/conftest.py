"""Fixtures of the broker tests: a certrotor world beside an emulator, and a broker serving it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from certrotor.emulator.testing import RunningEmulator
from services._support import ServiceWorld, running_world

from ._support import LargeAnswer, RunningBroker, emulator_with_large_answer, running_test_broker


@pytest.fixture
def large_answer() -> LargeAnswer:
    """The large SuiteQL answer the emulator of these tests serves (its gate shut)."""
    return LargeAnswer()


@pytest.fixture
def emulator(tmp_path: Path, large_answer: LargeAnswer) -> Iterator[RunningEmulator]:
    """The emulator with a streaming SuiteQL endpoint beside its protected resource."""
    with emulator_with_large_answer(tmp_path / "emulator.db", large_answer) as running:
        try:
            yield running
        finally:
            large_answer.release.set()


@pytest.fixture
def world(
    emulator: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ServiceWorld]:
    """A store in tmp_path with two credentials on different integrations: ``sales`` and ``billing``."""
    with running_world(emulator, tmp_path / "data") as opened:
        for name in [n for n in os.environ if n.startswith("CERTROTOR_")]:
            monkeypatch.delenv(name)
        monkeypatch.setenv("CERTROTOR_CONFIG", str(opened.config_file))
        opened.enrol("sales")
        opened.enrol("billing", client_id=opened.new_integration())
        yield opened


@pytest.fixture
def broker(world: ServiceWorld) -> Iterator[RunningBroker]:
    """A broker on a free loopback port over the world's store (audit every hour: only at shutdown)."""
    with running_test_broker(world.runtime()) as running:
        yield running
