"""The rotation daemon as real processes: one pass, a clean stop on SIGTERM (also mid-rotation), and three
daemons sharing one PostgreSQL store that rotate each of 200 due credentials exactly once.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest

from certrotor.crypto import utcnow
from certrotor.daemon import Daemon
from certrotor.emulator.testing import RunningEmulator
from certrotor.services.rotation import Rotator
from certrotor.store import RotationStep, RotationTrigger, Strategy
from services._support import DAY, ServiceWorld, assert_settled, enrol_fleet, running_world
from support.postgres import PostgresServer
from support.processes import ForkServer, certrotor_command

FLEET = 200
DAEMONS = 3
FLEET_DEADLINE_SECONDS = 600.0
"""Generous bound for the fleet on a busy two-core machine; the loop polls and ends much sooner."""
STOP_TIMEOUT_SECONDS = 60.0


def _only_world_settings(monkeypatch: pytest.MonkeyPatch, world: ServiceWorld) -> None:
    for name in [n for n in os.environ if n.startswith("CERTROTOR_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("CERTROTOR_CONFIG", str(world.config_file))


@pytest.fixture
def world(
    emulator: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ServiceWorld]:
    """A SQLite store in tmp_path beside a fresh emulator."""
    with running_world(emulator, tmp_path / "data") as opened:
        _only_world_settings(monkeypatch, opened)
        yield opened


@pytest.fixture
def postgres_world(
    emulator: RunningEmulator,
    shared_postgres: PostgresServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[ServiceWorld]:
    """A world whose store is a fresh database on the session's PostgreSQL server."""
    name = f"daemon_{tmp_path.name.lower()[-40:]}".replace("-", "_")
    url = shared_postgres.create_database(name)
    try:
        with running_world(emulator, tmp_path / "data", database_url=url) as opened:
            _only_world_settings(monkeypatch, opened)
            yield opened
    finally:
        shared_postgres.drop_database(name)


@contextmanager
def daemon_process(world: ServiceWorld, log: Path, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    """``certrotor daemon ARGS`` as a real process logging JSON to ``log``; killed if still running."""
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [*certrotor_command(), "daemon", *args],
            env=world.env(CERTROTOR_LOG_FORMAT="json", CERTROTOR_LOG_LEVEL="INFO"),
            cwd=world.data_dir.parent,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def log_events(log: Path) -> list[dict[str, Any]]:
    events = []
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            events.append(json.loads(line))
    return events


def wait_for(condition: Any, timeout: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


def stop(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=STOP_TIMEOUT_SECONDS)


class TestOnePass:
    """``certrotor daemon --once`` on the default SQLite store."""

    def test_once_rotates_what_is_due_and_leaves_the_rest(
        self, world: ServiceWorld, fork_server: ForkServer, tmp_path: Path
    ) -> None:
        """Due credentials are rotated in one pass; one planned for later is not touched."""
        for name in ("due1", "due2", "later"):
            world.enrol(name, client_id=world.new_integration())
        world.store.set_schedule("due1", utcnow(), 0, None)
        world.store.set_schedule("due2", utcnow(), 0, None)
        later = world.store.get_credential("later").next_rotation_at
        result = fork_server.run(["daemon", "--once", "--parallel", "2"], world.env(), tmp_path / "runs")
        assert result.returncode == 0, result.stderr
        for name in ("due1", "due2"):
            assert_settled(world, name)
            assert [r.step for r in world.store.rotations(name)] == [RotationStep.DONE]
        assert world.store.rotations("later") == []
        assert world.store.get_credential("later").next_rotation_at == later


class TestStop:
    """SIGTERM finishes the step in progress, releases the lease and exits 0."""

    def test_sigterm_when_idle_exits_cleanly(self, world: ServiceWorld, tmp_path: Path) -> None:
        """An idle daemon stops at once on SIGTERM with exit code 0 and says so in its log."""
        log = tmp_path / "daemon.log"
        with daemon_process(world, log, "--interval", "0.2") as process:
            wait_for(lambda: "daemon started" in log.read_text(), 120, "the daemon to start")
            assert stop(process) == 0
        assert any(e.get("event") == "daemon stopped" for e in log_events(log))

    @pytest.mark.slow
    def test_sigterm_mid_rotation_stops_between_steps_and_a_restart_finishes(
        self, world: ServiceWorld, fork_server: ForkServer, tmp_path: Path
    ) -> None:
        """Stopped while NetSuite answers slowly: exit 0, lease released; the next pass completes it."""
        world.enrol("slow", strategy=Strategy.OVERLAP)
        world.store.set_schedule("slow", utcnow(), 0, None)
        world.emulator.set_faults(slow_seconds=0.7, slow_rate=1.0)
        log = tmp_path / "daemon.log"
        with daemon_process(world, log, "--interval", "0.2", "--no-reconcile") as process:
            wait_for(lambda: world.store.open_rotation("slow") is not None, 120, "the rotation to start")
            assert stop(process) == 0
        world.emulator.clear_faults()
        credential = world.store.get_credential("slow")
        assert credential.lease_owner is None
        outcomes = [e for e in log_events(log) if e.get("event") == "rotation"]
        assert [e["status"] for e in outcomes] in (["interrupted"], ["rotated"])
        if outcomes[0]["status"] == "interrupted":
            assert world.store.open_rotation("slow") is not None
            assert credential.failed_attempts == 0
        result = fork_server.run(["daemon", "--once", "--no-reconcile"], world.env(), tmp_path / "runs")
        assert result.returncode == 0, result.stderr
        assert_settled(world, "slow")
        assert [r.step for r in world.store.rotations("slow")] == [RotationStep.DONE]
        assert world.uploads(world.emulator.tenant.client_id) == 2


class TestGracePeriod:
    """A rotation waiting out its grace period is planned at the grace end, not claimed pass after pass."""

    def test_waiting_rotation_due_after_a_failure_is_claimed_once(self, world: ServiceWorld) -> None:
        """Due now with a failed attempt (as a failed manual rotation leaves it) while the previous
        certificate is in grace: one pass says waiting and plans the grace end; the next claims nothing."""
        world.enrol("graced", grace_seconds=DAY)
        rotator = Rotator(world.runtime(), owner="test:1:cli")
        assert rotator.rotate("graced", RotationTrigger.MANUAL).status == "rotated"
        waiting = world.store.open_rotation("graced")
        assert waiting is not None
        assert waiting.retire_after is not None
        error = "Uploading the certificate failed: NetSuite answered 503."
        world.store.set_schedule("graced", utcnow() - dt.timedelta(seconds=1), 1, error)
        certificates = world.emulator.certificates()

        stats = Daemon(
            world.runtime(),
            interval=0,
            owner="test:1:daemon",
            reconcile_on_start=False,
            observe_interval=None,
        ).run(max_ticks=3)

        assert stats.rotations == {"waiting": 1}
        credential = world.store.get_credential("graced")
        assert credential.next_rotation_at == waiting.retire_after
        assert (credential.failed_attempts, credential.last_error) == (1, error)
        assert world.store.open_rotation("graced") == waiting
        assert world.emulator.certificates() == certificates


@pytest.mark.slow
@pytest.mark.postgres
class TestSharedPostgres:
    """Several daemons on one PostgreSQL store: leases keep every credential to one daemon at a time."""

    def test_three_daemons_rotate_each_of_200_credentials_exactly_once(
        self, postgres_world: ServiceWorld, tmp_path: Path
    ) -> None:
        """200 due credentials, 3 daemons: each rotated once (one upload each), then SIGTERM exits 0."""
        world = postgres_world
        clients = world.emulator.add_integrations(FLEET, name="Fleet")
        specs = [
            world.spec(f"fleet{index:03d}", client_id=client_id, strategy=Strategy.OVERLAP)
            for index, client_id in enumerate(clients)
        ]
        enrol_fleet(world, specs, due_at=utcnow())
        uploads_before = world.emulator.counters()["uploads"]
        assert all(uploads_before[client_id] == 1 for client_id in clients)

        logs = [tmp_path / f"daemon{index}.log" for index in range(DAEMONS)]
        started = time.monotonic()
        with ExitStack() as stack:
            daemons = [
                stack.enter_context(
                    daemon_process(
                        world, log, "--parallel", "4", "--interval", "0.3", "--no-reconcile", "--lease", "120"
                    )
                )
                for log in logs
            ]
            horizon = utcnow() + dt.timedelta(days=1)

            def all_rotated() -> bool:
                credentials = world.store.list_credentials()
                return all(
                    c.next_rotation_at is not None and c.next_rotation_at > horizon for c in credentials
                )

            wait_for(all_rotated, FLEET_DEADLINE_SECONDS, f"{FLEET} rotations", interval=1.0)
            elapsed = time.monotonic() - started
            codes = [stop(process) for process in daemons]
        assert codes == [0] * DAEMONS

        uploads = world.emulator.counters()["uploads"]
        assert {client_id: uploads[client_id] for client_id in clients} == dict.fromkeys(clients, 2)
        rotated_by: dict[str, list[int]] = collections.defaultdict(list)
        for index, log in enumerate(logs):
            events = log_events(log)
            assert events[-1]["event"] == "daemon stopped"
            for event in events:
                if event.get("event") == "rotation":
                    assert event["status"] == "rotated", event
                    rotated_by[event["credential"]].append(index)
        assert sorted(rotated_by) == sorted(spec.name for spec in specs)
        assert all(len(daemons_) == 1 for daemons_ in rotated_by.values())
        share = collections.Counter(index for daemons_ in rotated_by.values() for index in daemons_)
        print(f"{FLEET} rotations by {DAEMONS} daemons in {elapsed:.1f}s; per daemon {dict(share)}")
        remote: dict[str, list[bool]] = collections.defaultdict(list)
        for certificate in world.emulator.certificates():
            remote[certificate["client_id"]].append(certificate["revoked"])
        for spec in specs:
            assert [r.step for r in world.store.rotations(spec.name)] == [RotationStep.DONE]
            assert world.store.get_credential(spec.name).lease_owner is None
            assert sorted(remote[spec.client_id]) == [False, True]
        assert_settled(world, specs[0].name)
        assert_settled(world, specs[-1].name)
