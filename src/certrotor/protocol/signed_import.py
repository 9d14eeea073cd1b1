"""The signed real-time record import request NetSuite sends to OpenAir (seed 004); pure.

SuiteScript builds the query string below, signs exactly those bytes with the certificate record's
private key (``N/crypto/certificate``, SHA-256: RSA PKCS#1 v1.5 or ECDSA), appends
``&signature=<base64>`` and sends ``GET <receiver>/netsuite.pl?<query>``. certrotor adds
``timestamp`` (Unix seconds) so that a receiver can refuse stale and replayed requests.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Literal
from urllib.parse import quote

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from pydantic import BaseModel, ConfigDict, Field

IMPORT_PATH = "/netsuite.pl"
SIGNATURE_PARAM = "signature"
SYNCHRONIZE_ACTION = "synchronize"
SIGNED_FIELDS = ("action", "db_id", "record_type", "ns_id", "netsuite_user_id", "timestamp")
"""The parameters of a signed import request, in the order they are signed."""

ECDSA_SIGNATURE_ENCODING: Literal["der"] = "der"
"""ECDSA signatures travel DER-encoded (``SEQUENCE {r, s}``), ``N/crypto/certificate``'s default: the
signer never sets ``useRawFormatForECDSA``. (The receiver also reads raw ``r || s``, leniently.)"""
SIGNATURE_ALGORITHMS = ("RSASSA-PKCS1-v1_5 with SHA-256", "ECDSA with SHA-256")

SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


class SignedImportRequest(BaseModel):
    """The query parameters of ``GET <receiver>/netsuite.pl``, as sent (``signature`` last).

    The signed bytes are :func:`canonical_query` of the other fields, in :data:`SIGNED_FIELDS` order;
    ``signature`` is the standard base64 of an RSA PKCS#1 v1.5 or ECDSA (DER) SHA-256 signature.
    """

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "x-signed-fields": list(SIGNED_FIELDS),
            "x-signature-param": SIGNATURE_PARAM,
            "x-path": IMPORT_PATH,
            "x-ecdsa-signature-encoding": ECDSA_SIGNATURE_ENCODING,
            "x-signature-algorithms": list(SIGNATURE_ALGORITHMS),
        },
    )

    action: str = Field(min_length=1, examples=[SYNCHRONIZE_ACTION])
    db_id: str = Field(min_length=1)
    record_type: str = Field(min_length=1)
    ns_id: str = Field(min_length=1)
    netsuite_user_id: str = Field(min_length=1)
    timestamp: str = Field(pattern=r"^[0-9]+$")
    """Unix seconds of the moment of signing."""
    signature: str = Field(pattern=r"^[A-Za-z0-9+/]+={0,2}$")


def canonical_query(fields: Mapping[str, str]) -> str:
    """``action=...&db_id=...&...&timestamp=...``: the signed bytes, percent-encoded, fixed order."""
    missing = [name for name in SIGNED_FIELDS if name not in fields]
    if missing:
        raise ValueError(f"missing signed field(s): {', '.join(missing)}")
    return "&".join(f"{name}={quote(str(fields[name]), safe='')}" for name in SIGNED_FIELDS)


def sign_query(query: str, private_key: SigningKey) -> str:
    """The standard base64 signature of ``query``'s bytes with SHA-256 (ECDSA signatures in DER)."""
    data = query.encode("utf-8")
    if isinstance(private_key, rsa.RSAPrivateKey):
        signature = private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    else:
        signature = private_key.sign(data, ec.ECDSA(hashes.SHA256()))
    return base64.b64encode(signature).decode("ascii")


def signed_query(fields: Mapping[str, str], private_key: SigningKey) -> str:
    """The whole query string NetSuite sends: the canonical query plus ``&signature=...``."""
    query = canonical_query(fields)
    return f"{query}&{SIGNATURE_PARAM}={quote(sign_query(query, private_key), safe='')}"


__all__ = [
    "ECDSA_SIGNATURE_ENCODING",
    "IMPORT_PATH",
    "SIGNATURE_ALGORITHMS",
    "SIGNATURE_PARAM",
    "SIGNED_FIELDS",
    "SYNCHRONIZE_ACTION",
    "SignedImportRequest",
    "SigningKey",
    "canonical_query",
    "sign_query",
    "signed_query",
]
