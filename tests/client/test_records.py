"""RecordClient against the emulator's records RESTlet, its retries beside NetSuiteClient's, and a
RESTlet's own error shape."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack

import httpx2
import pytest
from cryptography import x509
from stamina.instrumentation import RetryDetails, set_on_retry_hooks

from certrotor.client import NetSuiteClient, RetryPolicy
from certrotor.client.auth import BearerTokenAuth, M2MAuth
from certrotor.client.records import RecordClient, record_file_upload
from certrotor.crypto import (
    KeySpec,
    PrivateKey,
    build_self_signed_certificate,
    certificate_to_pem,
    generate_private_key,
)
from certrotor.emulator.testing import RunningEmulator
from certrotor.errors import (
    AuthenticationError,
    NetSuiteAPIError,
    RecordNotFoundError,
    RemoteNotFoundError,
    RemoteUnavailableError,
)
from certrotor.protocol.urls import NetSuiteEndpoints
from support.records import SCRIPT_ID


@pytest.fixture
def client(emulator: RunningEmulator) -> Iterator[RecordClient]:
    with RecordClient(
        emulator.endpoints, auth=BearerTokenAuth(emulator.tenant.admin_token), credential_name="openair"
    ) as opened:
        yield opened


def _key_and_certificate(spec: KeySpec = KeySpec.EC_P256) -> tuple[PrivateKey, x509.Certificate]:
    key = generate_private_key(spec)
    return key, build_self_signed_certificate(key, common_name="client test", validity_days=30)


class TestRecordClient:
    def test_get_placeholder(self, client: RecordClient) -> None:
        """The bundle's record is read by its short or full ID."""
        assert client.get("_oa_realtime").is_placeholder
        assert client.get(SCRIPT_ID).script_id == SCRIPT_ID

    @pytest.mark.parametrize("file_format", ["pem", "pkcs12"])
    def test_replace_file(self, client: RecordClient, file_format: str) -> None:
        """The key and certificate go into the record as PEM or password-protected PKCS#12."""
        key, certificate = _key_and_certificate()
        info = client.replace_file(SCRIPT_ID, key, certificate, file_format=file_format)  # type: ignore[arg-type]
        assert info.file_format == file_format
        assert info.subject == "CN=client test"
        assert not info.is_placeholder
        assert client.get(SCRIPT_ID).fingerprint_sha256 == info.fingerprint_sha256

    def test_missing_record(self, client: RecordClient) -> None:
        """A deleted record raises RecordNotFoundError with the seed's words and the recreate command."""
        client.delete(SCRIPT_ID)
        with pytest.raises(RecordNotFoundError) as caught:
            client.get(SCRIPT_ID)
        error = caught.value
        assert isinstance(error, RemoteNotFoundError)
        assert error.message == 'Certificate "custcertificate_oa_realtime" not found'
        assert "certrotor record recreate openair" in error.hint
        key, certificate = _key_and_certificate()
        with pytest.raises(RecordNotFoundError):
            client.replace_file(SCRIPT_ID, key, certificate)
        with pytest.raises(RecordNotFoundError):
            client.delete(SCRIPT_ID)

    def test_create_placeholder_and_existing(self, client: RecordClient) -> None:
        """create() holds the placeholder by default; creating an existing record says what to do."""
        client.delete(SCRIPT_ID)
        created = client.create("_oa_realtime", "OpenAir real-time")
        assert created.is_placeholder
        assert [info.script_id for info in client.list_records()] == [SCRIPT_ID]
        with pytest.raises(NetSuiteAPIError) as caught:
            client.create("_oa_realtime", "OpenAir real-time")
        # The RESTlet (and the emulator) cannot answer 409: HTTP 400 with its code and words.
        assert (caught.value.status_code, caught.value.error_code) == (400, "INVALID_CONTENT")
        assert caught.value.message == (
            'Certificate "custcertificate_oa_realtime" already exists; nothing was changed.'
        )
        assert "certrotor rotate openair" in caught.value.hint

    @pytest.mark.parametrize("deploy", ["1", "customdeploy_certrotor_certificates"])
    def test_deployment_is_a_setting(self, emulator: RunningEmulator, deploy: str) -> None:
        """The RESTlet's deployment is reached by its number or its script ID (the default)."""
        auth = BearerTokenAuth(emulator.tenant.admin_token)
        with RecordClient(emulator.endpoints, auth=auth, deploy=deploy) as client:
            assert client.get(SCRIPT_ID).is_placeholder

    def test_wrong_deployment_keeps_netsuites_words(self, emulator: RunningEmulator) -> None:
        """A RESTlet deployed elsewhere is refused with NetSuite's code and text, not a crash."""
        auth = BearerTokenAuth(emulator.tenant.admin_token)
        with (
            RecordClient(emulator.endpoints, auth=auth, script="customscript_elsewhere") as client,
            pytest.raises(NetSuiteAPIError) as caught,
        ):
            client.get(SCRIPT_ID)
        assert caught.value.error_code == "SSS_INVALID_SCRIPTLET_ID"
        assert "customscript_elsewhere" in caught.value.message

    def test_bad_token(self, emulator: RunningEmulator) -> None:
        """A forged token raises AuthenticationError."""
        with (
            RecordClient(emulator.endpoints, auth=BearerTokenAuth("forged")) as client,
            pytest.raises(AuthenticationError),
        ):
            client.get(SCRIPT_ID)

    def test_upload_body_hides_the_key(self) -> None:
        """The upload body carries the key, but its repr never shows it."""
        key, certificate = _key_and_certificate()
        body = record_file_upload(SCRIPT_ID, key, certificate)
        assert "PRIVATE KEY" in body.file_content
        assert "PRIVATE KEY" not in repr(body)
        p12 = record_file_upload(SCRIPT_ID, key, certificate, file_format="pkcs12")
        assert p12.password is not None
        assert p12.password not in repr(p12)


FAST = RetryPolicy(attempts=3, wait_initial=0.0, wait_max=0.0, wait_jitter=0.0, timeout=20)
"""Real retries without waiting."""
PATIENT = RetryPolicy(attempts=3, wait_initial=30.0, wait_max=30.0, wait_jitter=0.0, timeout=60)
"""A 30-second backoff: a test that ends at once shows that the server's ``Retry-After: 0`` ruled."""

Call = Callable[[], object]
Reader = Callable[[RetryPolicy], Call]


@pytest.fixture
def scheduled_waits() -> Iterator[list[float]]:
    """The waits stamina schedules between attempts (what it would sleep, not wall time)."""
    waits: list[float] = []

    def remember(details: RetryDetails) -> None:
        waits.append(details.wait_for)

    set_on_retry_hooks([remember])
    try:
        yield waits
    finally:
        set_on_retry_hooks(None)


@pytest.fixture
def m2m_auth(emulator: RunningEmulator) -> Iterator[M2MAuth]:
    """M2M tokens for a certificate of the demo (entity, role), which may manage certificate records."""
    key = generate_private_key(KeySpec.EC_P256)
    pem = certificate_to_pem(build_self_signed_certificate(key, common_name="m2m", validity_days=30))
    admin_auth = BearerTokenAuth(emulator.tenant.admin_token)
    with NetSuiteClient(emulator.endpoints, client_id=emulator.tenant.client_id, auth=admin_auth) as admin:
        certificate_id = admin.upload_certificate(
            pem, entity=emulator.tenant.entity_id, role=emulator.tenant.role_id
        ).certificate_id
    with M2MAuth(
        emulator.endpoints.token_url,
        emulator.tenant.client_id,
        certificate_id,
        key,
        ["restlets", "rest_webservices"],
        retry=RetryPolicy.never(),
    ) as auth:
        yield auth


@pytest.fixture(params=["m2m client", "record client"])
def reader(request: pytest.FixtureRequest, emulator: RunningEmulator, m2m_auth: M2MAuth) -> Iterator[Reader]:
    """A safe read by either client under a given policy, authenticated by M2M tokens on first use."""
    with ExitStack() as opened:

        def read_with(policy: RetryPolicy) -> Call:
            if request.param == "m2m client":
                m2m_client = opened.enter_context(
                    NetSuiteClient(
                        emulator.endpoints, client_id=emulator.tenant.client_id, auth=m2m_auth, retry=policy
                    )
                )
                return m2m_client.list_certificates
            record_client = opened.enter_context(
                RecordClient(emulator.endpoints, auth=m2m_auth, retry=policy)
            )
            return lambda: record_client.get(SCRIPT_ID)

        yield read_with


def _token_grants(emulator: RunningEmulator) -> int:
    grants: dict[str, int] = emulator.counters().get("token_grants", {})
    return grants.get("client_credentials", 0)


class TestRetriesLikeTheM2MClient:
    def test_unavailable_token_endpoint_is_retried(self, emulator: RunningEmulator, reader: Reader) -> None:
        """Two 503s from the token endpoint while authenticating a read are retried; the read works."""
        emulator.set_faults(error_rate=1.0, max_faults=2)
        assert reader(FAST)()
        assert emulator.counters()["faults_total"] == 2
        assert _token_grants(emulator) == 1

    def test_rate_limited_token_endpoint_is_retried_after_its_retry_after(
        self, emulator: RunningEmulator, reader: Reader, scheduled_waits: list[float]
    ) -> None:
        """Two 429s with ``Retry-After: 0`` are waited out for 0 seconds, not the 30-second backoff."""
        emulator.set_faults(rate_limit_rate=1.0, retry_after_seconds=0, max_faults=2)
        assert reader(PATIENT)()
        assert emulator.counters()["faults"] == {"rate_limit": 2}
        assert scheduled_waits == [0.0, 0.0]

    def test_lasting_unavailability_is_tried_attempts_times(
        self, emulator: RunningEmulator, reader: Reader
    ) -> None:
        """A token endpoint that keeps failing is asked ``attempts`` times, then RemoteUnavailableError."""
        emulator.set_faults(error_rate=1.0, max_faults=10)
        with pytest.raises(RemoteUnavailableError):
            reader(FAST)()
        assert emulator.counters()["faults_total"] == FAST.attempts
        assert _token_grants(emulator) == 0

    def test_create_is_retried_while_its_token_request_fails(
        self, emulator: RunningEmulator, m2m_auth: M2MAuth
    ) -> None:
        """A record create whose token request was rate limited never left: it is retried and stored once."""
        with RecordClient(emulator.endpoints, auth=m2m_auth, retry=FAST) as client:
            client.delete(SCRIPT_ID)
            m2m_auth.invalidate()
            emulator.set_faults(rate_limit_rate=1.0, retry_after_seconds=0, max_faults=1)
            assert client.create("_oa_realtime", "OpenAir real-time").is_placeholder
            assert [info.script_id for info in client.list_records()] == [SCRIPT_ID]
        assert emulator.counters()["faults"] == {"rate_limit": 1}


def _restlet_answering(status: int, body: object) -> RecordClient:
    def answer(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(status, json=body)

    return RecordClient(
        NetSuiteEndpoints.for_account("1234567"), auth=None, transport=httpx2.MockTransport(answer)
    )


class TestRestletErrorShape:
    def test_not_found_code(self) -> None:
        """A RESTlet's {"error": {"code", "message"}} for a missing record is RecordNotFoundError."""
        body = {"error": {"code": "RECORD_NOT_FOUND", "message": "gone"}}
        with _restlet_answering(400, body) as client, pytest.raises(RecordNotFoundError) as caught:
            client.get(SCRIPT_ID)
        assert caught.value.message == 'Certificate "custcertificate_oa_realtime" not found'

    def test_not_found_text(self) -> None:
        """The seed's words in a RESTlet error are recognised whatever the code."""
        body = {
            "error": {"code": "SSS_ERROR", "message": 'Certificate "custcertificate_oa_realtime" not found'}
        }
        with _restlet_answering(400, body) as client, pytest.raises(RecordNotFoundError):
            client.get(SCRIPT_ID)

    def test_other_error(self) -> None:
        """Other RESTlet errors keep NetSuite's code and message."""
        body = {"error": {"code": "SSS_MISSING_REQD_ARGUMENT", "message": "file is required"}}
        with _restlet_answering(400, body) as client, pytest.raises(NetSuiteAPIError) as caught:
            client.get(SCRIPT_ID)
        assert caught.value.error_code == "SSS_MISSING_REQD_ARGUMENT"
        assert "file is required" in caught.value.message
        assert not isinstance(caught.value, RecordNotFoundError)


@pytest.fixture(params=["json", "plain text and Oracle's content type"])
def answer_style(request: pytest.FixtureRequest, emulator: RunningEmulator) -> str:
    """The emulator answering as documented (JSON), or as clients in production report NetSuite."""
    production = request.param != "json"
    emulator.set_config(plain_text_errors=production, oracle_content_type=production)
    return str(request.param)


class TestDefensiveParsing:
    def test_reads_and_writes_in_both_styles(self, client: RecordClient, answer_style: str) -> None:
        """Successes parse whatever their JSON content type is called."""
        key, certificate = _key_and_certificate()
        assert client.replace_file(SCRIPT_ID, key, certificate).fingerprint_sha256
        assert [info.script_id for info in client.list_records()] == [SCRIPT_ID]

    def test_missing_record_in_both_styles(self, client: RecordClient, answer_style: str) -> None:
        """A missing record is RecordNotFoundError with the seed's words, from JSON or plain text."""
        client.delete(SCRIPT_ID)
        with pytest.raises(RecordNotFoundError) as caught:
            client.get(SCRIPT_ID)
        assert caught.value.message == 'Certificate "custcertificate_oa_realtime" not found'

    def test_existing_record_in_both_styles(self, client: RecordClient, answer_style: str) -> None:
        """Creating an existing record is recognised from its text alone (plain text has no code)."""
        with pytest.raises(NetSuiteAPIError, match="already exists; nothing was changed") as caught:
            client.create("_oa_realtime", "OpenAir real-time")
        assert caught.value.status_code == 400

    def test_plain_text_refusal_keeps_netsuites_text(self, emulator: RunningEmulator) -> None:
        """A plain-text 401 is AuthenticationError carrying NetSuite's own sentence."""
        emulator.set_config(plain_text_errors=True)
        with (
            RecordClient(emulator.endpoints, auth=BearerTokenAuth("forged")) as client,
            pytest.raises(AuthenticationError) as caught,
        ):
            client.get(SCRIPT_ID)
        assert "Invalid login attempt." in caught.value.message
