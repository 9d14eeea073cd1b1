"""Protocol models: the seed's samples parse byte for byte, and dump back to the same JSON shapes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from certrotor.protocol.models import (
    ASSERTION_ALGORITHMS,
    REVOKE_SUCCESS_TEXT,
    SCOPES,
    CertificateListItem,
    NetSuiteErrorBody,
    OAuthErrorBody,
    TokenResponse,
    UploadCertificateRequest,
    UploadCertificateResponse,
    parse_scopes,
)

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
"""The repository's own copy of the seed vectors (tests/vectors)."""
SHARED_VECTORS = Path(__file__).resolve().parents[2] / ".." / "shared" / "vectors"
VECTOR_FILES = (
    "seed-upload-request.json",
    "seed-upload-response.json",
    "seed-list-response.json",
    "seed-revoke-response.txt",
)
CERTIFICATE_LIST = TypeAdapter(list[CertificateListItem])


def raw(name: str) -> bytes:
    return (VECTORS / name).read_bytes()


def wire(model: BaseModel) -> Any:
    """The JSON a model would put on the wire (aliases, no absent optional fields)."""
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


class TestVectorCopies:
    @pytest.mark.parametrize("name", VECTOR_FILES)
    def test_copy_matches_shared_vectors(self, name: str) -> None:
        """tests/vectors holds exact copies of ../shared/vectors (checked only when that folder exists)."""
        shared = SHARED_VECTORS / name
        if not shared.exists():
            pytest.skip("../shared/vectors is not present; the repository copy is used alone")
        assert raw(name) == shared.read_bytes()


class TestSeedUploadRequest:
    def test_parses_as_printed(self) -> None:
        """The seed's upload body parses with fileContent, role and entity."""
        body = UploadCertificateRequest.model_validate_json(raw("seed-upload-request.json"))
        assert body.file_content == "-----BEGIN CERTIFICATE-----..."
        assert (body.role, body.entity) == (3, 7)

    def test_to_wire_is_the_seed_body(self) -> None:
        """What the client sends is exactly the seed's JSON object."""
        body = UploadCertificateRequest.model_validate_json(raw("seed-upload-request.json"))
        assert body.to_wire() == json.loads(raw("seed-upload-request.json"))

    def test_oracle_variant_with_string_ids(self) -> None:
        """Oracle's own example sends ``"entity": "-5"``: numeric strings become numbers."""
        body = UploadCertificateRequest.model_validate({"fileContent": "PEM", "role": "3", "entity": "-5"})
        assert (body.role, body.entity) == (3, -5)
        assert body.to_wire() == {"fileContent": "PEM", "role": 3, "entity": -5}

    @pytest.mark.parametrize(
        "changes",
        [
            {"entity": True},
            {"entity": 7.5},
            {"entity": "abc"},
            {"entity": ""},
            {"entity": "--5"},
            {"entity": "٣"},
            {"entity": None},
            {"role": [3]},
            {"fileContent": ""},
            {"unexpected": 1},
        ],
    )
    def test_refuses_bad_bodies(self, changes: dict[str, Any]) -> None:
        """Booleans, fractions, non-numeric or non-ASCII ids, empty content and unknown fields are refused."""
        body = {"fileContent": "PEM", "role": 3, "entity": 7, **changes}
        with pytest.raises(ValidationError):
            UploadCertificateRequest.model_validate(body)

    def test_refuses_missing_fields(self) -> None:
        """A body without fileContent is refused."""
        with pytest.raises(ValidationError, match="fileContent"):
            UploadCertificateRequest.model_validate({"role": 3, "entity": 7})


class TestSeedUploadResponse:
    def test_parses_as_printed(self) -> None:
        """The seed's upload answer parses with every field and its JSON type."""
        answer = UploadCertificateResponse.model_validate_json(raw("seed-upload-response.json"))
        assert answer.certificate_id == "Qiljyqx_nQC-_BMDF37ghOwZI0TpgaRrThMRNWJTPlU"
        assert (answer.entity_role_id.com, answer.entity_role_id.ent, answer.entity_role_id.rol) == (
            "4030059",
            7,
            3,
        )
        assert answer.algorithm == "RSA"
        assert (str(answer.created_at), str(answer.valid_from), str(answer.valid_until)) == (
            "2023-05-29",
            "2023-05-25",
            "2024-05-24",
        )
        assert answer.invalidated is False
        assert answer.installation_id == 2
        assert answer.valid is True
        assert answer.application_id is None

    def test_dumps_back_to_the_seed_shape(self) -> None:
        """The emulator's answer built from this model has the seed's exact keys and JSON types."""
        answer = UploadCertificateResponse.model_validate_json(raw("seed-upload-response.json"))
        assert wire(answer) == json.loads(raw("seed-upload-response.json"))

    def test_oracle_variant_with_application_id_and_no_installation(self) -> None:
        """Oracle's documented variant carries application_id and lacks installation_id and valid."""
        variant = json.loads(raw("seed-upload-response.json"))
        del variant["installation_id"], variant["valid"]
        variant["application_id"] = "5A7C2B6D-F927-4D7B-94DB-8026A86F823E"
        answer = UploadCertificateResponse.model_validate_json(json.dumps(variant))
        assert answer.application_id == "5A7C2B6D-F927-4D7B-94DB-8026A86F823E"
        assert answer.installation_id is None
        assert answer.valid is None
        assert wire(answer) == variant

    def test_unknown_fields_are_kept(self) -> None:
        """Fields NetSuite may add later do not break parsing."""
        variant = {**json.loads(raw("seed-upload-response.json")), "new_field": "x"}
        answer = UploadCertificateResponse.model_validate(variant)
        assert answer.model_extra == {"new_field": "x"}

    def test_refuses_a_malformed_date(self) -> None:
        """A date that is not YYYY-MM-DD is a validation error, not a silent default."""
        variant = {**json.loads(raw("seed-upload-response.json")), "valid_until": "tomorrow"}
        with pytest.raises(ValidationError, match="valid_until"):
            UploadCertificateResponse.model_validate(variant)


class TestSeedListResponse:
    def test_parses_as_printed(self) -> None:
        """The seed's list parses: one revoked and one active certificate for the same entity and role."""
        items = CERTIFICATE_LIST.validate_json(raw("seed-list-response.json"))
        assert [item.revoked for item in items] == [True, False]
        assert [item.certificate_id for item in items] == [
            "Qiljyqx_nQC-_BMDF37ghOwZI0TpgaRrThMRNWJTPlU",
            "xYAcb_rwSVj6stkI0cCysutJ4AKwqTOBU5M75HNh7Ig",
        ]
        first, second = items
        assert (first.entity.id, first.role.id) == (second.entity.id, second.role.id) == (7, 3)
        assert first.application.application_id == "5A7C2B6D-F927-4D7B-94DB-8026A86F823E"
        assert first.entity.entity_type == "EMPLOYEE"
        assert second.role.name == "Administrator"
        assert str(second.valid_until) == "2024-05-28"

    def test_dumps_back_to_the_seed_shape(self) -> None:
        """Each list item dumps to exactly the seed's keys and JSON types."""
        items = CERTIFICATE_LIST.validate_json(raw("seed-list-response.json"))
        assert [wire(item) for item in items] == json.loads(raw("seed-list-response.json"))

    def test_empty_list(self) -> None:
        """An integration without certificates answers an empty list."""
        assert CERTIFICATE_LIST.validate_json(b"[]") == []


class TestSeedRevokeResponse:
    def test_plain_text_as_printed(self) -> None:
        """The revoke answer is the plain text ``Successfully revoked`` without a newline."""
        assert raw("seed-revoke-response.txt") == REVOKE_SUCCESS_TEXT.encode()


class TestTokenAndErrorBodies:
    def test_token_response_hides_the_token_in_repr(self) -> None:
        """An access token never shows in a model's repr (and so never in a log of it)."""
        token = TokenResponse.model_validate(
            {"access_token": "eyJhbGciOi.secret.value", "expires_in": 3600, "token_type": "Bearer"}
        )
        assert token.expires_in == 3600
        assert "secret" not in repr(token)

    def test_oauth_error_body(self) -> None:
        """An RFC 6749 error answer parses with and without a description."""
        assert OAuthErrorBody.model_validate({"error": "invalid_client"}).error_description is None
        body = OAuthErrorBody.model_validate({"error": "invalid_grant", "error_description": "expired"})
        assert (body.error, body.error_description) == ("invalid_grant", "expired")

    def test_netsuite_error_body(self) -> None:
        """NetSuite's REST error format gives its detail as the message and its error code."""
        body = NetSuiteErrorBody.model_validate(
            {
                "type": "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.2",
                "title": "Unauthorized",
                "status": 401,
                "o:errorDetails": [{"detail": "Invalid login attempt.", "o:errorCode": "INVALID_LOGIN"}],
            }
        )
        assert body.message == "Invalid login attempt."
        assert body.error_code == "INVALID_LOGIN"

    def test_netsuite_error_without_details_falls_back_to_title(self) -> None:
        """An error body with no details still has a message (its title) and no code."""
        body = NetSuiteErrorBody.model_validate(
            {"type": "about:blank", "title": "Not Found", "status": 404, "o:errorDetails": []}
        )
        assert body.message == "Not Found"
        assert body.error_code is None


class TestScopes:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (["restlets", "rest_webservices"], ["restlets", "rest_webservices"]),
            ("restlets,rest_webservices", ["restlets", "rest_webservices"]),
            ("restlets, suite_analytics", ["restlets", "suite_analytics"]),
            ("restlets rest_webservices", ["restlets", "rest_webservices"]),
            ([" restlets ", ""], ["restlets"]),
        ],
    )
    def test_list_or_comma_separated(self, value: object, expected: list[str]) -> None:
        """Scopes arrive as a JSON list (Oracle's sample) or a comma separated string (Oracle's text)."""
        assert parse_scopes(value) == expected

    @pytest.mark.parametrize("value", [None, 3, ["restlets", 3], {"scope": "restlets"}])
    def test_refuses_other_types(self, value: object) -> None:
        """Anything but a string or a list of strings is refused."""
        with pytest.raises(ValueError, match="scope must be"):
            parse_scopes(value)

    def test_constants(self) -> None:
        """Three scopes exist, and RS256 is not an accepted assertion algorithm."""
        assert SCOPES == ("restlets", "rest_webservices", "suite_analytics")
        assert "RS256" not in ASSERTION_ALGORITHMS
        assert set(ASSERTION_ALGORITHMS) == {"PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
