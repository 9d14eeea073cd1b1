"""Reading a delivered credential in an application: ``certrotor.read_delivered`` and its ``M2MAuth``."""

from __future__ import annotations

from pathlib import Path

import httpx2
import pytest

from certrotor import BearerTokenAuth, NetSuiteClient, read_delivered
from certrotor.crypto import (
    KeySpec,
    build_self_signed_certificate,
    certificate_to_pem,
    fingerprint_sha256,
    generate_private_key,
    private_key_to_pem,
)
from certrotor.delivery import deliver_files
from certrotor.emulator.testing import RunningEmulator
from certrotor.errors import DeliveryError


def _deliver(emulator: RunningEmulator, directory: Path) -> str:
    """Upload a new certificate to the emulator and deliver it as a rotation does; its ID."""
    tenant = emulator.tenant
    key = generate_private_key(KeySpec.parse("ec-p256"))
    certificate = build_self_signed_certificate(key, common_name="app1", validity_days=30)
    pem = certificate_to_pem(certificate)
    with NetSuiteClient(
        emulator.endpoints, client_id=tenant.client_id, auth=BearerTokenAuth(tenant.admin_token)
    ) as admin:
        uploaded = admin.upload_certificate(pem, entity=tenant.entity_id, role=tenant.role_id)
    certificate_id = uploaded.certificate_id
    deliver_files(
        directory,
        private_key_pem=private_key_to_pem(key),
        certificate_pem=pem,
        metadata={
            "credential": "app1",
            "certificate_id": certificate_id,
            "algorithm": "ES256",
            "client_id": tenant.client_id,
            "account_id": tenant.account_id,
            "token_url": emulator.endpoints.token_url,
            "scopes": ["rest_webservices"],
            "not_before": certificate.not_valid_before_utc.isoformat(),
            "not_after": certificate.not_valid_after_utc.isoformat(),
            "fingerprint_sha256": fingerprint_sha256(certificate),
        },
    )
    return certificate_id


class TestReadDelivered:
    def test_an_application_calls_netsuite_with_the_delivered_credential(
        self, emulator: RunningEmulator, tmp_path: Path
    ) -> None:
        """The delivered key signs the client assertion; the REST call with its token answers 200."""
        certificate_id = _deliver(emulator, tmp_path / "app1")

        credential = read_delivered(tmp_path / "app1")
        with httpx2.Client(auth=credential.auth()) as netsuite:
            answer = netsuite.get(credential.rest_url("record/v1/employee/7"))

        assert answer.status_code == 200
        assert (credential.credential, credential.certificate_id) == ("app1", certificate_id)
        assert credential.rest_url("/record/v1/x") == emulator.base_url + "/services/rest/record/v1/x"

    def test_the_repr_shows_no_key(self, emulator: RunningEmulator, tmp_path: Path) -> None:
        """Neither the private key nor the certificate PEM is in the repr."""
        _deliver(emulator, tmp_path / "app1")

        text = repr(read_delivered(tmp_path / "app1"))

        assert "private_key" not in text
        assert "BEGIN" not in text

    def test_a_missing_directory_is_one_error_with_the_fix(self, tmp_path: Path) -> None:
        """A directory with nothing delivered: DeliveryError naming the file and what to do."""
        with pytest.raises(DeliveryError) as caught:
            read_delivered(tmp_path / "nothing")

        assert str(caught.value) == (
            f"Cannot read {tmp_path / 'nothing' / 'key.pem'}: No such file or directory. Fix: give the "
            "credential's delivery directory (`certrotor credential show NAME`) and run the application "
            "as a user that may read it (the files are mode 0600)."
        )

    def test_files_of_two_certificates_are_refused(self, emulator: RunningEmulator, tmp_path: Path) -> None:
        """A key.pem from another delivery than cert.pem and credential.json is never used."""
        _deliver(emulator, tmp_path / "first")
        _deliver(emulator, tmp_path / "second")
        (tmp_path / "second" / "key.pem").write_bytes((tmp_path / "first" / "key.pem").read_bytes())

        with pytest.raises(DeliveryError, match="do not belong together"):
            read_delivered(tmp_path / "second")
