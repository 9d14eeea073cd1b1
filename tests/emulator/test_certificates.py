"""The certificate endpoints: the seed's shapes, every refusal, caps, and revoke-then-upload."""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import time_machine

from certrotor.crypto import MAX_VALIDITY_DAYS, KeySpec, generate_private_key, utcnow
from certrotor.emulator.config import EmulatorConfig
from certrotor.emulator.testing import RunningEmulator, serve_emulator
from certrotor.protocol.models import (
    REVOKE_SUCCESS_TEXT,
    CertificateListItem,
    UploadCertificateRequest,
    UploadCertificateResponse,
)

from ._support import (
    ADMIN,
    Caller,
    k1_certificate,
    make_certificate,
    netsuite_error,
    open_caller,
    raw_certificate,
    snapshot,
    weak_rsa_certificate,
)

_HERE = Path(__file__).resolve()
VECTORS = next(
    path
    for path in (_HERE.parents[1] / "vectors", _HERE.parents[3] / "shared" / "vectors")
    if (path / "seed-list-response.json").exists()
)
LIMIT_DETAIL = (
    "The integration 'Test Integration' already has 5 active certificates, the maximum. "
    "Revoke a certificate before uploading a new one."
)


def json_shape(value: Any) -> Any:
    """Field names (in order) and JSON types, without the values."""
    if isinstance(value, dict):
        return [(name, json_shape(item)) for name, item in value.items()]
    if isinstance(value, list):
        return [json_shape(value[0])] if value else []
    return type(value).__name__


def vector(name: str) -> Any:
    return json.loads((VECTORS / name).read_text())


class TestSeedVectors:
    def test_upload_request_vector_is_what_the_emulator_takes(self, caller: Caller) -> None:
        """The seed's upload body (role and entity as numbers) is accepted once fileContent is real."""
        seed = UploadCertificateRequest.model_validate(vector("seed-upload-request.json"))
        _key, pem = make_certificate()
        response = caller.upload(body={**seed.to_wire(), "fileContent": pem})
        assert response.status_code == 200, response.text

    def test_upload_answer_has_the_seed_fields_and_types(self, caller: Caller) -> None:
        """The upload answer carries exactly the seed's field names, order and JSON types."""
        _key, pem = make_certificate()
        response = caller.upload(pem)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        answer = response.json()
        assert json_shape(answer) == json_shape(vector("seed-upload-response.json"))
        parsed = UploadCertificateResponse.model_validate(answer)
        assert parsed.entity_role_id.com == caller.tenant.company_id
        assert (parsed.entity_role_id.ent, parsed.entity_role_id.rol) == (7, 3)
        assert parsed.certificate == pem
        assert parsed.algorithm == "EC"
        assert parsed.invalidated is False
        assert parsed.valid is True
        assert parsed.installation_id == caller.tenant.integration_id
        assert parsed.created_at == utcnow().date()

    def test_certificate_id_is_43_base64url_characters_of_32_bytes(self, caller: Caller) -> None:
        """Certificate IDs look like NetSuite's: base64url of a 32-byte value, no padding."""
        _key, certificate_id = caller.upload_ok()
        assert len(certificate_id) == 43
        assert len(base64.urlsafe_b64decode(certificate_id + "=")) == 32

    def test_list_answer_has_the_seed_fields_and_types(self, caller: Caller) -> None:
        """One revoked and one active certificate of one combination list like the seed's sample."""
        _key, first = caller.upload_ok(KeySpec.RSA_3072)
        assert caller.revoke(first).status_code == 200
        _key, second = caller.upload_ok(KeySpec.RSA_3072)
        answer = caller.list().json()
        assert json_shape(answer) == json_shape(vector("seed-list-response.json"))
        items = [CertificateListItem.model_validate(item) for item in answer]
        assert [(item.certificate_id, item.revoked) for item in items] == [(first, True), (second, False)]
        assert {item.algorithm for item in items} == {"RSA"}
        item = items[0]
        integration_id = caller.tenant.integration_id
        assert item.application.url == f"/app/common/integration/integrapp.nl?id={integration_id}"
        assert item.application.application_id == caller.tenant.application_id
        assert (item.entity.id, item.entity.name, item.entity.entity_type) == (7, "Infra Auth", "EMPLOYEE")
        assert item.entity.url == "/app/common/entity/entity.nl?id=7"
        assert (item.role.id, item.role.name, item.role.url) == (
            3,
            "Administrator",
            "/app/setup/role.nl?id=3",
        )

    def test_revoke_answers_the_seed_text(self, caller: Caller) -> None:
        """Revoking answers text/plain `Successfully revoked`, byte for byte as the seed."""
        _key, certificate_id = caller.upload_ok()
        response = caller.revoke(certificate_id)
        assert response.status_code == 200
        assert response.text == (VECTORS / "seed-revoke-response.txt").read_text() == REVOKE_SUCCESS_TEXT
        assert response.headers["content-type"].startswith("text/plain")

    def test_numeric_strings_are_accepted_for_role_and_entity(
        self, caller: Caller, emulator: RunningEmulator
    ) -> None:
        """Oracle's own example sends `"entity": "-5"`: numeric strings (and negative ids) work."""
        with_admin = caller.http.post(
            emulator.base_url + "/_emulator/entities", json={"name": "Default admin", "entity_id": -5}
        )
        assert with_admin.status_code == 200
        caller.http.post(emulator.base_url + "/_emulator/mappings", json={"entity_id": -5, "role_id": 3})
        _key, pem = make_certificate()
        response = caller.upload(pem, role="3", entity="-5")
        assert response.status_code == 200, response.text
        assert response.json()["entity_role_id"] == {"com": caller.tenant.company_id, "ent": -5, "rol": 3}


class TestUpload:
    def test_longer_than_two_years_is_accepted_and_shortened(self, caller: Caller) -> None:
        """A certificate valid for more than 730 days is accepted with valid_until shortened."""
        pem = raw_certificate(generate_private_key(KeySpec.EC_P256), days=1000)
        response = caller.upload(pem)
        assert response.status_code == 200, response.text
        answer = UploadCertificateResponse.model_validate(response.json())
        assert answer.valid_until - answer.valid_from == dt.timedelta(days=MAX_VALIDITY_DAYS)

    def test_every_accepted_key_type_uploads(self, caller: Caller, rsa_key: Any) -> None:
        """RSA 3072 and EC P-256, P-384 and P-521 certificates are accepted, with their algorithm."""
        for spec in (KeySpec.EC_P256, KeySpec.EC_P384, KeySpec.EC_P521):
            _key, pem = make_certificate(spec)
            assert caller.upload(pem).json()["algorithm"] == "EC"
        _key, pem = make_certificate(key=rsa_key)
        assert caller.upload(pem).json()["algorithm"] == "RSA"

    def test_dash_certificate_ids_when_configured(self, caller: Caller, emulator: RunningEmulator) -> None:
        """With dash_certificate_ids the IDs begin with '-' and still work everywhere."""
        emulator.set_config(dash_certificate_ids=True)
        key, certificate_id = caller.upload_ok()
        assert certificate_id.startswith("-")
        assert caller.access_token(key, certificate_id)
        assert caller.revoke(certificate_id).text == REVOKE_SUCCESS_TEXT

    def test_upload_is_counted_per_client(self, caller: Caller, emulator: RunningEmulator) -> None:
        """Stored uploads are counted per client ID; refused ones are not."""
        caller.upload_ok()
        caller.upload("garbage")
        counters = emulator.counters()
        assert counters["uploads"] == {caller.tenant.client_id: 1}
        assert counters["upload_refusals"] == {"INVALID_CERTIFICATE": 1}


def _refusal_cases() -> list[Any]:
    """(name, request builder, status, error code, detail) for the upload endpoint."""
    private_key_pem = "\n".join(
        [
            "-----BEGIN PRIVATE KEY-----",
            "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg",
            "-----END PRIVATE KEY-----",
            "",
        ]
    )
    not_mapped = (
        "The entity {entity} with the role {role} is not mapped to the integration 'Test Integration' "
        "for OAuth 2.0 client credentials."
    )
    cases: list[tuple[str, Any, int, str, str]] = [
        ("no token", lambda c, pem: c.upload(pem, token=None), 401, "INVALID_LOGIN", "Invalid login"),
        ("forged token", lambda c, pem: c.upload(pem, token="e30.e30.sig"), 401, "INVALID_LOGIN", "Invalid"),
        ("basic scheme", lambda c, pem: c.upload(pem, token="Basic dXNlcjpwdw=="), 401, "INVALID_LOGIN", ""),
        (
            "unknown client",
            lambda c, pem: c.upload(pem, client_id="nope"),
            404,
            "NONEXISTENT_ID",
            "No integration record with client ID nope exists.",
        ),
        (
            "malformed json",
            lambda c, pem: c.upload(
                content=b'{"fileContent": ', headers={"Content-Type": "application/json"}
            ),
            400,
            "INVALID_CONTENT",
            "The request body is not valid JSON: Expecting value at line 1 column 17.",
        ),
        (
            "empty body",
            lambda c, pem: c.upload(content=b"", headers={"Content-Type": "application/json"}),
            400,
            "INVALID_CONTENT",
            "The request body is empty; send a JSON object.",
        ),
        (
            "not json content type",
            lambda c, pem: c.upload(content=b"fileContent=x", headers={"Content-Type": "text/plain"}),
            400,
            "INVALID_CONTENT",
            "The request body must be JSON (Content-Type: application/json), not text/plain.",
        ),
        (
            "json array",
            lambda c, pem: c.upload(body=[pem]),
            400,
            "INVALID_CONTENT",
            "The request body must be a JSON object with fileContent, role and entity.",
        ),
        (
            "missing fileContent",
            lambda c, pem: c.upload(body={"role": 3, "entity": 7}),
            400,
            "INVALID_CONTENT",
            "The field fileContent is missing.",
        ),
        (
            "unknown field",
            lambda c, pem: c.upload(body={"fileContent": pem, "role": 3, "entity": 7, "name": "x"}),
            400,
            "INVALID_CONTENT",
            "The field name is not allowed.",
        ),
        (
            "role not numeric",
            lambda c, pem: c.upload(pem, role="admin"),
            400,
            "INVALID_CONTENT",
            "The field role must be a number or a numeric string.",
        ),
        (
            "entity boolean",
            lambda c, pem: c.upload(pem, entity=True),
            400,
            "INVALID_CONTENT",
            "The field entity must be a number or a numeric string.",
        ),
        (
            "fileContent not a string",
            lambda c, pem: c.upload(body={"fileContent": 5, "role": 3, "entity": 7}),
            400,
            "INVALID_CONTENT",
            "The field fileContent must be a non-empty string holding a PEM certificate.",
        ),
        (
            "fileContent not PEM",
            lambda c, pem: c.upload("hello"),
            400,
            "INVALID_CERTIFICATE",
            "This is not a PEM certificate (no -----BEGIN CERTIFICATE----- block).",
        ),
        (
            "truncated PEM",
            lambda c, pem: c.upload(pem[:200] + "\n-----END CERTIFICATE-----\n"),
            400,
            "INVALID_CERTIFICATE",
            "The PEM certificate is malformed and cannot be parsed.",
        ),
        (
            "private key instead of certificate",
            lambda c, pem: c.upload(private_key_pem),
            400,
            "INVALID_CERTIFICATE",
            "The fileContent holds a private key; upload only the certificate "
            "(-----BEGIN CERTIFICATE-----) and keep the key secret.",
        ),
        (
            "key and certificate together",
            lambda c, pem: c.upload(private_key_pem + pem),
            400,
            "INVALID_CERTIFICATE",
            "The fileContent holds a private key; upload only the certificate "
            "(-----BEGIN CERTIFICATE-----) and keep the key secret.",
        ),
        (
            "RSA 2048",
            lambda c, pem: c.upload(weak_rsa_certificate()),
            400,
            "INVALID_CERTIFICATE",
            "RSA key of 2048 bits is too weak.",
        ),
        (
            "curve secp256k1",
            lambda c, pem: c.upload(k1_certificate()),
            400,
            "INVALID_CERTIFICATE",
            "Elliptic curve secp256k1 is not supported.",
        ),
        (
            "entity not mapped",
            lambda c, pem: c.upload(pem, entity=999),
            400,
            "ENTITY_ROLE_NOT_MAPPED",
            not_mapped.format(entity=999, role=3),
        ),
        (
            "role not mapped",
            lambda c, pem: c.upload(pem, role="1000"),
            400,
            "ENTITY_ROLE_NOT_MAPPED",
            not_mapped.format(entity=7, role=1000),
        ),
    ]
    return [pytest.param(*case[1:], id=case[0]) for case in cases]


class TestUploadRefusals:
    @pytest.mark.parametrize(("send", "status", "code", "detail"), _refusal_cases())
    def test_refused_with_the_exact_error_and_nothing_changes(
        self,
        shared_caller: Caller,
        shared_emulator: RunningEmulator,
        send: Any,
        status: int,
        code: str,
        detail: str,
    ) -> None:
        """Each bad upload gets NetSuite's error format, its status, code and message; state is unchanged."""
        _key, pem = make_certificate()
        before = snapshot(shared_emulator)
        response = send(shared_caller, pem)
        got_status, got_code, got_detail = netsuite_error(response)
        assert (got_status, got_code) == (status, code)
        if status == 401:
            assert got_detail.startswith(detail)
            assert response.headers["www-authenticate"] == "Bearer"
        else:
            assert got_detail == detail
        assert snapshot(shared_emulator) == before

    def test_expired_certificate_is_refused(
        self, shared_caller: Caller, shared_emulator: RunningEmulator
    ) -> None:
        """A certificate whose validity ended is refused with its expiry in the message."""
        start = utcnow() - dt.timedelta(days=30)
        _key, pem = make_certificate(not_before=start, validity_days=10)
        before = snapshot(shared_emulator)
        response = shared_caller.upload(pem)
        expired = (start.replace(microsecond=0) + dt.timedelta(days=10)).strftime("%Y-%m-%d %H:%M")
        assert netsuite_error(response) == (
            400,
            "INVALID_CERTIFICATE",
            f"The certificate expired on {expired} UTC.",
        )
        assert snapshot(shared_emulator) == before

    def test_role_without_permission_is_forbidden(
        self, shared_caller: Caller, shared_emulator: RunningEmulator
    ) -> None:
        """A token of a role lacking the management permission gets 403 and changes nothing."""
        entity_id, role_id = shared_emulator.add_m2m_combination()
        token = shared_emulator.management_token(entity_id=entity_id, role_id=role_id)
        _key, pem = make_certificate()
        before = snapshot(shared_emulator)
        detail = (
            f"The role 'M2M role {role_id}' ({role_id}) lacks the permission 'OAuth 2.0 Authorized "
            "Applications Management'; use the Administrator role or grant the permission."
        )
        for response in (
            shared_caller.upload(pem, token=token),
            shared_caller.list(token=token),
            shared_caller.revoke("x", token=token),
        ):
            assert netsuite_error(response) == (403, "INSUFFICIENT_PERMISSION", detail)
        assert snapshot(shared_emulator) == before

    def test_role_with_permission_may_manage(self, caller: Caller, emulator: RunningEmulator) -> None:
        """A custom role with the permission may upload, like the Administrator."""
        entity_id, role_id = emulator.add_m2m_combination(can_manage_certificates=True)
        token = emulator.management_token(entity_id=entity_id, role_id=role_id)
        _key, pem = make_certificate()
        assert caller.upload(pem, role=role_id, entity=entity_id, token=token).status_code == 200

    def test_duplicate_upload_is_refused(self, caller: Caller, emulator: RunningEmulator) -> None:
        """The same certificate cannot be uploaded twice, nor mapped to a second combination."""
        entity_id, role_id = emulator.add_m2m_combination()
        _key, pem = make_certificate()
        first = caller.upload(pem)
        certificate_id = first.json()["certificate_id"]
        before = snapshot(emulator)
        detail = (
            f"This certificate is already uploaded (certificate ID {certificate_id}); "
            "a certificate can be mapped only once."
        )
        assert netsuite_error(caller.upload(pem)) == (400, "DUPLICATE_CERTIFICATE", detail)
        other = caller.upload(pem, entity=entity_id, role=role_id)
        assert netsuite_error(other) == (400, "DUPLICATE_CERTIFICATE", detail)
        assert snapshot(emulator) == before

    def test_body_over_the_limit_is_refused_with_413(
        self, shared_caller: Caller, shared_emulator: RunningEmulator
    ) -> None:
        """A body above max_body_bytes gets 413 in NetSuite's format and changes nothing."""
        before = snapshot(shared_emulator)
        big = json.dumps({"fileContent": "x" * 70_000, "role": 3, "entity": 7}).encode()
        response = shared_caller.upload(content=big, headers={"Content-Type": "application/json"})
        assert netsuite_error(response) == (
            413,
            "REQUEST_TOO_LARGE",
            "The request body exceeds the limit of 65536 bytes.",
        )
        assert snapshot(shared_emulator) == before


class TestListAndRevokeRefusals:
    @pytest.mark.parametrize(
        ("token", "client_id", "status", "code"),
        [
            pytest.param(None, None, 401, "INVALID_LOGIN", id="no token"),
            pytest.param("not-a-jwt", None, 401, "INVALID_LOGIN", id="garbage token"),
            pytest.param(ADMIN, "unknown-client", 404, "NONEXISTENT_ID", id="unknown client"),
        ],
    )
    def test_list_refusals(
        self, shared_caller: Caller, token: object, client_id: str | None, status: int, code: str
    ) -> None:
        """Listing needs a valid token and a known client."""
        _status, got_code, _detail = netsuite_error(shared_caller.list(token=token, client_id=client_id))
        assert (_status, got_code) == (status, code)

    def test_revoke_unknown_certificate_is_404(
        self, shared_caller: Caller, shared_emulator: RunningEmulator
    ) -> None:
        """Revoking an unknown certificate ID answers 404 and changes nothing."""
        before = snapshot(shared_emulator)
        response = shared_caller.revoke("-unknownCertificateId")
        assert netsuite_error(response) == (
            404,
            "NONEXISTENT_ID",
            "No certificate with ID -unknownCertificateId exists on this integration.",
        )
        assert snapshot(shared_emulator) == before

    def test_revoke_refusals(self, caller: Caller, emulator: RunningEmulator) -> None:
        """No token: 401; another integration's certificate: 404; already revoked: 400."""
        _key, certificate_id = caller.upload_ok()
        (other_client,) = emulator.add_integrations(1)
        assert netsuite_error(caller.revoke(certificate_id, token=None))[:2] == (401, "INVALID_LOGIN")
        assert netsuite_error(caller.revoke(certificate_id, client_id=other_client))[:2] == (
            404,
            "NONEXISTENT_ID",
        )
        assert caller.revoke(certificate_id).status_code == 200
        before = snapshot(emulator)
        assert netsuite_error(caller.revoke(certificate_id)) == (
            400,
            "CERTIFICATE_ALREADY_REVOKED",
            f"The certificate {certificate_id} is already revoked.",
        )
        assert snapshot(emulator) == before

    def test_revoked_certificate_stays_listed_and_gets_no_token(self, caller: Caller) -> None:
        """After revoking, the list still shows the certificate (revoked) and tokens are refused."""
        key, certificate_id = caller.upload_ok()
        caller.revoke(certificate_id)
        (item,) = caller.list().json()
        assert (item["certificate_id"], item["revoked"]) == (certificate_id, True)
        response = caller.token(caller.assertion(key, certificate_id))
        assert response.status_code == 401
        assert response.json()["error_description"] == f"The certificate {certificate_id} is revoked."


class TestCaps:
    def test_five_active_certificates_per_integration(
        self, caller: Caller, emulator: RunningEmulator
    ) -> None:
        """The sixth active certificate is refused; revoking one frees a slot."""
        ids = [caller.upload_ok()[1] for _ in range(5)]
        _key, pem = make_certificate()
        before = snapshot(emulator)
        assert netsuite_error(caller.upload(pem)) == (400, "CERTIFICATE_LIMIT_REACHED", LIMIT_DETAIL)
        assert snapshot(emulator) == before
        caller.revoke(ids[0])
        assert caller.upload(pem).status_code == 200

    def test_limit_error_code_is_a_setting(self, caller: Caller, emulator: RunningEmulator) -> None:
        """limit_error_code answers a full integration with another code (real NetSuite's is unknown)."""
        for _ in range(5):
            caller.upload_ok()
        emulator.set_config(limit_error_code="SOME_UNDOCUMENTED_CODE")
        _key, pem = make_certificate()
        assert netsuite_error(caller.upload(pem)) == (400, "SOME_UNDOCUMENTED_CODE", LIMIT_DETAIL)

    def test_expired_certificates_do_not_count(self, caller: Caller) -> None:
        """Only unexpired certificates take a slot: after they expire, uploads work again."""
        for _ in range(5):
            caller.upload_ok(validity=dt.timedelta(hours=1))
        with time_machine.travel(utcnow() + dt.timedelta(hours=2), tick=True):
            _key, pem = make_certificate()
            assert caller.upload(pem).status_code == 200

    def test_revoke_then_upload_with_one_per_combination(self, tmp_path: Path) -> None:
        """With max_active_per_combination=1 a second upload is refused until the first is revoked."""
        config = EmulatorConfig(max_active_per_combination=1)
        with serve_emulator(tmp_path / "one.db", config) as emulator, open_caller(emulator) as caller:
            key, first = caller.upload_ok()
            _key, pem = make_certificate()
            detail = (
                "The entity 7 with the role 3 already has 1 active certificate(s) on the integration "
                "'Test Integration'. Revoke it before uploading a new one."
            )
            assert netsuite_error(caller.upload(pem)) == (400, "CERTIFICATE_LIMIT_REACHED", detail)
            token = caller.access_token(key, first)
            assert caller.revoke(first).status_code == 200
            assert caller.upload(pem).status_code == 200
            # The token obtained before the swap keeps working until it expires.
            assert caller.record(token).status_code == 200
            entity_id, role_id = emulator.add_m2m_combination()
            assert caller.upload_ok(role=role_id, entity=entity_id)

    def test_concurrent_uploads_respect_the_cap(self, caller: Caller, emulator: RunningEmulator) -> None:
        """Twelve simultaneous uploads store exactly five certificates (check and write are atomic)."""
        from concurrent.futures import ThreadPoolExecutor

        pems = [make_certificate()[1] for _ in range(12)]
        with ThreadPoolExecutor(max_workers=12) as pool:
            statuses = list(pool.map(lambda pem: caller.upload(pem).status_code, pems))
        assert sorted(statuses) == [200] * 5 + [400] * 7
        assert emulator.counters()["uploads_total"] == 5
