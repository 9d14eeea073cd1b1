"""Tests of NetSuiteClient: local refusals, garbage answers, and the real emulator end to end."""

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
from certrotor.emulator.testing import RunningEmulator
from certrotor.errors import (
    AuthenticationError,
    CertificateError,
    NetSuiteAPIError,
    PermissionDeniedError,
    RemoteError,
    RemoteNotFoundError,
    RemoteUnavailableError,
    TokenRequestError,
    UploadOutcomeUnknown,
)
from certrotor.protocol.urls import NetSuiteEndpoints

from ._scripted import Answer, ScriptedServer

BOOTSTRAP = "bootstrap-token-value-that-must-never-leak-0123456789"


def certificate_pem(key: PrivateKey) -> str:
    return certificate_to_pem(build_self_signed_certificate(key, common_name="t", validity_days=30))


def client_for(
    base_url: str, retry: RetryPolicy, token: str = BOOTSTRAP, client_id: str = "client-1"
) -> NetSuiteClient:
    return NetSuiteClient(
        NetSuiteEndpoints.for_account("1", base_url),
        client_id=client_id,
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


def upload_new(client: NetSuiteClient, emulator: RunningEmulator, key: PrivateKey) -> str:
    uploaded = client.upload_certificate(
        certificate_pem(key), entity=emulator.tenant.entity_id, role=emulator.tenant.role_id
    )
    return uploaded.certificate_id


class TestAgainstEmulator:
    def test_upload_list_token_protected_call_revoke(
        self, emulator: RunningEmulator, admin_client: NetSuiteClient, ec_key: PrivateKey
    ) -> None:
        """The seed's whole walk: upload, list, token, protected call, revoke, token refused."""
        tenant = emulator.tenant
        uploaded = admin_client.upload_certificate(
            certificate_pem(ec_key), entity=str(tenant.entity_id), role=tenant.role_id
        )
        assert len(uploaded.certificate_id) == 43
        assert (uploaded.entity_role_id.ent, uploaded.entity_role_id.rol) == (
            tenant.entity_id,
            tenant.role_id,
        )
        assert uploaded.algorithm == "EC"

        listed = {item.certificate_id: item for item in admin_client.list_certificates()}
        assert listed[uploaded.certificate_id].revoked is False
        assert listed[uploaded.certificate_id].application.application_id == tenant.application_id

        token = admin_client.request_token(
            ec_key, certificate_id=uploaded.certificate_id, scopes=["rest_webservices"]
        )
        assert (token.expires_in, token.token_type.lower()) == (3600, "bearer")
        with NetSuiteClient(
            emulator.endpoints, client_id=tenant.client_id, auth=BearerTokenAuth(token.access_token)
        ) as as_m2m:
            proof = as_m2m.call_protected(f"employee/{tenant.entity_id}").json()
        assert proof["id"] == str(tenant.entity_id)

        admin_client.revoke_certificate(uploaded.certificate_id)
        listed = {item.certificate_id: item for item in admin_client.list_certificates()}
        assert listed[uploaded.certificate_id].revoked is True
        with pytest.raises(TokenRequestError) as caught:
            admin_client.request_token(
                ec_key, certificate_id=uploaded.certificate_id, scopes=["rest_webservices"]
            )
        assert (caught.value.error, caught.value.status_code) == ("invalid_client", 401)
        assert "revoked" in caught.value.message

    def test_bad_token_is_authentication_error(
        self, emulator: RunningEmulator, fast_retry: RetryPolicy
    ) -> None:
        """A forged bearer token gives AuthenticationError with NetSuite's INVALID_LOGIN text."""
        forged = "eyJforged.eyJforged.sig"
        with client_for(emulator.base_url, fast_retry, forged, emulator.tenant.client_id) as client:
            with pytest.raises(AuthenticationError) as caught:
                client.list_certificates()
            with pytest.raises(AuthenticationError):
                client.call_protected("employee/7")
        assert (caught.value.status_code, caught.value.error_code) == (401, "INVALID_LOGIN")
        assert "Invalid login attempt" in caught.value.message
        assert "eyJforged" not in str(caught.value)

    def test_role_without_permission_is_permission_denied(
        self, emulator: RunningEmulator, fast_retry: RetryPolicy
    ) -> None:
        """A token whose role may not manage certificates gives PermissionDeniedError (403)."""
        entity_id, role_id = emulator.add_m2m_combination()
        token = emulator.management_token(entity_id=entity_id, role_id=role_id)
        with NetSuiteClient(
            emulator.endpoints,
            client_id=emulator.tenant.client_id,
            auth=BearerTokenAuth(token),
            retry=fast_retry,
        ) as client, pytest.raises(PermissionDeniedError) as caught:
            client.list_certificates()
        assert caught.value.status_code == 403
        assert caught.value.error_code
        assert token not in str(caught.value)

    def test_unknown_certificate_is_remote_not_found(self, admin_client: NetSuiteClient) -> None:
        """Revoking an unknown certificate ID (one starting with ``-``) gives RemoteNotFoundError."""
        with pytest.raises(RemoteNotFoundError) as caught:
            admin_client.revoke_certificate("-" + "A" * 42)
        assert caught.value.status_code == 404
        assert "-" + "A" * 42 in caught.value.message

    def test_duplicate_upload_is_netsuite_api_error_with_its_message(
        self, emulator: RunningEmulator, admin_client: NetSuiteClient, ec_key: PrivateKey
    ) -> None:
        """Uploading the same certificate twice gives a 400 NetSuiteAPIError in NetSuite's words."""
        pem = certificate_pem(ec_key)
        tenant = emulator.tenant
        admin_client.upload_certificate(pem, entity=tenant.entity_id, role=tenant.role_id)
        with pytest.raises(NetSuiteAPIError) as caught:
            admin_client.upload_certificate(pem, entity=tenant.entity_id, role=tenant.role_id)
        assert type(caught.value) is NetSuiteAPIError
        assert (caught.value.status_code, caught.value.error_code) == (400, "DUPLICATE_CERTIFICATE")
        assert caught.value.hint

    def test_unmapped_entity_is_refused_with_netsuite_message(
        self, emulator: RunningEmulator, admin_client: NetSuiteClient, ec_key: PrivateKey
    ) -> None:
        """An (entity, role) not mapped to the integration gives NetSuite's 400 error."""
        with pytest.raises(NetSuiteAPIError) as caught:
            admin_client.upload_certificate(
                certificate_pem(ec_key), entity=999, role=emulator.tenant.role_id
            )
        assert caught.value.status_code == 400
        assert caught.value.error_code == "ENTITY_ROLE_NOT_MAPPED"


class TestRetriesAgainstEmulator:
    def test_list_survives_5xx(self, emulator: RunningEmulator, admin_client: NetSuiteClient) -> None:
        """Two 503s on a list are retried; the third attempt answers."""
        emulator.set_faults(error_rate=1.0, max_faults=2)
        assert admin_client.list_certificates() == []
        assert emulator.counters()["faults_total"] == 2

    def test_list_survives_429_with_retry_after(
        self, emulator: RunningEmulator, admin_client: NetSuiteClient
    ) -> None:
        """Two 429s (Retry-After: 0) on a list are waited out and retried."""
        emulator.set_faults(rate_limit_rate=1.0, retry_after_seconds=0, max_faults=2)
        assert admin_client.list_certificates() == []
        assert emulator.counters()["faults"] == {"rate_limit": 2}

    def test_list_survives_dropped_connections(
        self, emulator: RunningEmulator, admin_client: NetSuiteClient
    ) -> None:
        """Connections closed without an answer are transport errors, retried on a GET."""
        emulator.set_faults(drop_rate=1.0, max_faults=2)
        assert admin_client.list_certificates() == []
        assert emulator.counters()["faults"] == {"drop": 2}

    def test_lasting_5xx_becomes_unavailable(
        self, emulator: RunningEmulator, admin_client: NetSuiteClient, fast_retry: RetryPolicy
    ) -> None:
        """A list that keeps failing is tried ``attempts`` times, then RemoteUnavailableError."""
        emulator.set_faults(error_rate=1.0, max_faults=10)
        with pytest.raises(RemoteUnavailableError, match="HTTP 503"):
            admin_client.list_certificates()
        assert emulator.counters()["faults_total"] == fast_retry.attempts

    def test_token_request_survives_429_and_5xx(
        self, emulator: RunningEmulator, admin_client: NetSuiteClient, ec_key: PrivateKey
    ) -> None:
        """A token request retried after 429 and 503 gets a token (fresh assertion per attempt)."""
        certificate_id = upload_new(admin_client, emulator, ec_key)
        emulator.set_faults(rate_limit_rate=0.5, error_rate=0.5, retry_after_seconds=0, max_faults=2)
        token = admin_client.request_token(
            ec_key, certificate_id=certificate_id, scopes=["rest_webservices"]
        )
        assert token.access_token
        counters = emulator.counters()
        assert counters["faults_total"] == 2
        assert counters["token_grants"] == {"client_credentials": 1}

    def test_upload_5xx_is_never_retried(
        self, emulator: RunningEmulator, admin_client: NetSuiteClient, ec_key: PrivateKey
    ) -> None:
        """An upload answered 503 is sent once and raises UploadOutcomeUnknown."""
        emulator.set_faults(error_rate=1.0, max_faults=5)
        with pytest.raises(UploadOutcomeUnknown):
            upload_new(admin_client, emulator, ec_key)
        assert emulator.counters()["faults_total"] == 1

    def test_upload_lost_answer_is_unknown_and_listing_finds_it(
        self, emulator: RunningEmulator, admin_client: NetSuiteClient, ec_key: PrivateKey
    ) -> None:
        """An upload stored but whose answer was lost is UploadOutcomeUnknown; a list shows it."""
        emulator.set_faults(after_commit_drop_rate=1.0, max_faults=1)
        with pytest.raises(UploadOutcomeUnknown) as caught:
            upload_new(admin_client, emulator, ec_key)
        assert "may or may not" in caught.value.message
        assert len(admin_client.list_certificates()) == 1
        assert emulator.counters()["uploads_total"] == 1

    def test_upload_429_is_retried(
        self, emulator: RunningEmulator, admin_client: NetSuiteClient, ec_key: PrivateKey
    ) -> None:
        """A rate-limited upload was not processed, so it is retried, and stored once."""
        emulator.set_faults(rate_limit_rate=1.0, retry_after_seconds=0, max_faults=1)
        upload_new(admin_client, emulator, ec_key)
        assert emulator.counters()["uploads_total"] == 1

    def test_revoke_whose_answer_was_lost_is_confirmed_on_retry(
        self, emulator: RunningEmulator, admin_client: NetSuiteClient, ec_key: PrivateKey
    ) -> None:
        """A revoke stored but unanswered is retried; "already revoked" then counts as done."""
        certificate_id = upload_new(admin_client, emulator, ec_key)
        emulator.set_faults(after_commit_drop_rate=1.0, max_faults=1)
        admin_client.revoke_certificate(certificate_id)
        assert [item.revoked for item in admin_client.list_certificates()] == [True]

    def test_revoking_twice_without_a_lost_answer_is_an_error(
        self, emulator: RunningEmulator, admin_client: NetSuiteClient, ec_key: PrivateKey
    ) -> None:
        """A plain second revoke reports NetSuite's "already revoked" error to the caller."""
        certificate_id = upload_new(admin_client, emulator, ec_key)
        admin_client.revoke_certificate(certificate_id)
        with pytest.raises(NetSuiteAPIError, match="already revoked"):
            admin_client.revoke_certificate(certificate_id)
