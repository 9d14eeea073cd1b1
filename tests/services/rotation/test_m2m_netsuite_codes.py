"""M2M rotation against NetSuite as it really answers: a full integration seen in the list before
uploading, refusals with codes certrotor does not know, plain-text errors and Oracle's content type."""

from __future__ import annotations

import pytest

from certrotor.health_rules import HealthStatus
from certrotor.services import health
from certrotor.services.rotation.m2m import MAX_ACTIVE_PER_INTEGRATION
from certrotor.store import Strategy

from .._support import ServiceWorld, assert_settled, token_works
from ._support import MANUAL, rotator

UNKNOWN_CODE = "SOME_UNDOCUMENTED_LIMIT"


def fill_integration(world: ServiceWorld, *, besides: int = 1) -> None:
    """Enrol credentials of other (entity, role) combinations until the integration has no free slot."""
    for number in range(MAX_ACTIVE_PER_INTEGRATION - besides):
        world.enrol(f"other{number}", combination=world.emulator.add_m2m_combination())


def assert_healthy_on_a_new_certificate(world: ServiceWorld, name: str, old_id: str | None) -> None:
    """A new current certificate that NetSuite honours, the old one gone (others share the integration)."""
    credential = world.store.get_credential(name)
    current = world.store.current_version(credential)
    assert current is not None
    assert current.certificate_id != old_id
    assert token_works(world, credential, current)
    report = health.check_credential(world.runtime(), credential)
    assert report.status is HealthStatus.OK, report.reasons


def old_id(world: ServiceWorld, name: str) -> str | None:
    current = world.store.current_version(world.store.get_credential(name))
    return current.certificate_id if current else None


def events_of(world: ServiceWorld, name: str, action: str) -> list[dict[str, object]]:
    credential = world.store.get_credential(name)
    return [event.detail for event in world.store.events(credential) if event.action == action]


class TestDecidedFromTheList:
    def test_full_integration_makes_auto_choose_replace_before_uploading(self, world: ServiceWorld) -> None:
        """Five active certificates in the list: `auto` revokes first, and NetSuite refuses no upload."""
        world.enrol("app1", strategy=Strategy.AUTO)
        fill_integration(world)
        before = old_id(world, "app1")
        outcome = rotator(world).rotate("app1", MANUAL)
        assert outcome.status == "rotated", outcome
        assert_healthy_on_a_new_certificate(world, "app1", before)
        assert world.store.get_credential("app1").resolved_strategy is Strategy.REPLACE
        (resolved,) = events_of(world, "app1", "strategy-resolved")
        assert "5 active certificates" in str(resolved["reason"])
        assert "netsuite_error_code" not in resolved
        assert events_of(world, "app1", "upload-refused") == []
        assert world.emulator.counters().get("upload_refusals", {}) == {}

    def test_explicit_overlap_on_a_full_integration_says_what_to_do(self, world: ServiceWorld) -> None:
        """An explicit overlap with no free slot defers with the fix before uploading anything."""
        world.enrol("app1", strategy=Strategy.OVERLAP)
        fill_integration(world)
        uploads = world.uploads(world.emulator.tenant.client_id)
        outcome = rotator(world).rotate("app1", MANUAL)
        assert outcome.status == "deferred"
        assert "No free certificate slot" in outcome.message
        assert "--strategy replace" in outcome.message
        assert world.uploads(world.emulator.tenant.client_id) == uploads


class TestUnknownRefusalCodes:
    def test_auto_switches_whatever_code_a_full_integration_answers(self, world: ServiceWorld) -> None:
        """A full integration answered with an undocumented code: `auto` still switches, from the list."""
        world.emulator.set_config(limit_error_code=UNKNOWN_CODE)
        world.enrol("app1", strategy=Strategy.AUTO)
        fill_integration(world)
        before = old_id(world, "app1")
        outcome = rotator(world).rotate("app1", MANUAL)
        assert outcome.status == "rotated", outcome
        assert world.store.get_credential("app1").resolved_strategy is Strategy.REPLACE
        assert_healthy_on_a_new_certificate(world, "app1", before)
        assert events_of(world, "app1", "upload-refused") == []

    def test_refusal_is_audited_with_netsuites_code(self, world: ServiceWorld) -> None:
        """A refused upload leaves NetSuite's own code and words in the audit, and the switch names them."""
        world.emulator.set_config(max_active_per_combination=1)
        world.enrol("app1", strategy=Strategy.AUTO)
        outcome = rotator(world).rotate("app1", MANUAL)
        assert outcome.status == "rotated", outcome
        (refused,) = events_of(world, "app1", "upload-refused")
        assert refused["netsuite_error_code"] == "CERTIFICATE_LIMIT_REACHED"
        assert "already has 1 active certificate" in str(refused["netsuite_message"])
        assert refused["known_code"] is True
        (resolved,) = events_of(world, "app1", "strategy-resolved")
        assert resolved["netsuite_error_code"] == "CERTIFICATE_LIMIT_REACHED"

    def test_unknown_code_with_room_left_is_not_taken_for_a_limit(self, world: ServiceWorld) -> None:
        """An unknown refusal while the list shows a free slot and no limit code defers as it came."""
        world.emulator.set_config(max_active_per_combination=1, limit_error_code=UNKNOWN_CODE)
        world.enrol("app1", strategy=Strategy.OVERLAP)
        outcome = rotator(world).rotate("app1", MANUAL)
        assert outcome.status == "deferred"
        assert UNKNOWN_CODE in outcome.message
        assert world.store.get_credential("app1").resolved_strategy is None

    def test_limit_codes_are_settings(self, world: ServiceWorld, monkeypatch: pytest.MonkeyPatch) -> None:
        """CERTROTOR_LIMIT_ERROR_CODES names NetSuite's code: then it is known, as the default one is."""
        monkeypatch.setenv("CERTROTOR_LIMIT_ERROR_CODES", f'["{UNKNOWN_CODE}"]')
        world.emulator.set_config(max_active_per_combination=1, limit_error_code=UNKNOWN_CODE)
        world.enrol("app1", strategy=Strategy.AUTO)
        outcome = rotator(world).rotate("app1", MANUAL)
        assert outcome.status == "rotated", outcome
        (refused,) = events_of(world, "app1", "upload-refused")
        assert (refused["netsuite_error_code"], refused["known_code"]) == (UNKNOWN_CODE, True)


@pytest.fixture(params=["documented JSON", "plain text, Oracle content type"])
def answer_style(request: pytest.FixtureRequest, world: ServiceWorld) -> str:
    """The emulator answering as documented, or as clients in production report NetSuite."""
    production = request.param != "documented JSON"
    world.emulator.set_config(plain_text_errors=production, oracle_content_type=production)
    return str(request.param)


class TestRotationStory:
    def test_overlap_then_full_integration_then_replace(self, world: ServiceWorld, answer_style: str) -> None:
        """Overlap, then a full integration that `auto` resolves to replace; healthy throughout."""
        world.enrol("app1", strategy=Strategy.AUTO)
        first = rotator(world).rotate("app1", MANUAL)
        assert first.status == "rotated", first
        assert_settled(world, "app1")
        assert world.store.get_credential("app1").resolved_strategy is None
        fill_integration(world)
        before = old_id(world, "app1")
        second = rotator(world).rotate("app1", MANUAL)
        assert second.status == "rotated", second
        assert world.store.get_credential("app1").resolved_strategy is Strategy.REPLACE
        assert_healthy_on_a_new_certificate(world, "app1", before)

    def test_refusals_keep_netsuites_words(self, world: ServiceWorld, answer_style: str) -> None:
        """An upload refused in either style keeps NetSuite's sentence in the audit and the outcome."""
        world.emulator.set_config(max_active_per_combination=1)
        world.enrol("app1", strategy=Strategy.OVERLAP)
        outcome = rotator(world).rotate("app1", MANUAL)
        assert outcome.status == "deferred"
        assert "already has 1 active certificate" in outcome.message
        (refused,) = events_of(world, "app1", "upload-refused")
        assert "already has 1 active certificate" in str(refused["netsuite_message"])
