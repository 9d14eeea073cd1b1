"""Health of credentials from real facts: the store, NetSuite's list and a token probe; exit codes 0/1/2."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import time_machine

from certrotor import crypto
from certrotor.client import BearerTokenAuth, NetSuiteClient
from certrotor.crypto import KeySpec, utcnow
from certrotor.health_rules import HealthStatus
from certrotor.services import health, operations
from certrotor.services.runtime import endpoints_for
from certrotor.store import Credential, VersionState
from certrotor.store import observations as stored
from support.processes import ForkServer, ProcessResult

from ._support import ServiceWorld


def admin_client(world: ServiceWorld, credential: Credential) -> NetSuiteClient:
    return NetSuiteClient(
        endpoints_for(credential),
        client_id=credential.client_id,
        auth=BearerTokenAuth(world.admin_token),
        timeout=10,
    )


def codes(world: ServiceWorld, name: str, **options: bool) -> tuple[HealthStatus, list[str]]:
    runtime = world.runtime(token=world.admin_token)
    report = health.check_credential(runtime, world.store.get_credential(name), **options)
    return report.status, [reason.code for reason in report.reasons]


class TestCheckCredential:
    """``health.check_credential``: one verdict per credential, from real facts."""

    def test_a_fresh_current_certificate_is_ok_and_a_probe_gets_a_token(self, world: ServiceWorld) -> None:
        """Valid, active on NetSuite, a token obtained: OK with the validity in the summary."""
        world.enrol("app1")
        current = world.store.current_version("app1")
        assert current is not None
        report = health.check_credential(world.runtime(), world.store.get_credential("app1"), probe=True)
        assert report.status is HealthStatus.OK
        assert report.reasons == ()
        assert report.expires_at == current.not_after
        until = f"{current.not_after:%Y-%m-%d %H:%M:%S} UTC"
        assert report.summary == f"Current certificate is valid until {until}"

    def test_never_uploaded_is_critical(self, world: ServiceWorld) -> None:
        """A credential with no current certificate is CRIT with `certrotor rotate` as the fix."""
        operations.add_credential(world.runtime(), world.spec("new"))
        assert codes(world, "new") == (HealthStatus.CRIT, ["no_current"])

    def test_current_revoked_on_netsuite_is_critical_and_the_probe_fails(self, world: ServiceWorld) -> None:
        """Revoked outside certrotor: CRIT for the remote state and for the failed probe."""
        world.enrol("app1")
        credential = world.store.get_credential("app1")
        current = world.store.current_version(credential)
        assert current is not None
        assert current.certificate_id is not None
        with admin_client(world, credential) as client:
            client.revoke_certificate(current.certificate_id)
        assert codes(world, "app1", probe=True) == (HealthStatus.CRIT, ["remote_revoked", "probe_failed"])

    def test_foreign_certificate_warns_with_the_revoke_command(self, world: ServiceWorld) -> None:
        """A certificate on the same entity and role that this store does not know: WARN, fix = revoke it."""
        world.enrol("app1")
        credential = world.store.get_credential("app1")
        key = crypto.generate_private_key(KeySpec.EC_P256)
        pem = crypto.certificate_to_pem(
            crypto.build_self_signed_certificate(key, common_name="stranger", validity_days=30)
        )
        with admin_client(world, credential) as client:
            foreign = client.upload_certificate(
                pem, entity=credential.entity_id, role=credential.role_id
            ).certificate_id
        report = health.check_credential(world.runtime(), credential)
        assert report.status is HealthStatus.WARN
        [reason] = report.reasons
        assert reason.code == "foreign_certificate"
        assert foreign in reason.message
        assert reason.fix.startswith("certrotor revoke app1 ")
        assert reason.fix.endswith(foreign)

    def test_window_open_with_nothing_planned_warns(self, world: ServiceWorld) -> None:
        """Inside the renewal window with no rotation planned: WARN renewal_not_planned."""
        world.enrol("app1", validity_seconds=30 * 86400)
        current = world.store.current_version("app1")
        assert current is not None
        world.store.set_schedule("app1", None, 0, None)
        with time_machine.travel(current.not_after - dt.timedelta(days=10), tick=True):
            assert codes(world, "app1", remote=False) == (HealthStatus.WARN, ["renewal_not_planned"])

    def test_planned_rotation_that_never_started_warns(self, world: ServiceWorld) -> None:
        """A plan long past with no rotation (no daemon running): WARN rotation_overdue."""
        world.enrol("app1", validity_seconds=30 * 86400)
        world.store.set_schedule("app1", utcnow() - dt.timedelta(hours=2), 0, None)
        assert codes(world, "app1", remote=False) == (HealthStatus.WARN, ["rotation_overdue"])


class TestHealthCommand:
    """`certrotor health`: the worst status decides the exit code, as monitoring plugins expect."""

    def test_exit_codes_follow_the_worst_credential(
        self, world: ServiceWorld, fork_server: ForkServer, tmp_path: Path
    ) -> None:
        """0 when all are OK, 1 with a WARN among them, 2 with a CRIT; one credential can be asked alone."""
        world.enrol("good")
        run = tmp_path / "runs"
        assert fork_server.run(["health"], world.env(), run).returncode == 0
        world.enrol("late", client_id=world.new_integration())
        world.store.set_schedule("late", utcnow() - dt.timedelta(hours=2), 0, None)
        assert fork_server.run(["health"], world.env(), run).returncode == 1
        operations.add_credential(world.runtime(), world.spec("broken", client_id=world.new_integration()))
        everything = fork_server.run(["health", "--json"], world.env(), run)
        assert everything.returncode == 2
        verdicts = {c["name"]: c["status"] for c in everything.json()["credentials"]}
        assert verdicts == {"broken": "CRIT", "good": "OK", "late": "WARN"}
        assert everything.json()["status"] == "CRIT"
        assert fork_server.run(["health", "good"], world.env(), run).returncode == 0
        text = fork_server.run(["health", "broken"], world.env(), run)
        assert text.returncode == 2
        assert text.stdout.splitlines()[:4] == [
            "CERTROTOR CRIT - 1 credential: 0 OK, 0 WARN, 1 CRIT | ok=0 warn=0 crit=1",
            "CRIT broken: No valid certificate available",
            "  - CRIT There is no current certificate.",
            "    fix: certrotor rotate broken",
        ]


class TestObservations:
    """Live checks are stored as observations; `--max-age` answers from young ones and checks the rest."""

    def test_max_age_answers_from_observations_and_checks_only_the_rest(
        self, world: ServiceWorld, fork_server: ForkServer, tmp_path: Path
    ) -> None:
        """A young observation answers without a request; one older than --max-age is checked live."""
        world.enrol("app1")
        world.enrol("app2", client_id=world.new_integration())
        health.check_all(world.runtime())  # live: both observed and stored
        before = world.emulator.counters().get("token_grants_total", 0)
        run = tmp_path / "runs"
        cached = fork_server.run(["health", "--max-age", "30m", "--json"], world.env(), run)
        assert cached.returncode == 0
        ages = [c["observation_age_seconds"] for c in cached.json()["credentials"]]
        assert all(age is not None and age >= 0 for age in ages)
        assert world.emulator.counters().get("token_grants_total", 0) == before  # nothing asked
        seen = {name: o.observed_at for name, o in stored.latest(world.store).items()}
        again = fork_server.run(["health", "--max-age", "0s", "--verbose"], world.env(), run)
        assert again.returncode == 0, again.stdout
        assert again.stdout.splitlines()[1].endswith("ago)")
        renewed = {name: o.observed_at for name, o in stored.latest(world.store).items()}
        assert set(renewed) == {"app1", "app2"}
        assert all(renewed[name] > seen[name] for name in renewed), "not checked live again"

    def test_a_network_failure_is_warn_never_ok(self, world: ServiceWorld) -> None:
        """NetSuite answering 503 to everything: WARN "NetSuite could not be checked", not OK."""
        world.enrol("app1")
        world.emulator.set_faults(error_rate=1.0)
        try:
            report = health.check_credential(world.runtime(), world.store.get_credential("app1"))
        finally:
            world.emulator.clear_faults()
        assert report.status is HealthStatus.WARN
        [reason] = report.reasons
        assert reason.code == "remote_unchecked"
        assert reason.message.startswith("NetSuite could not be checked: ")

    def test_one_list_call_serves_every_credential_of_an_integration(self, world: ServiceWorld) -> None:
        """Three credentials of one integration: one management token and one list, not three of each."""
        world.enrol("app1")
        for name in ("app2", "app3"):
            world.enrol(name, combination=world.emulator.add_m2m_combination())
        before = world.emulator.counters().get("token_grants_total", 0)
        reports = health.check_all(world.runtime())
        assert [r.status for r in reports] == [HealthStatus.OK] * 3
        assert world.emulator.counters().get("token_grants_total", 0) - before == 1

    def test_offline_reports_a_stale_observation(self, world: ServiceWorld) -> None:
        """Offline, an observation older than two observe intervals is WARN observation_stale."""
        world.enrol("app1")
        health.check_all(world.runtime())
        with time_machine.travel(utcnow() + dt.timedelta(hours=1), tick=True):
            assert codes(world, "app1", remote=False) == (HealthStatus.WARN, ["observation_stale"])
        assert codes(world, "app1", remote=False) == (HealthStatus.OK, [])


class TestExpiredCurrent:
    """An expired current certificate cannot authenticate management calls: health and rotate say so."""

    def test_health_and_rotate_name_a_token_or_login(
        self, world: ServiceWorld, fork_server: ForkServer, tmp_path: Path
    ) -> None:
        """With no other management access, the fix is a token or `certrotor login`, not `rotate`."""
        world.enrol("app1")
        credential = world.store.get_credential("app1")
        key = crypto.generate_private_key(KeySpec.EC_P256)
        certificate = crypto.build_self_signed_certificate(
            key,
            common_name="certrotor app1",
            validity_days=1,
            not_before=utcnow() - dt.timedelta(days=3),
        )
        expired = world.store.add_version(credential, key, certificate, VersionState.UPLOADED)
        expired = world.store.set_remote_certificate_id(expired, "expired-certificate-id")
        world.store.activate(credential, expired.id)
        for previous in world.store.versions(credential, states=[VersionState.PREVIOUS]):
            world.store.set_version_state(previous, VersionState.REVOKED)

        def cli(*args: str) -> ProcessResult:
            return fork_server.run(list(args), world.env(), tmp_path / "runs")

        versions = world.store.versions("app1")
        uploads = world.uploads(credential.client_id)
        expiry = f"{expired.not_after:%Y-%m-%d %H:%M:%S} UTC"
        message = (
            f"The current certificate expired-certificate-id expired at {expiry}: management calls cannot "
            "authenticate with an expired certificate, and no token or other certificate is set up for them."
        )

        health = cli("health", "app1", "--offline", "--json")
        rotated = cli("rotate", "app1")

        assert health.returncode == 2
        [entry] = health.json()["credentials"]
        assert [(r["code"], r["message"], r["fix"]) for r in entry["reasons"]] == [
            ("expired", message, "certrotor login app1  (or: certrotor credential set app1 --token TOKEN)")
        ]
        assert (rotated.returncode, rotated.stdout, rotated.stderr.splitlines()) == (
            1,
            "",
            [
                f"error: {message} Fix: give a bootstrap or management token (`certrotor credential set "
                "app1 --token TOKEN`, or `certrotor rotate app1 --token TOKEN` once) or run `certrotor "
                "login app1`."
            ],
        )
        assert world.store.versions("app1") == versions
        assert world.store.rotations("app1") == []
        assert world.uploads(credential.client_id) == uploads
