"""Tests of BearerTokenAuth and M2MAuth: caching, one refresh under concurrency, 401 retry, expiry."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
import time_machine
from pydantic import SecretStr

from certrotor.client import BearerTokenAuth, M2MAuth, NetSuiteClient, RetryPolicy
from certrotor.crypto import (
    KeySpec,
    PrivateKey,
    build_self_signed_certificate,
    certificate_to_pem,
    generate_private_key,
    private_key_to_pem,
    utcnow,
)
from certrotor.emulator.state import EmulatorState
from certrotor.emulator.testing import RunningEmulator, serve_emulator
from certrotor.errors import (
    AuthenticationError,
    CertificateError,
    ConfigError,
    InputError,
    TokenRequestError,
)

SCOPES = ["rest_webservices"]
RECORD = "employee/7"


def token_grants(emulator: RunningEmulator) -> int:
    grants: dict[str, int] = emulator.counters().get("token_grants", {})
    return grants.get("client_credentials", 0)


def jti_of(token: str) -> str:
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    jti: str = claims["jti"]
    return jti


@pytest.fixture
def certificate_id(
    emulator: RunningEmulator, admin_client: NetSuiteClient, ec_key: PrivateKey
) -> str:
    """The ID of a certificate for ``ec_key`` uploaded on the demo (entity, role)."""
    pem = certificate_to_pem(build_self_signed_certificate(ec_key, common_name="m2m", validity_days=90))
    return admin_client.upload_certificate(
        pem, entity=emulator.tenant.entity_id, role=emulator.tenant.role_id
    ).certificate_id


@pytest.fixture
def m2m(
    emulator: RunningEmulator, certificate_id: str, ec_key: PrivateKey, fast_retry: RetryPolicy
) -> Iterator[M2MAuth]:
    with M2MAuth(
        emulator.endpoints.token_url,
        emulator.tenant.client_id,
        certificate_id,
        ec_key,
        SCOPES,
        retry=fast_retry,
        timeout=10,
    ) as auth:
        yield auth


@pytest.fixture
def m2m_client(
    emulator: RunningEmulator, m2m: M2MAuth, fast_retry: RetryPolicy
) -> Iterator[NetSuiteClient]:
    with NetSuiteClient(
        emulator.endpoints,
        client_id=emulator.tenant.client_id,
        auth=m2m,
        timeout=10,
        retry=fast_retry,
    ) as client:
        yield client


class TestBearerTokenAuth:
    def test_sets_the_header_and_hides_the_token(self) -> None:
        """The token goes into ``Authorization: Bearer`` and never into repr."""
        auth = BearerTokenAuth(SecretStr(" tok-123 "))
        request = next(auth.auth_flow(httpx2.Request("GET", "http://127.0.0.1/")))
        assert request.headers["Authorization"] == "Bearer tok-123"
        assert "tok-123" not in repr(auth)

    def test_empty_token_is_refused(self) -> None:
        """An empty bootstrap token is a ConfigError saying where to get one."""
        with pytest.raises(ConfigError, match="empty"):
            BearerTokenAuth("  ")


class TestM2MAuthConstruction:
    def test_repr_names_identifiers_only(self, ec_key: PrivateKey) -> None:
        """repr shows client and certificate IDs, never key material."""
        auth = M2MAuth("http://127.0.0.1/t", "cid", "cert-1", ec_key, SCOPES)
        text = repr(auth)
        assert "cid" in text
        assert "cert-1" in text
        assert "PRIVATE" not in text
        assert private_key_to_pem(ec_key).decode().splitlines()[1] not in text

    def test_unknown_scope_is_refused(self, ec_key: PrivateKey) -> None:
        """A scope NetSuite does not know is refused before any request."""
        with pytest.raises(InputError, match="scopes"):
            M2MAuth("http://127.0.0.1/t", "cid", "cert-1", ec_key, ["admin"])

    def test_weak_key_is_refused(self) -> None:
        """An EC key on a curve NetSuite refuses is refused up front."""
        from cryptography.hazmat.primitives.asymmetric import ec

        weak = ec.generate_private_key(ec.SECP256K1())
        with pytest.raises(CertificateError, match="curve"):
            M2MAuth("http://127.0.0.1/t", "cid", "cert-1", weak, SCOPES)


class TestCaching:
    def test_one_token_serves_many_calls(
        self, emulator: RunningEmulator, m2m_client: NetSuiteClient
    ) -> None:
        """Three calls (list and protected reads) share one token grant."""
        m2m_client.list_certificates()
        m2m_client.call_protected(RECORD)
        m2m_client.call_protected(RECORD)
        assert token_grants(emulator) == 1

    def test_current_token_hands_out_the_cached_token(
        self, emulator: RunningEmulator, m2m: M2MAuth, m2m_client: NetSuiteClient
    ) -> None:
        """The broker's token is the one the flow uses, and it works on its own."""
        token = m2m.current_token()
        assert m2m.current_token() == token
        m2m_client.call_protected(RECORD)
        with NetSuiteClient(
            emulator.endpoints, client_id=emulator.tenant.client_id, auth=BearerTokenAuth(token)
        ) as plain:
            assert plain.call_protected(RECORD).status_code == 200
        assert token_grants(emulator) == 1

    def test_refreshes_shortly_before_expiry(
        self, emulator: RunningEmulator, m2m: M2MAuth, m2m_client: NetSuiteClient
    ) -> None:
        """A token is reused until 60 s before it expires, then replaced (clock moved, not waited)."""
        with time_machine.travel(utcnow(), tick=True) as clock:
            m2m_client.call_protected(RECORD)
            first = m2m.current_token()
            clock.shift(3500)  # 100 s left: still fresh
            m2m_client.call_protected(RECORD)
            assert (m2m.current_token(), token_grants(emulator)) == (first, 1)
            clock.shift(50)  # 50 s left: inside the margin
            m2m_client.call_protected(RECORD)
            assert m2m.current_token() != first
            assert token_grants(emulator) == 2

    def test_expired_token_is_refused_by_netsuite(
        self, emulator: RunningEmulator, m2m: M2MAuth
    ) -> None:
        """A token used after its hour is refused with INVALID_LOGIN, as the emulator's clock says."""
        with time_machine.travel(utcnow(), tick=True) as clock:
            token = m2m.current_token()
            clock.shift(3601)
            with NetSuiteClient(
                emulator.endpoints, client_id=emulator.tenant.client_id, auth=BearerTokenAuth(token)
            ) as stale, pytest.raises(AuthenticationError) as caught:
                stale.call_protected(RECORD)
        assert caught.value.error_code == "INVALID_LOGIN"
        assert token not in str(caught.value)


class TestConcurrency:
    def test_twenty_threads_share_one_token_request(
        self, emulator: RunningEmulator, m2m: M2MAuth, fast_retry: RetryPolicy
    ) -> None:
        """20 threads starting together with a cold cache cause exactly one token grant."""
        start = threading.Barrier(20)
        statuses: list[int] = []
        failures: list[BaseException] = []

        def work() -> None:
            try:
                with NetSuiteClient(
                    emulator.endpoints,
                    client_id=emulator.tenant.client_id,
                    auth=m2m,
                    timeout=20,
                    retry=fast_retry,
                ) as client:
                    start.wait(timeout=10)
                    statuses.append(client.call_protected(RECORD).status_code)
            except BaseException as exc:  # reported below, with the thread's own error
                failures.append(exc)

        threads = [threading.Thread(target=work) for _ in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert failures == []
        assert statuses == [200] * 20
        assert token_grants(emulator) == 1

    def test_twenty_asyncio_tasks_share_one_token_request(
        self, emulator: RunningEmulator, m2m: M2MAuth
    ) -> None:
        """20 tasks on one event loop with a cold cache cause exactly one token grant."""
        url = emulator.endpoints.record_url(RECORD)

        async def main() -> list[int]:
            async with httpx2.AsyncClient(auth=m2m, timeout=20) as client:
                responses = await asyncio.gather(*(client.get(url) for _ in range(20)))
            return [response.status_code for response in responses]

        assert asyncio.run(main()) == [200] * 20
        assert token_grants(emulator) == 1


class TestRetryOn401:
    def test_rejected_token_is_replaced_once(
        self, emulator: RunningEmulator, m2m: M2MAuth, m2m_client: NetSuiteClient
    ) -> None:
        """A cached token that NetSuite stopped accepting is replaced and the call succeeds."""
        m2m_client.call_protected(RECORD)
        stale = m2m.current_token()
        emulator.counters()  # the emulator writes its tokens behind; asking for counters writes them now
        state = EmulatorState.open(emulator.state_path)
        try:
            assert state.grants.revoke_token(jti_of(stale))
        finally:
            state.close()
        assert m2m_client.call_protected(RECORD).status_code == 200
        assert m2m.current_token() != stale
        assert token_grants(emulator) == 2

    def test_second_401_is_returned_not_looped(
        self, tmp_path: Path, emulator: RunningEmulator, m2m: M2MAuth, fast_retry: RetryPolicy
    ) -> None:
        """A resource that refuses every token is tried twice, then AuthenticationError."""
        with serve_emulator(tmp_path / "other.db") as other, NetSuiteClient(
            other.endpoints, client_id=other.tenant.client_id, auth=m2m, retry=fast_retry
        ) as elsewhere, pytest.raises(AuthenticationError) as caught:
            elsewhere.call_protected(RECORD)
        assert token_grants(emulator) == 2
        assert m2m.current_token() not in str(caught.value)
        assert "eyJ" not in str(caught.value) + repr(caught.value)


class TestTokenEndpointFailures:
    def test_token_endpoint_5xx_is_retried_by_the_client(
        self, emulator: RunningEmulator, m2m: M2MAuth
    ) -> None:
        """Two 503s from the token endpoint during a list are retried; the list then works."""
        patient = RetryPolicy(attempts=5, wait_initial=0, wait_max=0.01, wait_jitter=0, timeout=20)
        emulator.set_faults(error_rate=1.0, max_faults=2)
        with NetSuiteClient(
            emulator.endpoints, client_id=emulator.tenant.client_id, auth=m2m, retry=patient
        ) as client:
            assert len(client.list_certificates()) == 1
        assert token_grants(emulator) == 1

    def test_current_token_survives_429(self, emulator: RunningEmulator, m2m: M2MAuth) -> None:
        """The broker retries a rate-limited token request (Retry-After: 0)."""
        emulator.set_faults(rate_limit_rate=1.0, retry_after_seconds=0, max_faults=2)
        assert m2m.current_token()
        assert emulator.counters()["faults"] == {"rate_limit": 2}

    def test_upload_is_retried_when_only_the_token_request_failed(
        self, emulator: RunningEmulator, m2m_client: NetSuiteClient
    ) -> None:
        """A dropped token request means the upload never left: it is retried and stored once."""
        emulator.set_faults(drop_rate=1.0, max_faults=1)
        key = generate_private_key(KeySpec.EC_P256)
        pem = certificate_to_pem(build_self_signed_certificate(key, common_name="n", validity_days=30))
        m2m_client.upload_certificate(
            pem, entity=emulator.tenant.entity_id, role=emulator.tenant.role_id
        )
        counters = emulator.counters()
        assert counters["faults"] == {"drop": 1}
        assert counters["uploads_total"] == 2  # the fixture's upload and this one

    def test_refused_certificate_is_token_request_error_without_secrets(
        self, emulator: RunningEmulator, admin_client: NetSuiteClient, m2m: M2MAuth,
        certificate_id: str,
    ) -> None:
        """After a revoke, the flow's token request fails with invalid_client and no secret."""
        admin_client.revoke_certificate(certificate_id)
        with NetSuiteClient(
            emulator.endpoints, client_id=emulator.tenant.client_id, auth=m2m
        ) as client, pytest.raises(TokenRequestError) as caught:
            client.list_certificates()
        assert caught.value.error == "invalid_client"
        assert "eyJ" not in str(caught.value) + repr(caught.value)
        assert "PRIVATE KEY" not in str(caught.value)
