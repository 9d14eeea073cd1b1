"""Fixtures of the service tests: a certrotor world (store and settings) beside the emulator."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from certrotor.emulator.testing import RunningEmulator

from ._support import ServiceWorld, emulator_in_another_process, running_world


def _only_world_settings(monkeypatch: pytest.MonkeyPatch, config_file: Path) -> None:
    # Library code reads settings from the environment as well: only this world's may apply.
    for name in [n for n in os.environ if n.startswith("CERTROTOR_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("CERTROTOR_CONFIG", str(config_file))


@pytest.fixture
def world(
    emulator: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ServiceWorld]:
    """A fresh SQLite store in tmp_path, its settings and runtimes, beside a fresh emulator."""
    with running_world(emulator, tmp_path / "data") as opened:
        _only_world_settings(monkeypatch, opened.config_file)
        yield opened


@pytest.fixture
def world_with_remote_emulator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ServiceWorld]:
    """Like ``world``, but the emulator runs in its own process (its clock stays put under time-machine)."""
    with (
        emulator_in_another_process(tmp_path / "emulator.db") as emulator,
        running_world(emulator, tmp_path / "data") as opened,
    ):
        _only_world_settings(monkeypatch, opened.config_file)
        yield opened
