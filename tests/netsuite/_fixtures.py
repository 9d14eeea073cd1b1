"""Certificates for the NetSuite project's Jest tests, and certrotor's own reading of them.

``.venv/bin/python -m tests.netsuite._fixtures`` (from the repository root) writes new files into
``netsuite/__tests__/fixtures/``; ``test_fixtures.py`` checks the committed ``expected.json`` still
says what certrotor's Python code reads from the committed PEM files.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from certrotor.crypto import fingerprint_sha256
from certrotor.protocol.records import PLACEHOLDER_FILE_NAME, placeholder_pem

FIXTURES = Path(__file__).resolve().parents[2] / "netsuite" / "__tests__" / "fixtures"
P12_PASSWORD = "fixture-password"


def facts_of(certificate: x509.Certificate) -> dict[str, Any]:
    """What certrotor (the emulator's ``StoredRecord.info``) says about a certificate."""
    key = certificate.public_key()
    return {
        "certificate": certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        "fingerprint_sha256": fingerprint_sha256(certificate),
        "subject": certificate.subject.rfc4514_string(),
        "issuer": certificate.issuer.rfc4514_string(),
        "key_type": "EC" if isinstance(key, ec.EllipticCurvePublicKey) else "RSA",
        "key_size": key.key_size if isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey) else 0,
        "not_before": certificate.not_valid_before_utc.isoformat().replace("+00:00", "Z"),
        "not_after": certificate.not_valid_after_utc.isoformat().replace("+00:00", "Z"),
    }


def expected_facts(directory: Path = FIXTURES) -> dict[str, dict[str, Any]]:
    """Facts of every ``*.pem`` fixture's certificate, by file name."""
    return {
        path.name: facts_of(x509.load_pem_x509_certificates(path.read_bytes())[0])
        for path in sorted(directory.glob("*.pem"))
    }


def _certificate(key: Any, subject: x509.Name, *, days: int, start: dt.datetime) -> x509.Certificate:
    signing_hash = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .sign(key, signing_hash)
    )


def _pem_file(key: Any, certificate: x509.Certificate) -> str:
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii") + key_pem


def build_fixtures(directory: Path = FIXTURES) -> None:
    """Write the test certificates (test keys only) and ``expected.json``."""
    directory.mkdir(parents=True, exist_ok=True)
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    tricky = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Ex+ample, Inc; <test>"),
            x509.NameAttribute(NameOID.COMMON_NAME, "#certrotor rsa ü "),
        ]
    )
    rsa_key = rsa.generate_private_key(65537, 3072)
    rsa_cert = _certificate(rsa_key, tricky, days=3650, start=start)
    files = {
        "rsa3072.pem": _pem_file(rsa_key, rsa_cert),
        PLACEHOLDER_FILE_NAME: placeholder_pem(),
    }
    for name, curve in (("ec_p256.pem", ec.SECP256R1()), ("ec_p384.pem", ec.SECP384R1())):
        key = ec.generate_private_key(curve)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"certrotor {name}")])
        files[name] = _pem_file(key, _certificate(key, subject, days=3650, start=start))
    weak = rsa.generate_private_key(65537, 1024)
    files["rsa1024_weak.pem"] = _pem_file(
        weak,
        _certificate(
            weak, x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "weak")]), days=30, start=start
        ),
    )
    k1 = ec.generate_private_key(ec.SECP256K1())
    files["ec_secp256k1.pem"] = _pem_file(
        k1, _certificate(k1, x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "k1")]), days=30, start=start)
    )
    ed = ed25519.Ed25519PrivateKey.generate()
    files["ed25519.pem"] = _pem_file(
        ed, _certificate(ed, x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ed")]), days=30, start=start)
    )
    for name, text in files.items():
        (directory / name).write_text(text, encoding="ascii" if text.isascii() else "utf-8")
    der = pkcs12.serialize_key_and_certificates(
        b"certrotor", rsa_key, rsa_cert, None, serialization.BestAvailableEncryption(P12_PASSWORD.encode())
    )
    (directory / "rsa3072.p12.b64").write_text(base64.b64encode(der).decode("ascii") + "\n", encoding="ascii")
    expected = expected_facts(directory)
    (directory / "expected.json").write_text(
        json.dumps(expected, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )


if __name__ == "__main__":
    build_fixtures()
    print(FIXTURES)
