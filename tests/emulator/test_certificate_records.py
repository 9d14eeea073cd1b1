"""The emulator's certificate records over real HTTP: the RESTlet, its refusals, and signed imports."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from certrotor.crypto import (
    KeySpec,
    PrivateKey,
    build_self_signed_certificate,
    certificate_to_pem,
    generate_private_key,
    load_certificate_pem,
    private_key_to_pem,
    utcnow,
)
from certrotor.emulator.records_admin import RecordsAdmin
from certrotor.emulator.testing import EmulatorAdminError, RunningEmulator
from certrotor.protocol.models import NetSuiteErrorBody
from certrotor.protocol.records import (
    RECORDS_RESTLET_SCRIPT,
    RESTLET_PATH,
    CertificateRecordInfo,
    placeholder_fingerprint,
)
from certrotor.receiver import Verifier, verify_import_request
from certrotor.web.receiver import create_receiver_app, running_receiver
from support.records import SCRIPT_ID, UNREACHABLE_RECEIVER

ADMIN = object()


def _pem_file(key: PrivateKey | None = None) -> tuple[PrivateKey, str]:
    key = key or generate_private_key(KeySpec.EC_P256)
    certificate = build_self_signed_certificate(key, common_name="record test", validity_days=30)
    return key, certificate_to_pem(certificate) + private_key_to_pem(key).decode()


class RestletCaller:
    """Calls the records RESTlet the way certrotor's client (or a script) would."""

    def __init__(self, emulator: RunningEmulator, http: httpx2.Client) -> None:
        self.emulator, self.http = emulator, http

    def call(
        self,
        method: str,
        *,
        record: str | None = None,
        body: dict[str, Any] | None = None,
        token: object = ADMIN,
        script: str = RECORDS_RESTLET_SCRIPT,
        deploy: str = "1",
    ) -> httpx2.Response:
        params = {"script": script, "deploy": deploy}
        if record is not None:
            params["record"] = record
        headers = {"Authorization": f"Bearer {self.emulator.tenant.admin_token}"} if token is ADMIN else {}
        if isinstance(token, str):
            headers = {"Authorization": f"Bearer {token}"}
        return self.http.request(
            method, self.emulator.base_url + RESTLET_PATH, params=params, json=body, headers=headers
        )

    def info(self, response: httpx2.Response) -> CertificateRecordInfo:
        assert response.status_code == 200, response.text
        return CertificateRecordInfo.model_validate(response.json())


def _error(response: httpx2.Response) -> tuple[int, str | None, str]:
    body = NetSuiteErrorBody.model_validate(response.json())
    return response.status_code, body.error_code, body.message


@pytest.fixture
def restlet(emulator: RunningEmulator) -> Iterator[RestletCaller]:
    with httpx2.Client(timeout=httpx2.Timeout(30.0)) as http:
        yield RestletCaller(emulator, http)


class TestBundle:
    def test_placeholder_installed(self, restlet: RestletCaller) -> None:
        """The OpenAir bundle's record exists with the bundled placeholder, which is not valid."""
        info = restlet.info(restlet.call("GET", record=SCRIPT_ID))
        assert info.script_id == SCRIPT_ID
        assert info.name == "OpenAir real-time"
        assert info.file_name == "openair-certificate.pem"
        assert info.is_placeholder
        assert not info.valid
        assert info.fingerprint_sha256 == placeholder_fingerprint()
        assert "PRIVATE KEY" not in restlet.call("GET", record=SCRIPT_ID).text

    def test_installed_once(self, emulator: RunningEmulator, restlet: RestletCaller) -> None:
        """A deleted bundle record stays deleted: installing the bundle again adds nothing."""
        restlet.call("DELETE", record=SCRIPT_ID)
        answer = emulator._admin("POST", "/records/install-bundle")
        assert answer["installed"] is False
        assert restlet.call("GET", record=SCRIPT_ID).status_code == 404

    def test_list(self, restlet: RestletCaller) -> None:
        """Without ?record= the RESTlet lists the account's records."""
        answer = restlet.call("GET")
        assert [item["script_id"] for item in answer.json()["records"]] == [SCRIPT_ID]


class TestRestlet:
    def test_missing_record_has_seed_text(self, restlet: RestletCaller) -> None:
        """A missing record answers 404 with 'Certificate "<script id>" not found'."""
        status, code, message = _error(restlet.call("GET", record="custcertificate_gone"))
        assert (status, code) == (404, "NONEXISTENT_ID")
        assert message == 'Certificate "custcertificate_gone" not found'

    def test_replace_file_pem(self, restlet: RestletCaller) -> None:
        """PUT replaces the file with a PEM holding key and certificate; the placeholder is gone."""
        _key, pem = _pem_file()
        info = restlet.info(restlet.call("PUT", body={"script_id": SCRIPT_ID, "file_content": pem}))
        assert not info.is_placeholder
        assert info.valid
        assert info.key_type == "EC"
        assert (
            restlet.info(restlet.call("GET", record=SCRIPT_ID)).fingerprint_sha256 == info.fingerprint_sha256
        )

    def test_replace_file_pkcs12(self, restlet: RestletCaller) -> None:
        """A PKCS#12 file with its password is accepted."""
        key = generate_private_key(KeySpec.EC_P256)
        certificate = build_self_signed_certificate(key, common_name="p12", validity_days=30)
        der = pkcs12.serialize_key_and_certificates(
            b"x", key, certificate, None, serialization.BestAvailableEncryption(b"s3cret")
        )
        body = {
            "script_id": "_oa_realtime",
            "file_format": "pkcs12",
            "file_name": "oa.p12",
            "file_content": base64.b64encode(der).decode(),
            "password": "s3cret",
        }
        info = restlet.info(restlet.call("PUT", body=body))
        assert info.file_format == "pkcs12"
        assert info.subject == "CN=p12"

    @pytest.mark.parametrize(
        ("body", "words"),
        [
            (
                {"file_content": "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"},
                "certificate",
            ),
            ({"file_format": "pkcs12", "file_content": "@@@"}, "base64"),
            ({"file_format": "pkcs12", "file_content": base64.b64encode(b"junk").decode()}, "PKCS#12"),
            ({"file_content": "x", "unexpected": 1}, "unexpected"),
            ({}, "file_content"),
        ],
        ids=["garbage-pem", "p12-not-base64", "p12-garbage", "extra-field", "no-file"],
    )
    def test_bad_bodies(self, restlet: RestletCaller, body: dict[str, Any], words: str) -> None:
        """Unreadable files and bodies are refused with 400 and the record keeps its file."""
        response = restlet.call("PUT", body={"script_id": SCRIPT_ID, **body})
        status, _code, message = _error(response)
        assert status == 400
        assert words in message
        assert restlet.info(restlet.call("GET", record=SCRIPT_ID)).is_placeholder

    def test_certificate_without_key(self, restlet: RestletCaller) -> None:
        """A certificate alone is refused: NetSuite needs the key to sign."""
        _key, pem = _pem_file()
        only_certificate = pem.split("-----BEGIN PRIVATE KEY-----")[0]
        _status, code, message = _error(
            restlet.call("PUT", body={"script_id": SCRIPT_ID, "file_content": only_certificate})
        )
        assert code == "INVALID_CERTIFICATE"
        assert "no private key" in message

    def test_key_of_another_certificate(self, restlet: RestletCaller) -> None:
        """A key that does not belong to the certificate is refused."""
        _key, pem = _pem_file()
        other_key = private_key_to_pem(generate_private_key(KeySpec.EC_P256)).decode()
        mixed = pem.split("-----BEGIN PRIVATE KEY-----")[0] + other_key
        _status, _code, message = _error(
            restlet.call("PUT", body={"script_id": SCRIPT_ID, "file_content": mixed})
        )
        assert "does not belong" in message

    def test_weak_rsa_key(self, restlet: RestletCaller) -> None:
        """RSA keys under 2048 bits are refused."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
        certificate = build_self_signed_certificate(key, common_name="weak", validity_days=30)  # type: ignore[arg-type]
        pem = certificate_to_pem(certificate) + private_key_to_pem(key).decode()  # type: ignore[arg-type]
        _status, _code, message = _error(
            restlet.call("PUT", body={"script_id": SCRIPT_ID, "file_content": pem})
        )
        assert "too weak" in message

    def test_create_delete_create(self, restlet: RestletCaller) -> None:
        """POST creates a record (400 INVALID_CONTENT if it exists, as the RESTlet), DELETE removes it,
        and it can be recreated."""
        _key, pem = _pem_file()
        body = {"script_id": "_second", "name": "Second", "file_content": pem}
        created = restlet.info(restlet.call("POST", body=body))
        assert created.script_id == "custcertificate_second"
        assert _error(restlet.call("POST", body=body)) == (
            400,
            "INVALID_CONTENT",
            'Certificate "custcertificate_second" already exists.',
        )
        assert restlet.call("DELETE", record="custcertificate_second").json() == {
            "deleted": "custcertificate_second"
        }
        assert restlet.call("DELETE", record="custcertificate_second").status_code == 404
        assert restlet.call("POST", body=body).status_code == 200

    def test_create_needs_name(self, restlet: RestletCaller) -> None:
        """A record without a name is refused."""
        _key, pem = _pem_file()
        assert restlet.call("POST", body={"script_id": "_x", "file_content": pem}).status_code == 400

    def test_bad_token(self, restlet: RestletCaller) -> None:
        """No token or a forged one answers 401 INVALID_LOGIN."""
        assert _error(restlet.call("GET", record=SCRIPT_ID, token=None))[:2] == (401, "INVALID_LOGIN")
        assert _error(restlet.call("GET", record=SCRIPT_ID, token="forged"))[:2] == (401, "INVALID_LOGIN")

    def test_role_without_permission(self, emulator: RunningEmulator, restlet: RestletCaller) -> None:
        """A role without Certificate Management answers 403."""
        entity_id, role_id = emulator.add_m2m_combination()
        token = emulator.management_token(entity_id=entity_id, role_id=role_id)
        assert _error(restlet.call("GET", record=SCRIPT_ID, token=token))[:2] == (
            403,
            "INSUFFICIENT_PERMISSION",
        )

    def test_token_without_restlets_scope(self, emulator: RunningEmulator, restlet: RestletCaller) -> None:
        """A token without the restlets scope answers 403."""
        token = emulator._admin("POST", "/management-tokens", {"scopes": ["rest_webservices"]})[
            "access_token"
        ]
        status, _code, message = _error(restlet.call("GET", record=SCRIPT_ID, token=token))
        assert status == 403
        assert "restlets" in message

    def test_unknown_script(self, restlet: RestletCaller) -> None:
        """Another script ID is not the records RESTlet."""
        assert _error(restlet.call("GET", record=SCRIPT_ID, script="customscript_other"))[:2] == (
            400,
            "SSS_INVALID_SCRIPTLET_ID",
        )

    @pytest.mark.parametrize("deploy", ["1", "customdeploy_certrotor_certificates"])
    def test_deployment_by_number_or_script_id(self, restlet: RestletCaller, deploy: str) -> None:
        """NetSuite takes the deployment as its number or its script ID (the SuiteCloud project's)."""
        assert restlet.info(restlet.call("GET", record=SCRIPT_ID, deploy=deploy)).script_id == SCRIPT_ID

    def test_unknown_deployment(self, restlet: RestletCaller) -> None:
        """Another deployment is not the records RESTlet's."""
        refused = restlet.call("GET", record=SCRIPT_ID, deploy="customdeploy_other")
        assert _error(refused)[:2] == (400, "SSS_INVALID_SCRIPTLET_ID")


class TestSendImport:
    def test_signed_with_the_record_key(self, records: RecordsAdmin, restlet: RestletCaller) -> None:
        """The emulator signs the import query with the record's current key, as SuiteScript does."""
        _key, pem = _pem_file()
        info = restlet.info(restlet.call("PUT", body={"script_id": SCRIPT_ID, "file_content": pem}))
        sent = records.send_import(SCRIPT_ID, UNREACHABLE_RECEIVER, ns_id="42", record_type="project")
        assert sent["status_code"] is None
        assert "ConnectError" in sent["answer"]
        assert sent["url"].startswith(UNREACHABLE_RECEIVER + "/netsuite.pl?action=synchronize&db_id=4030059")
        assert sent["fingerprint_sha256"] == info.fingerprint_sha256
        verifier = Verifier(load_certificate_pem(info.certificate), "current")
        accepted = verify_import_request(
            sent["url"].split("?", 1)[1], [verifier], now=utcnow(), replay_cache=None
        )
        assert accepted.params["ns_id"] == "42"
        assert accepted.params["record_type"] == "project"
        assert accepted.params["netsuite_user_id"] == "7"

    def test_records_the_receiver_answer(self, records: RecordsAdmin, restlet: RestletCaller) -> None:
        """What the receiver answered is returned and kept in the emulator's import log."""
        _key, pem = _pem_file()
        info = restlet.info(restlet.call("PUT", body={"script_id": SCRIPT_ID, "file_content": pem}))
        verifier = Verifier(load_certificate_pem(info.certificate), "current")
        with running_receiver(create_receiver_app(lambda: [verifier])) as url:
            sent = records.send_import(SCRIPT_ID, url)
        assert sent["status_code"] == 200
        assert '"accepted"' in sent["answer"]
        logged = records.imports()
        assert [(item["script_id"], item["status_code"]) for item in logged] == [(SCRIPT_ID, 200)]

    def test_missing_record(self, records: RecordsAdmin) -> None:
        """No record, no request: the admin call answers the seed's error."""
        with pytest.raises(EmulatorAdminError, match='Certificate \\\\"custcertificate_gone\\\\" not found'):
            records.send_import("custcertificate_gone", UNREACHABLE_RECEIVER)
