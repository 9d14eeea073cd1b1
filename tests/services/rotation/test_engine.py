"""The engine's own duties: the schedule after success and failure, and leases (lost, dead holder, live
holder)."""

from __future__ import annotations

import datetime as dt
import os
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url

from certrotor.crypto import utcnow
from certrotor.errors import CredentialBusyError
from certrotor.health_rules import HealthStatus
from certrotor.scheduling import RenewalWindow
from certrotor.services import health
from certrotor.services.rotation import lease_holder_is_dead
from certrotor.store import RotationStep, Strategy, VersionState

from .._support import DAY, ServiceWorld, assert_settled
from ._support import MANUAL, actions, rotator


class TestSchedule:
    """When the next rotation happens, after a success and after failures."""

    def test_next_rotation_lies_in_the_new_certificates_renewal_window(self, world: ServiceWorld) -> None:
        """After a rotation the plan is inside the 14-to-7-day window of the new certificate."""
        world.enrol("app1", validity_seconds=60 * DAY)
        rotator(world).rotate("app1", MANUAL)
        credential = world.store.get_credential("app1")
        current = world.store.current_version(credential)
        assert current is not None
        assert credential.next_rotation_at is not None
        opens, closes = RenewalWindow(dt.timedelta(days=7), dt.timedelta(days=14)).bounds(
            current.not_before, current.not_after
        )
        assert opens <= credential.next_rotation_at <= closes
        assert current.not_after - dt.timedelta(days=14) == opens
        assert credential.failed_attempts == 0
        assert credential.last_error is None
        assert credential.last_rotation_at is not None

    def test_failures_back_off_and_health_turns_critical_near_expiry(self, world: ServiceWorld) -> None:
        """Each failure counts and plans a retry in the future before expiry; WARN, then CRIT near expiry."""
        world.emulator.set_config(max_active_per_integration=1)
        world.enrol("app1", strategy=Strategy.OVERLAP, validity_seconds=30 * DAY)
        current = world.store.current_version("app1")
        assert current is not None
        plans = []
        for attempt in (1, 2, 3):
            now = utcnow()
            assert rotator(world, seed=attempt).rotate("app1", MANUAL).status == "deferred"
            credential = world.store.get_credential("app1")
            assert credential.failed_attempts == attempt
            assert credential.last_error is not None
            assert "second active certificate" in credential.last_error
            assert credential.next_rotation_at is not None
            assert now < credential.next_rotation_at < current.not_after
            plans.append(credential.next_rotation_at)
        report = health.check_credential(world.runtime(), world.store.get_credential("app1"))
        assert report.status is HealthStatus.WARN
        assert "(3 failed attempts)" in report.reasons[0].message
        # Near expiry (inside the last quarter of the renewal window) the same failure is critical.
        with time_machine.travel(current.not_after - dt.timedelta(days=1), tick=True):
            credential = world.store.get_credential("app1")
            report = health.check_credential(world.runtime(), credential, remote=False)
            assert report.status is HealthStatus.CRIT
            assert report.reasons[0].code == "rotation_failed"
            # The retry budget shrinks with the time left: the next try still fits before expiry.
            assert rotator(world, seed=9).rotate("app1", MANUAL).status == "deferred"
            retry_at = world.store.get_credential("app1").next_rotation_at
            assert retry_at is not None
            assert retry_at - utcnow() <= (current.not_after - utcnow()) / 3


class TestEvents:
    """Events go with the journal writes they belong to; none is lost when a rotation stops early."""

    def test_a_deferred_rotation_keeps_every_event_drafted_before_its_failure(
        self, world: ServiceWorld
    ) -> None:
        """A failing hook: the steps' events, the hook's failure and the deferral are all written."""
        world.enrol("app1", hook_command="false")
        outcome = rotator(world).rotate("app1", MANUAL)
        assert outcome.status == "deferred"
        assert actions(world, "app1", outcome.rotation_id or 0) == [
            "rotation-start",
            "prepare",
            "upload",
            "verify",
            "activate",
            "hook",
            "rotation-deferred",
        ]


class TestEconomy:
    """A rotation commits once a journal step: the start, then the end of each of the six steps."""

    @pytest.mark.parametrize("backend", ["world", pytest.param("postgres_world", marks=pytest.mark.postgres)])
    def test_an_overlap_rotation_commits_once_a_step(
        self, backend: str, request: pytest.FixtureRequest
    ) -> None:
        """Seven store transactions write: start, prepare, upload, verify, activate, deliver, retire."""
        world: ServiceWorld = request.getfixturevalue(backend)
        world.enrol("app1", strategy=Strategy.OVERLAP)
        store_database = make_url(world.settings().resolved_database_url).database
        written: list[str] = []

        def wrote(connection: Connection, _cursor: object, statement: str, *_rest: object) -> None:
            if statement.lstrip()[:6].upper() in ("INSERT", "UPDATE", "DELETE"):
                connection.info["test_wrote"] = True

        def committed(connection: Connection) -> None:
            wrote_store = connection.engine.url.database == store_database
            if connection.info.pop("test_wrote", False) and wrote_store:
                written.append("commit")

        def rolled_back(connection: Connection) -> None:
            connection.info.pop("test_wrote", None)

        event.listen(Engine, "before_cursor_execute", wrote)
        event.listen(Engine, "commit", committed)
        event.listen(Engine, "rollback", rolled_back)
        try:
            outcome = rotator(world).rotate("app1", MANUAL)
        finally:
            event.remove(Engine, "rollback", rolled_back)
            event.remove(Engine, "commit", committed)
            event.remove(Engine, "before_cursor_execute", wrote)
        assert outcome.status == "rotated"
        assert len(written) == 7
        assert_settled(world, "app1")


STEAL_LEASE = """
import sys
from certrotor.keyvault import MasterKey
from certrotor.store import Store
url, key, name, thief = sys.argv[1:]
store = Store.open(url, MasterKey.from_base64url(key))
holder = store.get_credential(name).lease_owner
store.release(name, holder)
store.claim(name, thief, 300)
"""


class TestLeases:
    """The lease keeps a credential to one process; a dead holder's lease is taken over."""

    def test_a_lost_lease_stops_before_the_next_remote_step_and_leaves_the_schedule_alone(
        self, world: ServiceWorld, tmp_path: Path
    ) -> None:
        """Another process takes the lease during delivery: nothing journaled or retired after it, the
        schedule untouched, the events drafted before kept."""
        # The hook (run during delivery) plays the other daemon that took the credential over.
        database = world.settings().resolved_database_url
        hook = shlex.join([sys.executable, "-c", STEAL_LEASE, database, world.master_key, "app1", "thief"])
        world.enrol("app1", strategy=Strategy.OVERLAP, hook_command=hook)
        before = world.store.get_credential("app1")
        outcome = rotator(world).rotate("app1", MANUAL)
        assert outcome.status == "interrupted"
        assert "lease" in outcome.message
        credential = world.store.get_credential("app1")
        assert credential.lease_owner == "thief"
        assert credential.failed_attempts == 0
        assert credential.last_error is None
        assert credential.next_rotation_at == before.next_rotation_at
        assert credential.last_rotation_at == before.last_rotation_at
        rotation = world.store.open_rotation(credential)
        assert rotation is not None
        # The journal write after the hook found the lease gone: the new holder delivers again.
        assert rotation.step is RotationStep.DELIVER
        assert actions(world, "app1", rotation.id)[-2:] == ["activate", "hook"]
        old = [v for v in world.store.versions(credential) if v.state is VersionState.PREVIOUS]
        assert len(old) == 1
        assert not {c["certificate_id"]: c for c in world.remote_certificates(before.client_id)}[
            old[0].certificate_id
        ]["revoked"]

    def test_the_lease_of_a_dead_local_process_is_taken_over(self, world: ServiceWorld) -> None:
        """A lease left by a killed process of this host does not block `rotate NAME` run again."""
        world.enrol("app1")
        dead = f"{socket.gethostname()}:{_reaped_pid()}:crashed"
        world.store.claim("app1", dead, 300)
        assert lease_holder_is_dead(dead)
        assert rotator(world).rotate("app1", MANUAL).status == "rotated"
        assert world.store.get_credential("app1").lease_owner is None

    def test_a_live_or_foreign_holder_is_never_overtaken(self, world: ServiceWorld) -> None:
        """A holder that runs, or one on another host, keeps the credential: CredentialBusyError."""
        world.enrol("app1")
        for holder in (f"{socket.gethostname()}:{os.getpid()}:alive", "elsewhere:1:remote"):
            world.store.claim("app1", holder, 300)
            with pytest.raises(CredentialBusyError):
                rotator(world).rotate("app1", MANUAL)
            world.store.release("app1", holder)
        assert world.store.rotations("app1") == []


def _reaped_pid() -> int:
    """The PID of a process that ran and was reaped (so it is certainly not running now)."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid
