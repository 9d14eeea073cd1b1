"""Seed 004's story end to end for an M2M credential: a new certificate one to two weeks before the old one
expires, saved on both sides, without a person; a "generate now" trigger; a health check that says whether
a valid certificate exists and until when.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import time_machine

from certrotor.daemon import Daemon
from certrotor.health_rules import HealthStatus
from certrotor.services import health
from certrotor.store import RotationStep, Strategy, VersionState
from support.processes import ForkServer

from ._support import DAY, ServiceWorld, assert_settled


def when(moment: dt.datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def daemon_pass(world: ServiceWorld) -> None:
    """One pass of the daemon, in this process so that it shares the (travelling) clock."""
    Daemon(world.runtime(), parallel=2, interval=0.1, owner="story:1:daemon").run(max_ticks=1)


class TestSeed004Story:
    """Automatic rotation before expiry, the manual trigger, and the health check, in one story."""

    def test_rotation_before_expiry_manual_trigger_and_health(
        self, world: ServiceWorld, fork_server: ForkServer, tmp_path: Path
    ) -> None:
        """Health shows validity; `rotate` makes a new one now; the daemon renews 14-7 days before expiry."""
        world.enrol("openair", validity_seconds=30 * DAY, strategy=Strategy.OVERLAP)
        first = world.store.current_version("openair")
        assert first is not None

        # The health check: is there a valid certificate, and until when?
        answer = fork_server.run(["health", "openair", "--json"], world.env(), tmp_path / "runs")
        assert answer.returncode == 0, answer.stdout
        [report] = answer.json()["credentials"]
        assert report["summary"] == f"Current certificate is valid until {when(first.not_after)}"
        assert report["expires_at"] == first.not_after.isoformat()

        # "You can trigger the certificate generation and rotation at any time."
        fork_server.run(["rotate", "openair"], world.env(), tmp_path / "runs").ok()
        manual = assert_settled(world, "openair")
        assert manual.id != first.id
        assert world.store.get_version(first.id).state is VersionState.REVOKED
        answer = fork_server.run(["health", "openair", "--json"], world.env(), tmp_path / "runs")
        assert answer.json()["credentials"][0]["expires_at"] == manual.not_after.isoformat()

        # Automatic rotation "one to two weeks before the previous certificate expires".
        credential = world.store.get_credential("openair")
        planned = credential.next_rotation_at
        assert planned is not None
        assert manual.not_after - dt.timedelta(days=14) <= planned <= manual.not_after - dt.timedelta(days=7)
        with time_machine.travel(manual.not_after - dt.timedelta(days=15), tick=True):
            daemon_pass(world)  # before the window: nothing to do
            assert world.store.current_version("openair") == manual
            report_ok = health.check_credential(world.runtime(), world.store.get_credential("openair"))
            assert report_ok.status is HealthStatus.OK
        with time_machine.travel(planned + dt.timedelta(seconds=1), tick=True):
            daemon_pass(world)
            automatic = assert_settled(world, "openair")
            assert automatic.id != manual.id
            [latest, *_] = world.store.rotations("openair")
            assert latest.step is RotationStep.DONE
            assert latest.trigger.value == "schedule"
            # Started as planned, that is inside the window 14 to 7 days before the old expiry.
            assert manual.not_after - dt.timedelta(days=14) <= latest.started_at
            assert latest.started_at - planned < dt.timedelta(minutes=1)
            report_new = health.check_credential(world.runtime(), world.store.get_credential("openair"))
            assert report_new.status is HealthStatus.OK
            assert report_new.expires_at == automatic.not_after
            assert report_new.summary == f"Current certificate is valid until {when(automatic.not_after)}"
            # Saved on both sides: NetSuite holds it, and it was delivered to the consumer's directory.
            delivered = (world.data_dir / "deliver" / "openair" / "cert.pem").read_text()
            assert delivered == automatic.certificate_pem

        # Without a daemon the certificate would lapse, and health says so.
        with time_machine.travel(automatic.not_after + dt.timedelta(minutes=1), tick=True):
            credential = world.store.get_credential("openair")
            lapsed = health.check_credential(world.runtime(), credential, remote=False)
            assert lapsed.status is HealthStatus.CRIT
            assert lapsed.summary == "No valid certificate available"
            assert lapsed.reasons[0].code == "expired"
