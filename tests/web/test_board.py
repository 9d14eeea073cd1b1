"""The console's health read from the stored observations: the daemon's, its own and `health`'s are one
history, judged as `certrotor health --max-age` judges them (over real HTTP, the emulator on loopback).
"""

from __future__ import annotations

import datetime as dt
import re

from certrotor.crypto import utcnow
from certrotor.health_rules import HealthReport
from certrotor.services.health import check_all
from certrotor.services.observation import observe
from certrotor.services.rotation import Rotator, default_owner
from certrotor.store import RotationTrigger, observations
from certrotor.store.observations import Observation
from certrotor.web.console.board import HealthBoard

from ._support import OPERATOR, VIEWER, ConsoleWorld, csrf_of, revoke_on_emulator

_ROW = r'<tr data-credential="{name}">(.*?)</tr>'


def fleet_row(page: str, name: str) -> str:
    found = re.search(_ROW.format(name=name), page, flags=re.S)
    assert found is not None, f"no fleet row for {name}"
    return found.group(1)


def badge(row: str) -> str:
    found = re.search(r'class="badge status-(\w+)"', row)
    assert found is not None
    return found.group(1)


def observed_cell(row: str) -> str:
    found = re.search(r'<td class="observed">(.*?)</td>', row, flags=re.S)
    assert found is not None
    return found.group(1)


def as_health_max_age(world: ConsoleWorld, name: str) -> HealthReport:
    """What `certrotor health NAME --max-age 1h` answers (no live check for a younger observation)."""
    return check_all(world.runtime, [name], max_age=dt.timedelta(hours=1))[0]


class TestObservedHealth:
    def test_the_daemons_observation_shows_on_the_fleet_with_its_age(self, world: ConsoleWorld) -> None:
        """An observation the daemon's observation service stored shows as the row's age and observer."""
        daemon = default_owner()
        observed = observe(world.runtime, world.store.list_credentials(), observer=daemon)
        client = world.logged_in(VIEWER)
        page = client.get("/").text
        seen_at = utcnow()
        for name in ("demo1", "demo2"):
            row = fleet_row(page, name)
            assert badge(row) == "OK"
            age = re.fullmatch(r"(\d+) s ago", observed_cell(row).strip())
            assert age is not None, observed_cell(row)
            assert int(age.group(1)) <= (seen_at - observed[name].observed_at).total_seconds()
        host, pid, _ = daemon.split(":")
        credential_page = client.get("/credentials/demo1").text
        assert f"by the daemon on {host} (pid {pid})" in credential_page

    def test_a_certificate_the_daemon_saw_revoked_is_crit(self, world: ConsoleWorld) -> None:
        """demo2 revoked on NetSuite, seen by the daemon's service: CRIT on the fleet without Check now."""
        revoke_on_emulator(world, world.current_certificate_id("demo2") or "")
        observe(world.runtime, world.store.list_credentials(), observer=default_owner())
        page = world.logged_in(VIEWER).get("/").text
        row = fleet_row(page, "demo2")
        health = as_health_max_age(world, "demo2")
        assert badge(row) == health.status.value == "CRIT"
        assert health.reasons[0].message in row.replace("&#39;", "'")
        assert badge(fleet_row(page, "demo1")) == "OK"
        assert "1 CRIT" in page

    def test_an_observation_older_than_two_intervals_is_warn(self, world: ConsoleWorld) -> None:
        """An observation 40 minutes old (two 15-minute intervals) is WARN on the pages, as in health."""
        observed_at = utcnow() - dt.timedelta(minutes=40)
        observations.save(
            world.store,
            [
                Observation(
                    credential="demo1",
                    observed_at=observed_at,
                    remote_state="active",
                    certificate_id=world.current_certificate_id("demo1"),
                    observer=default_owner(),
                )
            ],
        )
        client = world.logged_in(VIEWER)
        page = client.get("/").text
        row = fleet_row(page, "demo1")
        health = as_health_max_age(world, "demo1")
        assert badge(row) == health.status.value == "WARN"
        assert [reason.code for reason in health.reasons] == ["observation_stale"]
        assert "Nobody observed this credential on NetSuite since" in row
        assert observed_cell(row).strip() == "40 min ago"
        assert "nobody observed for 30m is WARN" in page
        other = fleet_row(page, "demo2")
        assert (badge(other), observed_cell(other).split("<")[0].strip()) == ("OK", "never")
        credential_page = client.get("/credentials/demo1").text
        assert 'id="status">WARN<' in credential_page
        assert "Observed on NetSuite 40 min ago" in credential_page

    def test_the_consoles_pass_observes_only_what_nobody_observed_lately(self, world: ConsoleWorld) -> None:
        """The console's periodic pass leaves the daemon's fresh observation alone and observes the rest."""
        daemon = default_owner()
        by_daemon = observe(world.runtime, [world.store.get_credential("demo1")], observer=daemon)["demo1"]
        board = HealthBoard(world.runtime, interval=900)
        assert board.stale_after == dt.timedelta(minutes=30)
        assert board.observe_due() == 2
        latest = observations.latest(world.store)
        assert latest["demo1"] == by_daemon
        assert latest["demo2"].observer == board.observer
        assert latest["demo2"].remote_state == "active"
        assert latest["demo2"].certificate_id == world.current_certificate_id("demo2")

    def test_check_now_stores_an_observation_with_the_probe(self, world: ConsoleWorld) -> None:
        """Check now stores an observation with a token probe, by the web user, in the shared history."""
        client = world.logged_in(OPERATOR)
        answer = client.post("/credentials/demo1/check", data={"csrf_token": csrf_of(client, "/")})
        assert answer.status_code == 303
        observation = observations.latest(world.store)["demo1"]
        assert observation.observer == f"console web:{OPERATOR}"
        assert (observation.remote_state, observation.probe_ok) == ("active", True)
        assert observation.certificate_id == world.current_certificate_id("demo1")
        assert "demo2" not in observations.latest(world.store)

    def test_the_observation_of_a_replaced_certificate_is_not_the_current_ones(
        self, world: ConsoleWorld
    ) -> None:
        """demo2 seen revoked, then rotated elsewhere: OK from local facts, its age marked as earlier."""
        revoke_on_emulator(world, world.current_certificate_id("demo2") or "")
        observe(world.runtime, [world.store.get_credential("demo2")], observer=default_owner())
        client = world.logged_in(VIEWER)
        assert badge(fleet_row(client.get("/").text, "demo2")) == "CRIT"
        rotator = Rotator(world.runtime, owner=default_owner(), actor="cli")
        assert rotator.rotate("demo2", RotationTrigger.MANUAL).status == "rotated"
        row = fleet_row(client.get("/").text, "demo2")
        assert "(an earlier certificate)" in observed_cell(row)
        assert "before the last rotation" in client.get("/credentials/demo2").text
        # health --max-age finds no observation of the new certificate, checks it live and agrees.
        assert badge(row) == as_health_max_age(world, "demo2").status.value == "OK"

    def test_a_console_rotation_ends_with_an_observation_of_the_new_certificate(
        self, world: ConsoleWorld
    ) -> None:
        """Rotate now: when the rotation ends the console observes the new certificate (stored, shown)."""
        client = world.logged_in(OPERATOR)
        answer = client.post("/credentials/demo2/rotate", data={"csrf_token": csrf_of(client, "/")})
        assert answer.status_code == 303
        job = world.console.jobs.latest("demo2")
        assert job is not None
        assert job.finished.wait(60)
        assert job.status == "rotated", job.message
        latest = observations.latest(world.store)["demo2"]
        assert latest.certificate_id == world.current_certificate_id("demo2")
        assert (latest.remote_state, latest.probe_ok) == ("active", True)
        row = fleet_row(client.get("/").text, "demo2")
        assert badge(row) == "OK"
        assert re.fullmatch(r"\d+ s ago", observed_cell(row).strip())
