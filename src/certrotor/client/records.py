"""``RecordClient``: certificate records through the records RESTlet (``certrotor.protocol.records``).

Reads, file replacements and deletions are retried (repeating them changes nothing more); a
create is sent again only when it provably never left. A missing record raises
``RecordNotFoundError`` with seed 004's words and the command that recreates it; an existing one
(409, or the RESTlet's 400 ``INVALID_CONTENT`` with its text) an error that says what to do.
"""

from __future__ import annotations

import base64
import re
import secrets
from typing import Any

import httpx2
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from certrotor.client._http import OwnsHttpClient, build_http_client
from certrotor.client._retry import RetryPolicy
from certrotor.client.responses import error_for_response, parse_json_model, unavailable_error
from certrotor.crypto import PrivateKey, certificate_to_pem, private_key_to_pem
from certrotor.errors import NetSuiteAPIError, RecordNotFoundError, RemoteError, RemoteNotFoundError
from certrotor.logging import get_logger
from certrotor.protocol.records import (
    PLACEHOLDER_FILE_NAME,
    RECORD_QUERY_PARAM,
    RECORDS_RESTLET_DEPLOYMENT_ID,
    RECORDS_RESTLET_SCRIPT,
    RESTLET_PATH,
    CertificateRecordInfo,
    CertificateRecordList,
    FileFormat,
    RecordFileUpload,
    placeholder_pem,
    record_not_found_message,
    record_script_id,
)
from certrotor.protocol.urls import NetSuiteEndpoints

log = get_logger(__name__)

RECORD_FILE_NAME = "certrotor-record.pem"
_NOT_FOUND_CODES = {"NONEXISTENT_ID", "RECORD_NOT_FOUND", "CERTIFICATE_NOT_FOUND"}
_NOT_FOUND_TEXT = re.compile(r'Certificate "[^"]+" not found', re.IGNORECASE)
_EXISTS_CODES = {"INVALID_CONTENT", "DUP_RCRD", "DUPLICATE_RECORD"}
"""Codes a create of an existing record comes back with: the RESTlet's (and emulator's), NetSuite's."""
_EXISTS_TEXT = re.compile(r'Certificate "[^"]+" already exists', re.IGNORECASE)


def recreate_hint(credential_name: str | None) -> str:
    """The fix for a deleted record: the command that recreates it with the placeholder."""
    name = credential_name or "NAME"
    return (
        "the certificate record was deleted in NetSuite; recreate it with "
        f"`certrotor record recreate {name}`."
    )


def record_file_upload(
    script_id: str,
    private_key: PrivateKey,
    certificate: x509.Certificate,
    *,
    file_format: FileFormat = "pem",
    name: str | None = None,
) -> RecordFileUpload:
    """The body that puts ``private_key`` and ``certificate`` into a record (PEM, or password PKCS#12)."""
    if file_format == "pem":
        content = certificate_to_pem(certificate) + private_key_to_pem(private_key).decode("ascii")
        return RecordFileUpload(
            script_id=script_id,
            name=name,
            file_name=RECORD_FILE_NAME,
            file_format="pem",
            file_content=content,
        )
    # A fresh password per upload: it only protects the file in transit and in NetSuite's copy.
    password = secrets.token_urlsafe(24)
    der = pkcs12.serialize_key_and_certificates(
        b"certrotor", private_key, certificate, None, serialization.BestAvailableEncryption(password.encode())
    )
    return RecordFileUpload(
        script_id=script_id,
        name=name,
        file_name=RECORD_FILE_NAME.replace(".pem", ".p12"),
        file_format="pkcs12",
        file_content=base64.b64encode(der).decode("ascii"),
        password=password,
        # The deployed RESTlet cannot open a PKCS#12 file to describe the record: it reads this.
        certificate=certificate_to_pem(certificate),
    )


class RecordClient(OwnsHttpClient):
    """One account's certificate records over one ``httpx2.Client`` (a context manager).

    ``auth`` is a bearer auth for a role with the Certificate Access permission and the
    ``restlets`` scope; ``credential_name`` names the credential in the fix hints; ``script`` and
    ``deploy`` say where the RESTlet is deployed (the SuiteCloud project's IDs by default).
    """

    def __init__(
        self,
        endpoints: NetSuiteEndpoints,
        *,
        auth: httpx2.Auth | None,
        verify_tls: bool = True,
        timeout: float = 30,
        transport: httpx2.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        credential_name: str | None = None,
        script: str = RECORDS_RESTLET_SCRIPT,
        deploy: str = RECORDS_RESTLET_DEPLOYMENT_ID,
    ) -> None:
        self.endpoints = endpoints
        self.credential_name = credential_name
        self._retry = retry or RetryPolicy()
        self._params = {"script": script, "deploy": deploy}
        self._http = build_http_client(auth=auth, verify_tls=verify_tls, timeout=timeout, transport=transport)

    @property
    def url(self) -> str:
        return self.endpoints.api_base + RESTLET_PATH

    def __repr__(self) -> str:
        return f"RecordClient(api_base={self.endpoints.api_base!r})"

    # -- operations ----------------------------------------------------------------------------

    def get(self, script_id: str) -> CertificateRecordInfo:
        """The record's metadata; ``RecordNotFoundError`` if it does not exist."""
        script_id = record_script_id(script_id)
        operation = f"reading certificate record {script_id}"
        response = self._idempotent("GET", operation, params={RECORD_QUERY_PARAM: script_id})
        self._raise_for_status(response, operation, script_id)
        return parse_json_model(response, CertificateRecordInfo, operation=operation)

    def list_records(self) -> list[CertificateRecordInfo]:
        operation = "listing certificate records"
        response = self._idempotent("GET", operation)
        self._raise_for_status(response, operation, None)
        return parse_json_model(response, CertificateRecordList, operation=operation).records

    def replace_file(
        self,
        script_id: str,
        private_key: PrivateKey,
        certificate: x509.Certificate,
        *,
        file_format: FileFormat = "pem",
    ) -> CertificateRecordInfo:
        """Put the key and certificate into the record (the key travels: NetSuite signs with it)."""
        script_id = record_script_id(script_id)
        body = record_file_upload(script_id, private_key, certificate, file_format=file_format)
        operation = f"replacing the file of certificate record {script_id}"
        response = self._idempotent("PUT", operation, json=body.model_dump(exclude_none=True))
        self._raise_for_status(response, operation, script_id)
        return parse_json_model(response, CertificateRecordInfo, operation=operation)

    def create(
        self,
        record_id: str,
        name: str,
        *,
        file_content: str | None = None,
        file_name: str = PLACEHOLDER_FILE_NAME,
        file_format: FileFormat = "pem",
        password: str | None = None,
    ) -> CertificateRecordInfo:
        """Create a record; without ``file_content`` it holds the bundled placeholder (seed 004)."""
        script_id = record_script_id(record_id)
        body = RecordFileUpload(
            script_id=script_id,
            name=name,
            file_name=file_name,
            file_format=file_format,
            file_content=file_content if file_content is not None else placeholder_pem(),
            password=password,
        )
        operation = f"creating certificate record {script_id}"

        try:
            response = self._send_creation(
                lambda: self._build("POST", json=body.model_dump(exclude_none=True)), operation=operation
            )
        except httpx2.TransportError as exc:
            raise unavailable_error(exc, operation=operation) from exc
        self._raise_for_status(response, operation, script_id, creating=True)
        return parse_json_model(response, CertificateRecordInfo, operation=operation)

    def delete(self, script_id: str) -> None:
        script_id = record_script_id(script_id)
        operation = f"deleting certificate record {script_id}"
        response = self._idempotent("DELETE", operation, params={RECORD_QUERY_PARAM: script_id})
        self._raise_for_status(response, operation, script_id)

    # -- sending -------------------------------------------------------------------------------

    def _build(
        self, method: str, *, params: dict[str, str] | None = None, json: Any = None
    ) -> httpx2.Request:
        return self._http.build_request(
            method, self.url, params={**self._params, **(params or {})}, json=json
        )

    def _idempotent(
        self, method: str, operation: str, *, params: dict[str, str] | None = None, json: Any = None
    ) -> httpx2.Response:
        return self._send_idempotent(
            lambda: self._build(method, params=params, json=json), operation=operation
        )

    def _raise_for_status(
        self, response: httpx2.Response, operation: str, script_id: str | None, *, creating: bool = False
    ) -> None:
        if response.is_success:
            return
        response.read()
        error = error_for_response(response, operation=operation)
        if creating and script_id is not None and _means_exists(error):
            assert isinstance(error, NetSuiteAPIError)
            name = self.credential_name or "NAME"
            raise NetSuiteAPIError(
                f'Certificate "{script_id}" already exists; nothing was changed.',
                status_code=error.status_code,
                error_code=error.error_code,
                hint=f"a rotation replaces its file: `certrotor rotate {name}` "
                f"(`certrotor record show {name}` shows what it holds).",
            )
        if script_id is not None and _means_not_found(error):
            assert isinstance(error, NetSuiteAPIError)
            raise RecordNotFoundError(
                record_not_found_message(script_id),
                status_code=error.status_code,
                error_code=error.error_code,
                hint=recreate_hint(self.credential_name),
            )
        raise error


def _means_not_found(error: RemoteError) -> bool:
    if isinstance(error, RemoteNotFoundError):
        return True
    return isinstance(error, NetSuiteAPIError) and (
        error.error_code in _NOT_FOUND_CODES or bool(_NOT_FOUND_TEXT.search(error.message))
    )


def _means_exists(error: RemoteError) -> bool:
    """A create refused because the record exists: 409, or the RESTlet's 400 with its code or text."""
    if not isinstance(error, NetSuiteAPIError):
        return False
    if error.status_code == 409 or _EXISTS_TEXT.search(error.message):
        return True
    return error.status_code == 400 and error.error_code in _EXISTS_CODES and "exist" in error.message.lower()


__all__ = ["RecordClient", "record_file_upload", "recreate_hint"]
