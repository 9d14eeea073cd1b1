"""The signed real-time record import request NetSuite sends to OpenAir (seed 004); pure.

SuiteScript builds the query string below, signs exactly those bytes with the certificate record's
private key (``N/crypto/certificate``, SHA-256: RSA PKCS#1 v1.5 or ECDSA), appends
``&signature=<base64>`` and sends ``GET <receiver>/netsuite.pl?<query>``. certrotor adds
``timestamp`` (Unix seconds) so that a receiver can refuse stale and replayed requests.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from urllib.parse import quote

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

IMPORT_PATH = "/netsuite.pl"
SIGNATURE_PARAM = "signature"
SYNCHRONIZE_ACTION = "synchronize"
SIGNED_FIELDS = ("action", "db_id", "record_type", "ns_id", "netsuite_user_id", "timestamp")
"""The parameters of a signed import request, in the order they are signed."""

SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


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
    "IMPORT_PATH",
    "SIGNATURE_PARAM",
    "SIGNED_FIELDS",
    "SYNCHRONIZE_ACTION",
    "SigningKey",
    "canonical_query",
    "sign_query",
    "signed_query",
]
