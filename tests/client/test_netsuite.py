"""Tests of NetSuiteClient without the emulator: local refusals, transport failures, garbage answers."""

from __future__ import annotations

import json

import pytest

from certrotor import __version__
from certrotor.client import BearerTokenAuth, NetSuiteClient, RetryPolicy, build_upload_body
from certrotor.crypto import (
    PrivateKey,
    build_self_signed_certificate,
    certificate_to_pem,
    private_key_to_pem,
)
from certrotor.errors import (
    CertificateError,
    RemoteError,
    RemoteUnavailableError,
    UploadOutcomeUnknown,
)
from certrotor.protocol.urls import NetSuiteEndpoints

from ._scripted import Answer, ScriptedServer

BOOTSTRAP = "bootstrap-token-value-that-must-never-leak-0123456789"


def certificate_pem(key: PrivateKey) -> str:
    return certificate_to_pem(build_self_signed_certificate(key, common_name="t", validity_days=30))


def client_for(base_url: str, retry: RetryPolicy, token: str = BOOTSTRAP) -> NetSuiteClient:
    return NetSuiteClient(
        NetSuiteEndpoints.for_account("1", base_url),
        client_id="client-1",
        auth=BearerTokenAuth(token),
        timeout=5,
        retry=retry,
    )


class TestUploadBody:
    def test_body_has_the_seed_shape(self, ec_key: PrivateKey) -> None:
        """The body has fileContent, role and entity, with numeric strings made numbers."""
        body = build_upload_body(certificate_pem(ec_key), entity="-5", role=1000)
        assert set(body) == {"fileContent", "role", "entity"}
        assert (body["role"], body["entity"]) == (1000, -5)
        assert str(body["fileContent"]).startswith("-----BEGIN CERTIFICATE-----")

    def test_private_key_is_never_uploaded(self, ec_key: PrivateKey) -> None:
        """A private key given as the certificate is refused before any request."""
        with pytest.raises(CertificateError, match="private key"):
            build_upload_body(private_key_to_pem(ec_key).decode(), entity=7, role=3)

    def test_bundle_with_a_key_is_refused(self, ec_key: PrivateKey) -> None:
        """A certificate bundled with its key is refused: the key would travel along."""
        bundle = certificate_pem(ec_key) + private_key_to_pem(ec_key).decode()
        with pytest.raises(CertificateError, match="private key"):
            build_upload_body(bundle, entity=7, role=3)

    def test_malformed_pem_is_refused(self) -> None:
        """Garbage in place of a certificate is a CertificateError, not a remote call."""
        with pytest.raises(CertificateError):
            build_upload_body("-----BEGIN CERTIFICATE-----\nnot base64\n", entity=7, role=3)

    def test_non_numeric_ids_are_refused(self, ec_key: PrivateKey) -> None:
        """An entity that is not a number or numeric string is refused locally."""
        with pytest.raises(ValueError, match="numeric"):
            build_upload_body(certificate_pem(ec_key), entity="bob", role=3)


class TestTransportFailures:
    def test_unreachable_list_is_unavailable_after_retries(
        self, closed_port_url: str, fast_retry: RetryPolicy
    ) -> None:
        """A refused connection on a list becomes RemoteUnavailableError naming the host."""
        with client_for(closed_port_url, fast_retry) as client, pytest.raises(
            RemoteUnavailableError
        ) as caught:
            client.list_certificates()
        assert "127.0.0.1" in caught.value.message
        assert "ConnectError" in caught.value.message

    def test_unreachable_upload_is_not_unknown(
        self, closed_port_url: str, fast_retry: RetryPolicy, ec_key: PrivateKey
    ) -> None:
        """An upload that could not even connect was never sent: unavailable, not unknown."""
        with client_for(closed_port_url, fast_retry) as client, pytest.raises(
            RemoteUnavailableError
        ) as caught:
            client.upload_certificate(certificate_pem(ec_key), entity=7, role=3)
        assert not isinstance(caught.value, UploadOutcomeUnknown)


class TestScriptedAnswers:
    def test_user_agent_and_bearer_are_sent(
        self, scripted_server: ScriptedServer, fast_retry: RetryPolicy
    ) -> None:
        """Calls carry ``User-Agent: certrotor/<version>`` and the bearer token."""
        with client_for(scripted_server.base_url, fast_retry) as client:
            assert client.list_certificates() == []
        seen = scripted_server.seen[0]
        assert seen.headers["User-Agent"] == f"certrotor/{__version__}"
        assert seen.headers["Authorization"] == f"Bearer {BOOTSTRAP}"
        assert seen.path == "/services/rest/auth/oauth2/v1/clients/client-1/certificates"

    def test_html_garbage_is_a_clear_remote_error(
        self, scripted_server: ScriptedServer, fast_retry: RetryPolicy
    ) -> None:
        """An HTML page where JSON belongs is a RemoteError naming status and content type."""
        scripted_server.script(Answer(200, b"<html>Sign in</html>", {"Content-Type": "text/html"}))
        with client_for(scripted_server.base_url, fast_retry) as client, pytest.raises(
            RemoteError, match="not JSON"
        ) as caught:
            client.list_certificates()
        assert "text/html" in caught.value.message

    def test_proxy_503_is_retried_then_unavailable(
        self, scripted_server: ScriptedServer, fast_retry: RetryPolicy
    ) -> None:
        """A lasting 503 on a GET is retried ``attempts`` times, then RemoteUnavailableError."""
        scripted_server.script(Answer(503, b"down", {"Content-Type": "text/plain"}))
        with client_for(scripted_server.base_url, fast_retry) as client, pytest.raises(
            RemoteUnavailableError, match="HTTP 503"
        ):
            client.list_certificates()
        assert len(scripted_server.seen) == fast_retry.attempts

    def test_upload_500_is_unknown_and_sent_once(
        self, scripted_server: ScriptedServer, fast_retry: RetryPolicy, ec_key: PrivateKey
    ) -> None:
        """A 500 on an upload is never retried and says the outcome is unknown."""
        body = {"type": "x", "title": "Error", "status": 500,
                "o:errorDetails": [{"detail": "Internal error.", "o:errorCode": "UNEXPECTED"}]}
        scripted_server.script(
            Answer(500, json.dumps(body).encode(), {"Content-Type": "application/json"})
        )
        with client_for(scripted_server.base_url, fast_retry) as client, pytest.raises(
            UploadOutcomeUnknown
        ) as caught:
            client.upload_certificate(certificate_pem(ec_key), entity=7, role=3)
        assert len(scripted_server.seen) == 1
        assert "Internal error." in caught.value.message
        assert "list" in caught.value.hint

    def test_secrets_stay_out_of_errors_and_reprs(
        self, scripted_server: ScriptedServer, fast_retry: RetryPolicy
    ) -> None:
        """Neither the error nor the client's or auth's repr holds the bearer token."""
        scripted_server.script(Answer(400, f"echo {BOOTSTRAP}".encode(), {"Content-Type": "text/plain"}))
        with client_for(scripted_server.base_url, fast_retry) as client, pytest.raises(
            RemoteError
        ) as caught:
            client.list_certificates()
        assert BOOTSTRAP not in str(caught.value)
        assert BOOTSTRAP not in repr(caught.value)
        assert BOOTSTRAP not in repr(client)
        assert BOOTSTRAP not in repr(BearerTokenAuth(BOOTSTRAP))
