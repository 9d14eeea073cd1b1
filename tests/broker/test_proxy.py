"""``/v1/proxy/NAME/...`` end to end: the emulator's resources reached, answers streamed, 401 retried once."""

from __future__ import annotations

import datetime as dt
import hashlib

import httpx2
import pytest
import time_machine

from services._support import ServiceWorld

from ._support import SUITEQL_PATH, LargeAnswer, RunningBroker, token_grants


class TestProxy:
    def test_reaches_the_protected_resource_as_the_credential(
        self, world: ServiceWorld, broker: RunningBroker
    ) -> None:
        """The application sends no NetSuite credentials; NetSuite answers as to the credential's token."""
        key = broker.add_key("ledger", "billing")
        token = broker.token(key, "billing")["access_token"]
        direct = httpx2.get(
            world.emulator.base_url + "/services/rest/record/v1/employee/1?expandSubResources=true",
            headers={"authorization": f"Bearer {token}", "accept": "application/json"},
            timeout=30,
        )
        proxied = broker.http.get(
            broker.url + "/v1/proxy/billing/services/rest/record/v1/employee/1?expandSubResources=true",
            headers={"authorization": f"Bearer {key}", "accept": "application/json"},
        )
        assert direct.status_code == 200, direct.text
        assert proxied.status_code == 200, proxied.text
        assert proxied.json() == direct.json()
        assert proxied.headers["content-type"] == direct.headers["content-type"]

    def test_streams_a_large_answer(
        self, world: ServiceWorld, broker: RunningBroker, large_answer: LargeAnswer
    ) -> None:
        """A 9 MB SuiteQL answer arrives whole, and its first bytes arrive before NetSuite sent the rest."""
        key = broker.add_key("crm", "sales")
        received = hashlib.sha256()
        size = 0
        with broker.http.stream(
            "POST",
            broker.url + "/v1/proxy/sales" + SUITEQL_PATH + "?limit=1000",
            json={"q": "SELECT id, companyname FROM customer"},
            headers={"authorization": f"Bearer {key}", "prefer": "transient"},
        ) as response:
            assert response.status_code == 200
            for chunk in response.iter_raw():
                if size == 0:
                    large_answer.release.set()  # only now may the emulator send the rest
                received.update(chunk)
                size += len(chunk)
        expected = large_answer.expected_body()
        assert size == len(expected) > 9_000_000
        assert received.hexdigest() == hashlib.sha256(expected).hexdigest()
        assert not large_answer.gate_timed_out

    def test_a_401_refreshes_the_token_once_and_retries_once(
        self, world: ServiceWorld, broker: RunningBroker
    ) -> None:
        """NetSuite refuses the cached token: one token request, the call sent again, 200.

        The wall clock jumps two hours (a host resumed from suspend): NetSuite, on that clock, finds
        the cached token expired, while the broker's cache runs on the monotonic clock and still
        hands it out; the 401 is what tells the broker.
        """
        key = broker.add_key("crm", "sales")
        stale = broker.token(key, "sales")["access_token"]
        later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
        with time_machine.travel(later, tick=True):
            before = token_grants(world.emulator)
            response = broker.http.get(
                broker.url + "/v1/proxy/sales/services/rest/record/v1/employee/1",
                headers={"authorization": f"Bearer {key}"},
            )
            assert response.status_code == 200, response.text
            assert token_grants(world.emulator) == before + 1
            assert broker.metric("certrotor_broker_proxy_retries_total", credential="sales") == 1
            assert broker.token(key, "sales")["access_token"] != stale

    @pytest.mark.parametrize(
        ("path", "fragment"),
        [
            ("services/rest/auth/oauth2/v1/clients/x/certificates", "OAuth 2.0 endpoints"),
            ("app/site/hosting/scriptlet.nl", "only REST web services"),
            ("services/rest/record/v1/%2E%2E/%2E%2E/auth/oauth2/v1/token", "NetSuite API path"),
        ],
    )
    def test_paths_outside_the_apis_are_refused(
        self, world: ServiceWorld, broker: RunningBroker, path: str, fragment: str
    ) -> None:
        """Token and certificate endpoints, and anything that is not an API, are not forwarded."""
        key = broker.add_key("crm", "sales")
        before = token_grants(world.emulator)
        response = broker.http.get(
            f"{broker.url}/v1/proxy/sales/{path}", headers={"authorization": f"Bearer {key}"}
        )
        assert response.status_code == 400, response.text
        assert response.json()["error"] == "invalid_path"
        assert fragment in response.json()["message"]
        assert token_grants(world.emulator) == before

    def test_the_proxy_checks_key_and_grant(self, world: ServiceWorld, broker: RunningBroker) -> None:
        """No key: 401; a credential the key does not reach: 403; nothing is forwarded."""
        key = broker.add_key("crm", "sales")
        path = "/v1/proxy/billing/services/rest/record/v1/employee/1"
        assert broker.http.get(broker.url + path).status_code == 401
        refused = broker.http.get(broker.url + path, headers={"authorization": f"Bearer {key}"})
        assert refused.status_code == 403
        assert refused.json()["error"] == "not_granted"
