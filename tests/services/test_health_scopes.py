"""Health with --probe when NetSuite's integration record refuses the credential's scopes or the grant."""

from __future__ import annotations

from certrotor.health_rules import HealthReport, HealthStatus
from certrotor.services import health

from ._support import ServiceWorld


def probe(world: ServiceWorld, name: str) -> HealthReport:
    runtime = world.runtime(token=world.admin_token)
    return health.check_credential(runtime, world.store.get_credential(name), probe=True)


class TestIntegrationRefusals:
    def test_refused_scope_names_the_credential_setting(self, world: ServiceWorld) -> None:
        """Only REST web services ticked on the integration: CRIT, `credential set --scopes` the fix."""
        world.enrol("app1")
        world.emulator.set_integration(scopes=["rest_webservices"])
        report = probe(world, "app1")
        assert report.status is HealthStatus.CRIT
        reason = next(reason for reason in report.reasons if reason.code == "probe_failed")
        assert "invalid_scope" in reason.message
        assert (
            "The integration record does not allow the scopes restlets,rest_webservices: run "
            "`certrotor credential set app1 --scopes <the ones ticked on it>`" in reason.message
        )

    def test_credential_with_the_ticked_scope_works(self, world: ServiceWorld) -> None:
        """With the credential's scopes narrowed to the ticked one, the probe obtains a token again."""
        world.enrol("app1")
        world.emulator.set_integration(scopes=["rest_webservices"])
        world.store.update_credential("app1", scopes=["rest_webservices"])
        report = probe(world, "app1")
        assert [reason.code for reason in report.reasons] == []
        assert report.status is HealthStatus.OK

    def test_grant_not_enabled_says_which_box(self, world: ServiceWorld) -> None:
        """An integration without the M2M grant: the fix names the box to tick."""
        world.enrol("app1")
        world.emulator.set_integration(client_credentials_enabled=False)
        reason = next(reason for reason in probe(world, "app1").reasons if reason.code == "probe_failed")
        assert "unauthorized_client" in reason.message
        assert (
            "Tick 'Client Credentials (Machine to Machine) Grant' on the integration record" in reason.message
        )
