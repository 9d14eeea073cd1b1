"""Tests of the client's parsing path: the seed's samples and NetSuite's error bodies."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import httpx2
import pytest

from certrotor.client.responses import (
    check_revoke_response,
    error_for_response,
    parse_certificate_list,
    parse_token_response,
    parse_upload_response,
    safe_snippet,
)
from certrotor.errors import (
    AuthenticationError,
    NetSuiteAPIError,
    PermissionDeniedError,
    RemoteError,
    RemoteNotFoundError,
    RemoteUnavailableError,
    TokenRequestError,
)
from certrotor.protocol.models import UploadCertificateRequest

_HERE = Path(__file__).resolve()
VECTORS = next(
    path
    for path in (_HERE.parents[1] / "vectors", _HERE.parents[3] / "shared" / "vectors")
    if (path / "seed-list-response.json").exists()
)
FAKE_JWT = "eyJraWQiOiJ4In0.eyJzdWIiOiIzOzcifQ.c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmU"


def answer(status: int, content: bytes | str, content_type: str = "application/json") -> httpx2.Response:
    body = content.encode() if isinstance(content, str) else content
    return httpx2.Response(status, content=body, headers={"Content-Type": content_type})


def netsuite_error(status: int, detail: str, code: str) -> httpx2.Response:
    body = {
        "type": "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5",
        "title": "Error",
        "status": status,
        "o:errorDetails": [{"detail": detail, "o:errorCode": code}],
    }
    return answer(status, json.dumps(body))


class TestSeedVectors:
    def test_upload_response_parses_byte_for_byte(self) -> None:
        """The seed's upload answer parses with every field and JSON type kept."""
        result = parse_upload_response(answer(200, (VECTORS / "seed-upload-response.json").read_bytes()))
        assert result.certificate_id == "Qiljyqx_nQC-_BMDF37ghOwZI0TpgaRrThMRNWJTPlU"
        assert (result.entity_role_id.com, result.entity_role_id.ent, result.entity_role_id.rol) == (
            "4030059",
            7,
            3,
        )
        assert result.valid_until == dt.date(2024, 5, 24)
        assert result.installation_id == 2
        assert result.valid is True
        assert result.invalidated is False

    def test_oracle_upload_variant_parses(self) -> None:
        """Oracle's variant with application_id and without installation_id/valid parses too."""
        body = json.loads((VECTORS / "seed-upload-response.json").read_text())
        del body["installation_id"], body["valid"]
        body["application_id"] = "5A7C2B6D-F927-4D7B-94DB-8026A86F823E"
        result = parse_upload_response(answer(200, json.dumps(body)))
        assert result.application_id == "5A7C2B6D-F927-4D7B-94DB-8026A86F823E"
        assert result.valid is None

    def test_list_response_parses_byte_for_byte(self) -> None:
        """The seed's list answer gives two items: one revoked, one active, same entity and role."""
        items = parse_certificate_list(answer(200, (VECTORS / "seed-list-response.json").read_bytes()))
        assert [item.revoked for item in items] == [True, False]
        assert items[1].certificate_id == "xYAcb_rwSVj6stkI0cCysutJ4AKwqTOBU5M75HNh7Ig"
        assert items[0].application.application_id == "5A7C2B6D-F927-4D7B-94DB-8026A86F823E"
        assert (items[0].entity.id, items[0].entity.entity_type, items[0].role.name) == (
            7,
            "EMPLOYEE",
            "Administrator",
        )

    def test_revoke_response_is_accepted(self) -> None:
        """The seed's plain-text ``Successfully revoked`` is a successful revocation."""
        text = (VECTORS / "seed-revoke-response.txt").read_bytes()
        check_revoke_response(answer(200, text, "text/plain"), certificate_id="xYAc")

    def test_upload_request_vector_matches_the_wire_shape(self) -> None:
        """The seed's upload body validates and serialises back to the same keys and JSON types."""
        sample = json.loads((VECTORS / "seed-upload-request.json").read_text())
        assert UploadCertificateRequest.model_validate(sample).to_wire() == sample

    def test_string_entity_from_oracle_example_is_accepted(self) -> None:
        """Oracle's ``"entity": "-5"`` becomes the number -5 on the wire."""
        body = UploadCertificateRequest.model_validate(
            {"fileContent": "-----BEGIN CERTIFICATE-----...", "role": 1000, "entity": "-5"}
        )
        assert body.to_wire()["entity"] == -5


class TestErrorMapping:
    @pytest.mark.parametrize(
        ("status", "error_class"),
        [
            (400, NetSuiteAPIError),
            (401, AuthenticationError),
            (403, PermissionDeniedError),
            (404, RemoteNotFoundError),
        ],
    )
    def test_netsuite_error_bodies_become_typed_errors(
        self, status: int, error_class: type[NetSuiteAPIError]
    ) -> None:
        """An ``o:errorDetails`` body becomes the class for its status, with NetSuite's words."""
        error = error_for_response(
            netsuite_error(status, "Invalid login attempt.", "INVALID_LOGIN"), operation="the list"
        )
        assert type(error) is error_class
        assert isinstance(error, NetSuiteAPIError)
        assert error.status_code == status
        assert error.error_code == "INVALID_LOGIN"
        assert "Invalid login attempt." in error.message
        assert error.hint

    def test_oauth_error_becomes_token_request_error(self) -> None:
        """An RFC 6749 body becomes TokenRequestError carrying the ``error`` code."""
        body = {"error": "invalid_client", "error_description": "Unknown certificate."}
        error = error_for_response(answer(401, json.dumps(body)), operation="the token request")
        assert isinstance(error, TokenRequestError)
        assert (error.error, error.status_code) == ("invalid_client", 401)
        assert "Unknown certificate." in error.message

    @pytest.mark.parametrize("status", [429, 500, 503])
    def test_transient_status_becomes_unavailable(self, status: int) -> None:
        """A 429 or 5xx that outlived the retries is RemoteUnavailableError."""
        error = error_for_response(answer(status, "<html>busy</html>", "text/html"), operation="x")
        assert isinstance(error, RemoteUnavailableError)

    def test_garbage_becomes_a_clear_remote_error(self) -> None:
        """A non-JSON error page becomes a plain RemoteError naming status and content type."""
        error = error_for_response(answer(400, "<html>Login</html>", "text/html"), operation="x")
        assert type(error) is RemoteError
        assert "HTTP 400" in error.message
        assert "text/html" in error.message

    def test_garbage_success_body_is_refused(self) -> None:
        """A 200 answer that is not JSON is a RemoteError, not a crash."""
        with pytest.raises(RemoteError, match="not JSON"):
            parse_certificate_list(answer(200, "<html>maintenance</html>", "text/html"))

    def test_wrong_shape_is_refused_without_echoing_values(self) -> None:
        """A token answer of the wrong shape names the field, never the token value."""
        body = {"access_token": FAKE_JWT, "token_type": "Bearer"}
        with pytest.raises(RemoteError) as caught:
            parse_token_response(answer(200, json.dumps(body)), operation="the token request")
        assert "expires_in" in str(caught.value)
        assert FAKE_JWT not in str(caught.value)
        assert caught.value.__cause__ is None

    def test_revoke_without_the_success_text_is_refused(self) -> None:
        """A 200 revoke answer without ``Successfully revoked`` is not taken as success."""
        with pytest.raises(RemoteError, match="Successfully revoked"):
            check_revoke_response(answer(200, "OK", "text/plain"), certificate_id="abc")

    def test_snippets_mask_token_like_text(self) -> None:
        """An unexpected body echoing a token is masked in the error message."""
        error = error_for_response(answer(418, f"token was {FAKE_JWT}", "text/plain"), operation="x")
        assert FAKE_JWT not in str(error)
        assert "[redacted]" in safe_snippet(f"Bearer {FAKE_JWT}")
