"""Fixtures of the state tests: a fresh state file holding the demo tenant."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from certrotor.emulator.state import EmulatorState
from certrotor.emulator.tenant import DemoTenant, ensure_demo_tenant


@pytest.fixture
def state(tmp_path: Path) -> Iterator[EmulatorState]:
    opened = EmulatorState.open(tmp_path / "state.db")
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def demo(state: EmulatorState) -> DemoTenant:
    return ensure_demo_tenant(state)
