"""Fixtures shared by every test package; keep each one small and documented."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from certrotor.emulator.testing import RunningEmulator, serve_emulator


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[RunningEmulator]:
    """A fresh NetSuite emulator (real uvicorn on a free loopback port, SQLite in tmp_path)."""
    with serve_emulator(tmp_path / "emulator.db") as running:
        yield running
