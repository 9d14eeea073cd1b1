"""Fixtures of the console tests: the console beside a fresh emulator, only this test's settings."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from certrotor.emulator.testing import RunningEmulator

from ._support import ConsoleWorld, running_console


@pytest.fixture
def world(
    emulator: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ConsoleWorld]:
    """demo1 and demo2 with a current certificate each, and the console serving their store on loopback."""
    for name in [n for n in os.environ if n.startswith("CERTROTOR_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("CERTROTOR_CONFIG", str(tmp_path / "no-config.toml"))
    with running_console(emulator, tmp_path / "data") as opened:
        yield opened
