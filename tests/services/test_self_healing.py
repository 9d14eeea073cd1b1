"""Self-healing over real HTTP: a current certificate revoked on NetSuite is CRIT, the daemon replaces it
at once through the first management access that works, and the alerts tell the CRIT and the recovery.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from alerts._receivers import webhook_receiver
from certrotor.client import BearerTokenAuth, NetSuiteClient
from certrotor.health_rules import HealthStatus
from certrotor.services import health, operations
from certrotor.services.management_auth import ManagementAccess
from certrotor.services.rotation import Rotator
from certrotor.services.runtime import Runtime, endpoints_for
from certrotor.store import AuthMode, Credential, RotationTrigger, Strategy, VersionState
from support.processes import ForkServer

from ._support import ServiceWorld, assert_settled, token_works

LONG_GRACE = 7 * 86400
"""The previous certificate stays active on NetSuite for a week after a rotation (its grace period)."""


def revoke_on_netsuite(world: ServiceWorld, credential: Credential, certificate_id: str) -> None:
    """Revoke as an administrator would in NetSuite's UI (the emulator's admin token)."""
    with NetSuiteClient(
        endpoints_for(credential), client_id=credential.client_id, auth=BearerTokenAuth(world.admin_token)
    ) as client:
        client.revoke_certificate(certificate_id)


def rotated_once(world: ServiceWorld, name: str, **options: object) -> Credential:
    """Enrolled, then rotated with a long grace: current and previous both active on NetSuite."""
    world.enrol(name, grace_seconds=LONG_GRACE, strategy=Strategy.OVERLAP, **options)
    admin = world.runtime(token=world.admin_token)
    outcome = Rotator(admin, owner="test").rotate(name, RotationTrigger.MANUAL)
    assert outcome.status == "rotated", outcome
    credential = world.store.get_credential(name)
    assert world.store.versions(credential, states=[VersionState.PREVIOUS])
    return credential


def current_id(world: ServiceWorld, name: str) -> str:
    current = world.store.current_version(name)
    assert current is not None
    assert current.certificate_id is not None
    return current.certificate_id


def revoke_current(world: ServiceWorld, name: str) -> str:
    certificate_id = current_id(world, name)
    revoke_on_netsuite(world, world.store.get_credential(name), certificate_id)
    return certificate_id


def codes(world: ServiceWorld, name: str) -> tuple[HealthStatus, list[str], list[str]]:
    """Status, reason codes and fixes of a live check without any token (the chain alone)."""
    report = health.check_credential(world.runtime(), world.store.get_credential(name))
    return report.status, [r.code for r in report.reasons], [r.fix for r in report.reasons]


class TestTheStory:
    """Issue 13's story end to end: revoke, health CRIT, the daemon heals, health OK, a token, alerts."""

    def test_a_revoked_current_certificate_is_healed_by_the_daemon_and_alerted(
        self, world: ServiceWorld, fork_server: ForkServer, tmp_path: Path
    ) -> None:
        """health exits 2 with the reason; `daemon --once` (no bootstrap token) heals; health 0; a token."""
        rotated_once(world, "demo")
        revoked = revoke_current(world, "demo")
        scratch = tmp_path / "runs"
        with webhook_receiver() as receiver:
            env = world.env(CERTROTOR_ALERT_WEBHOOK_URL=receiver.url)
            sick = fork_server.run(["health", "demo"], env, scratch)
            assert sick.returncode == 2, sick.stdout + sick.stderr
            assert sick.stdout.splitlines()[1] == "CRIT demo: No valid certificate available"
            assert f"The current certificate {revoked} was revoked on NetSuite." in sick.stdout
            assert "fix: certrotor rotate demo" in sick.stdout

            healed = fork_server.run(["daemon", "--once", "--no-reconcile"], env, scratch)
            assert healed.returncode == 0, healed.stdout + healed.stderr
            assert current_id(world, "demo") != revoked
            assert_settled(world, "demo")
            well = fork_server.run(["health", "demo"], env, scratch)
            assert well.returncode == 0, well.stdout
            token = fork_server.run(["token", "demo"], env, scratch)
            assert token.returncode == 0, token.stderr
            assert token.stdout.strip().count(".") == 2  # a JWT access token

            alerts = [request.json() for request in receiver.wait_for(3)]
        events = [(a["event"], a["status"], a["previous_status"]) for a in alerts]
        assert events[0] == ("status_changed", "CRIT", None)
        assert ("emergency_rotation", "OK", "CRIT") in events
        assert ("status_changed", "OK", "CRIT") in events
        crit = alerts[0]
        assert crit["credential"] == "demo"
        assert any(revoked in reason["message"] for reason in crit["reasons"])
        started = next(e for e in world.store.events("demo") if e.action == "rotation-start")
        assert started.detail["trigger"] == "emergency"
        assert revoked in started.detail["reason"]

    def test_rotate_by_name_is_an_emergency_when_the_current_is_dead(self, world: ServiceWorld) -> None:
        """`certrotor rotate NAME` on a revoked current: trigger emergency, the reason audited, no grace."""
        rotated_once(world, "demo")
        revoked = revoke_current(world, "demo")
        runtime = world.runtime()
        report = health.check_credential(runtime, world.store.get_credential("demo"))
        reason = health.emergency_reason(world.store.get_credential("demo"), report)
        assert reason is not None
        assert revoked in reason
        outcome = Rotator(runtime, owner="test").rotate("demo", RotationTrigger.EMERGENCY, reason=reason)
        assert outcome.status == "rotated"
        assert world.store.rotations("demo")[0].trigger is RotationTrigger.EMERGENCY
        assert_settled(world, "demo")


class TestFallbacks:
    """Management calls authenticate with the first of the chain that works; each link has its test."""

    def test_the_configured_certificate_comes_first(self, world: ServiceWorld) -> None:
        """A healthy credential lists with its own current certificate."""
        world.enrol("app1")
        chain = ManagementAccess(world.runtime()).candidates(world.store.get_credential("app1"))
        candidate = next(chain)
        assert candidate.certificate_id == current_id(world, "app1")
        assert codes(world, "app1")[0] is HealthStatus.OK

    def test_the_previous_certificate_heals_a_revoked_current(self, world: ServiceWorld) -> None:
        """Current revoked, previous in its grace: the rotation authenticates with the previous one."""
        rotated_once(world, "app1")
        revoke_current(world, "app1")
        status, found, fixes = codes(world, "app1")
        assert (status, found[0], fixes[0]) == (HealthStatus.CRIT, "remote_revoked", "certrotor rotate app1")
        outcome = Rotator(world.runtime(), owner="t").rotate("app1", RotationTrigger.EMERGENCY, reason="test")
        assert outcome.status == "rotated", outcome
        assert_settled(world, "app1")

    def test_another_credential_of_the_integration_heals_it(self, world: ServiceWorld) -> None:
        """No previous certificate: a sibling credential of the same integration lists and uploads."""
        combination = world.emulator.add_m2m_combination(can_manage_certificates=True)
        world.enrol("app1")
        world.enrol("sibling", combination=combination)
        revoked = revoke_current(world, "app1")
        assert codes(world, "app1")[1][0] == "remote_revoked"
        outcome = Rotator(world.runtime(), owner="t").rotate("app1", RotationTrigger.EMERGENCY, reason="test")
        assert outcome.status == "rotated", outcome
        # The sibling's certificate shares the integration: assert_settled would call it foreign.
        credential = world.store.get_credential("app1")
        current = world.store.current_version(credential)
        assert current is not None
        assert current.certificate_id != revoked
        assert world.store.open_rotation(credential) is None
        assert token_works(world, credential, current)
        assert codes(world, "app1")[0] is HealthStatus.OK

    def test_the_sealed_management_token_heals_it(self, world: ServiceWorld) -> None:
        """No certificate left that works: the sealed management token (e.g. from `certrotor login`)."""
        world.enrol("app1")
        revoke_current(world, "app1")
        world.store.set_management_token("app1", world.emulator.management_token())
        assert codes(world, "app1")[1][0] == "remote_revoked"
        outcome = Rotator(world.runtime(), owner="t").rotate("app1", RotationTrigger.EMERGENCY, reason="test")
        assert outcome.status == "rotated", outcome
        assert_settled(world, "app1")

    def test_the_bootstrap_token_heals_it(self, world: ServiceWorld) -> None:
        """Last of the chain: the bootstrap token (CERTROTOR_BOOTSTRAP_TOKEN)."""
        world.enrol("app1")
        revoke_current(world, "app1")
        settings = world.settings().model_copy(
            update={"bootstrap_token": SecretStr(world.emulator.management_token())}
        )
        runtime = Runtime(settings)
        try:
            outcome = Rotator(runtime, owner="t").rotate("app1", RotationTrigger.EMERGENCY, reason="test")
        finally:
            runtime.close()
        assert outcome.status == "rotated", outcome
        assert_settled(world, "app1")

    def test_when_nothing_works_health_names_the_fix_and_nothing_is_uploaded(
        self, world: ServiceWorld
    ) -> None:
        """Every link fails: CRIT no_management_access with `certrotor login NAME`; no upload, no rotation."""
        world.enrol("app1")
        credential = world.store.get_credential("app1")
        revoke_current(world, "app1")
        uploads = world.uploads(credential.client_id)
        status, found, fixes = codes(world, "app1")
        assert status is HealthStatus.CRIT
        assert "no_management_access" in found
        fix = fixes[found.index("no_management_access")]
        assert fix == "certrotor login app1  (or: certrotor credential set app1 --token TOKEN)"
        assert fixes[found.index("remote_refused")] == fix
        report = health.check_credential(world.runtime(), credential)
        assert health.emergency_reason(credential, report) is None
        assert world.uploads(credential.client_id) == uploads

    def test_a_revoked_manager_falls_back_to_the_managed_credentials_token(self, world: ServiceWorld) -> None:
        """auth_mode credential whose manager is revoked: the managed credential's sealed token is tried."""
        world.enrol("manager", client_id=world.new_integration())
        admin = world.runtime(token=world.admin_token)
        operations.add_credential(
            admin, world.spec("managed", auth_mode=AuthMode.CREDENTIAL, auth_credential="manager")
        )
        operations.upload(admin, "managed")
        revoke_current(world, "manager")
        assert "no_management_access" in codes(world, "managed")[1]
        world.store.set_management_token("managed", world.emulator.management_token())
        assert codes(world, "managed")[0] is HealthStatus.OK
