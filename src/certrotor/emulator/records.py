"""Certificate records of the emulator (seed 004): their files with key and certificate, and signed imports.

A record is what Setup > Company > Certificates holds: a name, a script ID (``custcertificate_...``)
and a file (PEM with key and certificate, or PKCS#12 with a password) whose key NetSuite signs
with. This module checks such files and sends the signed import requests; ``state/certificate_records.py``
stores the records. Installing the OpenAir bundle (once per account) creates
``custcertificate_oa_realtime`` holding the bundled placeholder.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx2
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from certrotor.crypto import fingerprint_sha256, utcnow
from certrotor.emulator.problems import INVALID_CERTIFICATE, NetSuiteRefusalError
from certrotor.protocol.records import (
    PLACEHOLDER_FILE_NAME,
    CertificateRecordInfo,
    FileFormat,
    placeholder_fingerprint,
    placeholder_pem,
)
from certrotor.protocol.signed_import import (
    IMPORT_PATH,
    SIGNATURE_PARAM,
    SYNCHRONIZE_ACTION,
    SigningKey,
    canonical_query,
    sign_query,
)

MIN_RECORD_RSA_BITS = 2048
RECORD_CURVES = frozenset({"secp256r1", "secp384r1", "secp521r1"})
ANSWER_EXCERPT_CHARS = 2000
SEND_TIMEOUT_SECONDS = 15.0

_PEM_KEY = re.compile(rb"-----BEGIN ((?:RSA |EC |ENCRYPTED )?PRIVATE KEY)-----.+?-----END \1-----", re.DOTALL)


@dataclass(frozen=True, slots=True)
class RecordFile:
    """A record's file, parsed: what NetSuite keeps, and the key it signs with."""

    file_name: str
    file_format: FileFormat
    content: bytes = field(repr=False)
    password: str | None = field(repr=False)
    private_key: SigningKey = field(repr=False)
    certificate: x509.Certificate = field(repr=False)

    @property
    def fingerprint(self) -> str:
        return fingerprint_sha256(self.certificate)


@dataclass(frozen=True, slots=True)
class StoredRecord:
    internal_id: int
    account_id: str
    script_id: str
    name: str
    file: RecordFile = field(repr=False)
    created_at: dt.datetime
    updated_at: dt.datetime

    def info(self, *, now: dt.datetime) -> CertificateRecordInfo:
        """The RESTlet's answer for this record: public facts only."""
        certificate = self.file.certificate
        public_key = certificate.public_key()
        key_type = "EC" if isinstance(public_key, ec.EllipticCurvePublicKey) else "RSA"
        key_size = (
            public_key.key_size if isinstance(public_key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey) else 0
        )
        not_before, not_after = certificate.not_valid_before_utc, certificate.not_valid_after_utc
        return CertificateRecordInfo(
            script_id=self.script_id,
            name=self.name,
            internal_id=self.internal_id,
            file_name=self.file.file_name,
            file_format=self.file.file_format,
            certificate=certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"),
            fingerprint_sha256=self.file.fingerprint,
            subject=certificate.subject.rfc4514_string(),
            issuer=certificate.issuer.rfc4514_string(),
            key_type=key_type,
            key_size=key_size,
            not_before=not_before,
            not_after=not_after,
            is_placeholder=self.file.fingerprint == placeholder_fingerprint(),
            valid=not_before <= now < not_after,
            date_created=self.created_at,
            last_modified=self.updated_at,
        )


@dataclass(frozen=True, slots=True)
class ImportOutcome:
    """A sent import request: where it went, the signed query and the receiver's answer."""

    url: str
    query: str
    signature: str
    fingerprint_sha256: str
    status_code: int | None
    answer: str
    sent_at: dt.datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "query": self.query,
            "signature": self.signature,
            "fingerprint_sha256": self.fingerprint_sha256,
            "status_code": self.status_code,
            "answer": self.answer,
            "sent_at": self.sent_at.isoformat(),
        }


def _refuse(detail: str) -> NetSuiteRefusalError:
    return NetSuiteRefusalError(400, INVALID_CERTIFICATE, detail)


def _check_signing_key(key: object) -> SigningKey:
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < MIN_RECORD_RSA_BITS:
            raise _refuse(
                f"RSA keys of {key.key_size} bits are too weak; use at least {MIN_RECORD_RSA_BITS}."
            )
        return key
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if key.curve.name not in RECORD_CURVES:
            raise _refuse(f"The elliptic curve {key.curve.name} is not supported; use P-256, P-384 or P-521.")
        return key
    raise _refuse(f"Unsupported private key type {type(key).__name__}; use RSA or EC.")


def _parse_pem(data: bytes, password: str | None) -> tuple[SigningKey, x509.Certificate]:
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise _refuse("The file holds no readable PEM certificate (-----BEGIN CERTIFICATE-----).") from None
    blocks = [match.group(0) for match in _PEM_KEY.finditer(data)]
    if not blocks:
        raise _refuse(
            "The file holds no private key; a certificate record needs the key NetSuite signs with "
            "(PEM with the certificate and its key, or PKCS#12)."
        )
    if len(certificates) != 1 or len(blocks) != 1:
        raise _refuse("The PEM file must hold exactly one certificate and one private key.")
    secret = password.encode("utf-8") if password else None
    try:
        key = serialization.load_pem_private_key(blocks[0], secret)
    except (ValueError, TypeError):
        raise _refuse("The private key is malformed, or encrypted and the password is wrong.") from None
    return _check_signing_key(key), certificates[0]


def _parse_pkcs12(data: bytes, password: str | None) -> tuple[SigningKey, x509.Certificate]:
    secret = password.encode("utf-8") if password else None
    try:
        key, certificate, _chain = pkcs12.load_key_and_certificates(data, secret)
    except (ValueError, TypeError):
        raise _refuse(
            "The PKCS#12 file cannot be opened: it is malformed or the password is wrong."
        ) from None
    if key is None or certificate is None:
        raise _refuse("The PKCS#12 file must hold a certificate and its private key.")
    return _check_signing_key(key), certificate


def parse_record_file(
    file_format: FileFormat, file_content: str | bytes, *, file_name: str, password: str | None
) -> RecordFile:
    """NetSuite's checks of an uploaded record file; an expired certificate passes (the placeholder is)."""
    if file_format == "pem":
        raw = file_content.encode("utf-8") if isinstance(file_content, str) else file_content
        key, certificate = _parse_pem(raw, password)
    else:
        if isinstance(file_content, bytes):
            raw = file_content
        else:
            try:
                raw = base64.b64decode(file_content, validate=True)
            except (binascii.Error, ValueError):
                raise _refuse("A PKCS#12 file_content must be base64 text.") from None
        key, certificate = _parse_pkcs12(raw, password)
    fmt = serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(
        serialization.Encoding.DER, fmt
    ) != certificate.public_key().public_bytes(serialization.Encoding.DER, fmt):
        raise _refuse("The private key does not belong to the certificate in the file.")
    return RecordFile(
        file_name=file_name,
        file_format=file_format,
        content=raw,
        password=password,
        private_key=key,
        certificate=certificate,
    )


def placeholder_file() -> RecordFile:
    return parse_record_file("pem", placeholder_pem(), file_name=PLACEHOLDER_FILE_NAME, password=None)


def import_fields(
    *,
    db_id: str,
    record_type: str,
    ns_id: str,
    netsuite_user_id: str,
    timestamp: int,
    action: str = SYNCHRONIZE_ACTION,
) -> dict[str, str]:
    return {
        "action": action,
        "db_id": db_id,
        "record_type": record_type,
        "ns_id": ns_id,
        "netsuite_user_id": netsuite_user_id,
        "timestamp": str(timestamp),
    }


def send_import(record: StoredRecord, receiver_url: str, fields: Mapping[str, str]) -> ImportOutcome:
    """Sign the import query with the record's key and GET ``<receiver>/netsuite.pl?...`` as SuiteScript."""
    query = canonical_query(fields)
    signature = sign_query(query, record.file.private_key)
    url = f"{receiver_url.rstrip('/')}{IMPORT_PATH}?{query}&{SIGNATURE_PARAM}={quote(signature, safe='')}"
    status: int | None = None
    try:
        with httpx2.Client(timeout=httpx2.Timeout(SEND_TIMEOUT_SECONDS), follow_redirects=False) as client:
            response = client.get(url)
        status, answer = response.status_code, response.text[:ANSWER_EXCERPT_CHARS]
    except (httpx2.TransportError, httpx2.InvalidURL) as error:
        answer = f"{type(error).__name__}: {error}"[:ANSWER_EXCERPT_CHARS]
    return ImportOutcome(
        url=url,
        query=query,
        signature=signature,
        fingerprint_sha256=record.file.fingerprint,
        status_code=status,
        answer=answer,
        sent_at=utcnow(),
    )


__all__ = [
    "ImportOutcome",
    "RecordFile",
    "StoredRecord",
    "import_fields",
    "parse_record_file",
    "placeholder_file",
    "send_import",
]
