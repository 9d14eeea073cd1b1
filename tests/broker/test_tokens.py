"""``POST /v1/token`` end to end: keys, cache, single flight, rotations, refusals, usage and metrics."""

from __future__ import annotations

import asyncio

import httpx2
import pytest

from certrotor.broker.app import BrokerSettings
from certrotor.services.rotation import Rotator
from certrotor.store import RotationTrigger
from services._support import ServiceWorld

from ._support import RunningBroker, running_test_broker, token_claims, token_grants


def _protected_status(world: ServiceWorld, token: str) -> int:
    url = world.emulator.base_url + "/services/rest/record/v1/employee/1"
    return httpx2.get(url, headers={"authorization": f"Bearer {token}"}, timeout=30).status_code


class TestIssuing:
    def test_two_applications_get_tokens_of_their_own_credentials(
        self, world: ServiceWorld, broker: RunningBroker
    ) -> None:
        """Each key gets tokens of its credential, from that credential's current certificate."""
        sales_key = broker.add_key("crm", "sales")
        billing_key = broker.add_key("ledger", "billing")
        assert sales_key != billing_key
        sales = broker.token(sales_key, "sales")
        billing = broker.token(billing_key, "billing")
        for name, answer in (("sales", sales), ("billing", billing)):
            current = world.store.current_version(name)
            assert current is not None
            assert answer["certificate_id"] == current.certificate_id
            assert answer["token_type"] == "Bearer"
            assert 0 < answer["expires_in"] <= 3600
            client_id = world.store.get_credential(name).client_id
            assert client_id in token_claims(answer["access_token"])["aud"]
            assert _protected_status(world, answer["access_token"]) == 200

    def test_tokens_come_from_the_cache(self, world: ServiceWorld, broker: RunningBroker) -> None:
        """Many calls by two applications cause one token request per credential at NetSuite."""
        crm = broker.add_key("crm", "sales")
        reporting = broker.add_key("reporting", "sales")
        before = token_grants(world.emulator)
        answers = [broker.token(key, "sales") for _ in range(10) for key in (crm, reporting)]
        assert len({answer["access_token"] for answer in answers}) == 1
        assert token_grants(world.emulator) == before + 1

    def test_one_token_request_for_a_hundred_concurrent_callers(
        self, world: ServiceWorld, broker: RunningBroker
    ) -> None:
        """100 callers at once with an empty cache: one token request, one token for all."""
        key = broker.add_key("crm", "sales")
        before = token_grants(world.emulator)

        async def callers() -> list[httpx2.Response]:
            limits = httpx2.Limits(max_connections=100, max_keepalive_connections=100)
            async with httpx2.AsyncClient(timeout=60, limits=limits) as client:
                return await asyncio.gather(
                    *(
                        client.post(
                            broker.url + "/v1/token",
                            json={"credential": "sales"},
                            headers={"authorization": f"Bearer {key}"},
                        )
                        for _ in range(100)
                    )
                )

        responses = asyncio.run(callers())
        assert [response.status_code for response in responses] == [200] * 100
        assert len({response.json()["access_token"] for response in responses}) == 1
        assert token_grants(world.emulator) == before + 1
        assert (
            broker.metric("certrotor_broker_netsuite_token_requests_total", credential="sales", outcome="ok")
            == 1
        )

    def test_a_rotation_switches_to_the_new_certificate(
        self, world: ServiceWorld, broker: RunningBroker
    ) -> None:
        """After a rotation activates a new certificate, the next token comes from it."""
        key = broker.add_key("crm", "sales")
        before = broker.token(key, "sales")
        outcome = Rotator(world.runtime(), owner="test:broker").rotate("sales", RotationTrigger.MANUAL)
        assert outcome.status == "rotated", outcome.message
        after = broker.token(key, "sales")
        assert after["certificate_id"] == outcome.new_certificate_id != before["certificate_id"]
        assert after["access_token"] != before["access_token"]
        assert _protected_status(world, after["access_token"]) == 200
        assert broker.token(key, "sales")["access_token"] == after["access_token"]

    def test_a_scope_subset_is_cached_apart(self, world: ServiceWorld, broker: RunningBroker) -> None:
        """A request for fewer scopes gets a token with just those; the full set keeps its own."""
        key = broker.add_key("crm", "sales")
        full = broker.token(key, "sales")
        narrow = broker.post_token(key, "sales", scopes=["rest_webservices"]).json()
        assert token_claims(narrow["access_token"])["scope"] == ["rest_webservices"]
        assert narrow["access_token"] != full["access_token"]
        assert broker.token(key, "sales")["access_token"] == full["access_token"]

    def test_invalidate_makes_the_next_call_fetch_a_fresh_token(
        self, world: ServiceWorld, broker: RunningBroker
    ) -> None:
        """A token reported as refused is dropped; an older token reported late drops nothing."""
        key = broker.add_key("crm", "sales")
        first = broker.token(key, "sales")["access_token"]
        headers = {"authorization": f"Bearer {key}"}
        dropped = broker.http.post(
            broker.url + "/v1/token/invalidate",
            json={"credential": "sales", "access_token": first},
            headers=headers,
        )
        assert dropped.json() == {"invalidated": 1}
        before = token_grants(world.emulator)
        second = broker.token(key, "sales")["access_token"]
        assert second != first
        assert token_grants(world.emulator) == before + 1
        late = broker.http.post(
            broker.url + "/v1/token/invalidate",
            json={"credential": "sales", "access_token": first},
            headers=headers,
        )
        assert late.json() == {"invalidated": 0}
        assert broker.token(key, "sales")["access_token"] == second


class TestRefusals:
    def test_no_key_is_refused(self, broker: RunningBroker) -> None:
        """Without a key: 401 JSON saying how to send one."""
        response = broker.post_token(None, "sales")
        assert response.status_code == 401
        assert response.json()["error"] == "missing_key"
        assert "Authorization: Bearer KEY" in response.json()["message"]
        assert response.headers["www-authenticate"].startswith("Bearer")

    def test_a_wrong_key_is_refused(self, broker: RunningBroker) -> None:
        """An unknown key: 401 invalid_key."""
        broker.add_key("crm", "sales")
        response = broker.post_token("crk_" + "A" * 43, "sales")
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_key"

    def test_a_revoked_key_is_refused_at_once(self, world: ServiceWorld, broker: RunningBroker) -> None:
        """A key revoked in the store is refused by the very next request."""
        key = broker.add_key("crm", "sales")
        broker.token(key, "sales")
        world.store.revoke_broker_key("crm")
        response = broker.post_token(key, "sales")
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_key"

    def test_a_credential_not_granted_is_refused(self, world: ServiceWorld, broker: RunningBroker) -> None:
        """A key reaches only its credentials: 403 for another, even one that does not exist."""
        before = token_grants(world.emulator)
        key = broker.add_key("crm", "sales")
        for other in ("billing", "nonexistent"):
            response = broker.post_token(key, other)
            assert response.status_code == 403
            assert response.json()["error"] == "not_granted"
            assert "crm" in response.json()["message"]
        assert token_grants(world.emulator) == before

    @pytest.mark.parametrize(
        ("body", "fragment"),
        [
            (b"not json", "must be JSON"),
            (b"[1, 2]", "JSON object"),
            (b'{"credential": 7}', "Name the credential"),
            (b'{"credential": "sales", "scopes": ["suite_analytics", "cooking"]}', "scope"),
        ],
    )
    def test_bad_bodies_are_refused_with_a_message(
        self, broker: RunningBroker, body: bytes, fragment: str
    ) -> None:
        """Malformed requests get 400 JSON naming the problem."""
        key = broker.add_key("crm", "sales")
        response = broker.http.post(
            broker.url + "/v1/token", content=body, headers={"authorization": f"Bearer {key}"}
        )
        assert response.status_code == 400, response.text
        assert response.json()["error"] == "invalid_request"
        assert fragment in response.json()["message"]

    def test_requests_beyond_the_rate_are_refused(self, world: ServiceWorld) -> None:
        """A key over its rate gets 429 JSON with Retry-After; another key is unaffected."""
        with running_test_broker(world.runtime(), BrokerSettings(rate_limit=0.5, burst=3)) as broker:
            busy = broker.add_key("busy", "sales")
            calm = broker.add_key("calm", "sales")
            statuses = [broker.post_token(busy, "sales").status_code for _ in range(4)]
            assert statuses == [200, 200, 200, 429]
            refused = broker.post_token(busy, "sales")
            assert refused.json()["error"] == "rate_limited"
            assert int(refused.headers["retry-after"]) >= 1
            assert broker.post_token(calm, "sales").status_code == 200


class TestUsage:
    def test_counts_go_to_the_audit_and_the_metrics_never_the_key(
        self, world: ServiceWorld, caplog: pytest.LogCaptureFixture
    ) -> None:
        """One audit event per application and credential with its count; metrics agree; no key logged."""
        with running_test_broker(world.runtime()) as broker:
            crm = broker.add_key("crm", "sales", "billing")
            ledger = broker.add_key("ledger", "billing")
            for _ in range(3):
                broker.token(crm, "sales")
            broker.token(crm, "billing")
            for _ in range(2):
                broker.token(ledger, "billing")
            broker.post_token("crk_" + "B" * 43, "sales")
            text = broker.http.get(broker.url + "/metrics").text
            assert 'certrotor_broker_tokens_issued_total{app="crm",credential="sales"} 3.0' in text
            assert 'certrotor_broker_refusals_total{reason="invalid_key"} 1.0' in text
            keys = (crm, ledger)
        # Stopping the broker writes the counts of the last period.
        issued = {
            (event.credential_name, event.detail["app"]): event.detail["issued"]
            for event in world.store.events(limit=50)
            if event.action == "broker.tokens_issued"
        }
        assert issued == {("sales", "crm"): 3, ("billing", "crm"): 1, ("billing", "ledger"): 2}
        for key in keys:
            assert key not in caplog.text
            assert all(key not in str(event.detail) for event in world.store.events(limit=50))
