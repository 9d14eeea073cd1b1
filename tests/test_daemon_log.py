"""The daemon's ``rotation`` log lines say what happened: uploaded-first, rotated, retired previous."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import time_machine

from certrotor.crypto import utcnow
from certrotor.daemon import Daemon
from certrotor.emulator.testing import RunningEmulator
from certrotor.logging import configure_logging, reset_logging
from certrotor.services import operations
from certrotor.store import Strategy
from services._support import ServiceWorld, running_world

GRACE_SECONDS = 3600


@pytest.fixture
def world(emulator: RunningEmulator, tmp_path: Path) -> Iterator[ServiceWorld]:
    with running_world(emulator, tmp_path / "data") as opened:
        yield opened


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """JSON log lines of this test, as the daemon writes them."""
    stream = io.StringIO()
    configure_logging("info", "json", stream=stream)
    try:
        yield stream
    finally:
        reset_logging()


def _one_pass(world: ServiceWorld, name: str, stream: io.StringIO) -> dict[str, Any]:
    """Make ``name`` due, run one daemon pass; its ``rotation`` log event."""
    runtime = world.runtime()
    runtime.store.set_schedule(name, utcnow() - dt.timedelta(seconds=1), 0, None)
    stream.seek(0)
    stream.truncate()
    Daemon(runtime, interval=0.1, reconcile_on_start=False).run(max_ticks=1)
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    (rotation,) = [event for event in events if event["event"] == "rotation"]
    keys = ("status", "certificate_id", "previous_certificate_id", "detail")
    return {key: rotation.get(key) for key in keys}


class TestRotationLogLines:
    def test_first_upload_rotation_and_retirement_each_say_what_happened(
        self, world: ServiceWorld, log_lines: io.StringIO
    ) -> None:
        """uploaded-first (nothing retired), rotated (which one it replaced), retired previous <id>."""
        spec = world.spec(
            "app1",
            management_token=world.admin_token,
            grace_seconds=GRACE_SECONDS,
            strategy=Strategy.OVERLAP,
        )
        operations.add_credential(world.runtime(), spec)

        first = _one_pass(world, "app1", log_lines)
        first_id = world.store.current_version("app1").certificate_id
        assert first == {
            "status": "uploaded-first",
            "certificate_id": first_id,
            "previous_certificate_id": None,
            "detail": "first certificate; nothing to retire",
        }

        second = _one_pass(world, "app1", log_lines)
        second_id = world.store.current_version("app1").certificate_id
        retire_after = world.store.open_rotation("app1").retire_after
        assert second == {
            "status": "rotated",
            "certificate_id": second_id,
            "previous_certificate_id": first_id,
            "detail": f"retires the previous certificate after {retire_after:%Y-%m-%d %H:%M:%S} UTC",
        }

        with time_machine.travel(utcnow() + dt.timedelta(seconds=GRACE_SECONDS + 60), tick=True):
            third = _one_pass(world, "app1", log_lines)
        assert third == {
            "status": "retired",
            "certificate_id": first_id,
            "previous_certificate_id": None,
            "detail": f"retired previous {first_id}",
        }
