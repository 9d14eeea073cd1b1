"""RecordClient against the emulator's records RESTlet, and a RESTlet's own error shape."""

from __future__ import annotations

from collections.abc import Iterator

import httpx2
import pytest
from cryptography import x509

from certrotor.client.auth import BearerTokenAuth
from certrotor.client.records import RecordClient, record_file_upload
from certrotor.crypto import KeySpec, PrivateKey, build_self_signed_certificate, generate_private_key
from certrotor.emulator.testing import RunningEmulator
from certrotor.errors import AuthenticationError, NetSuiteAPIError, RecordNotFoundError, RemoteNotFoundError
from certrotor.protocol.urls import NetSuiteEndpoints

from ._support import SCRIPT_ID


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
        assert caught.value.status_code == 409
        assert "certrotor rotate openair" in caught.value.hint

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
