"""Key pairs and self-signed X.509 certificates NetSuite accepts; pure, no I/O.

NetSuite accepts RSA 3072/4096 and EC P-256/P-384/P-521 certificates valid for at most two years.
"""

from __future__ import annotations

import datetime as dt
import enum
import secrets
from dataclasses import dataclass
from typing import TypeAlias

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from certrotor.errors import CertificateError, InputError

PrivateKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PublicKey: TypeAlias = rsa.RSAPublicKey | ec.EllipticCurvePublicKey

MAX_VALIDITY_DAYS = 730
"""NetSuite's maximum certificate validity: two years."""

MIN_RSA_BITS = 3072
ACCEPTED_RSA_BITS = frozenset({3072, 4096})
ACCEPTED_CURVES: dict[str, int] = {"secp256r1": 256, "secp384r1": 384, "secp521r1": 521}


class KeySpec(enum.StrEnum):
    """Key types certrotor generates, named as the CLI's ``--key`` option spells them."""

    EC_P256 = "ec-p256"
    EC_P384 = "ec-p384"
    EC_P521 = "ec-p521"
    RSA_3072 = "rsa-3072"
    RSA_4096 = "rsa-4096"

    @classmethod
    def parse(cls, value: str) -> KeySpec:
        try:
            return cls(value.strip().lower())
        except ValueError:
            choices = ", ".join(spec.value for spec in cls)
            raise InputError(
                f"Unknown key type {value!r}.", hint=f"choose one of: {choices}."
            ) from None


_CURVES: dict[KeySpec, ec.EllipticCurve] = {
    KeySpec.EC_P256: ec.SECP256R1(),
    KeySpec.EC_P384: ec.SECP384R1(),
    KeySpec.EC_P521: ec.SECP521R1(),
}
_RSA_BITS: dict[KeySpec, int] = {KeySpec.RSA_3072: 3072, KeySpec.RSA_4096: 4096}
_EC_ALGORITHMS = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
_RSA_ALGORITHMS = {3072: "PS256", 4096: "PS256"}


def generate_private_key(spec: KeySpec) -> PrivateKey:
    """Generate a fresh private key of the given type."""
    if spec in _CURVES:
        return ec.generate_private_key(_CURVES[spec])
    return rsa.generate_private_key(public_exponent=65537, key_size=_RSA_BITS[spec])


def utcnow() -> dt.datetime:
    """The current time, timezone-aware, in UTC (time-machine patches it in tests)."""
    return dt.datetime.now(dt.UTC)


def build_self_signed_certificate(
    private_key: PrivateKey,
    *,
    common_name: str,
    validity_days: int,
    organization: str | None = None,
    not_before: dt.datetime | None = None,
    validity: dt.timedelta | None = None,
) -> x509.Certificate:
    """A self-signed certificate for ``private_key``, like ``openssl req -x509`` makes.

    ``validity`` (a precise duration, for short-lived demo and test certificates) overrides
    ``validity_days``; neither may exceed two years.
    """
    lifetime = validity if validity is not None else dt.timedelta(days=validity_days)
    if lifetime <= dt.timedelta(0):
        raise InputError("Certificate validity must be positive.", hint="give at least 1 day.")
    if lifetime > dt.timedelta(days=MAX_VALIDITY_DAYS):
        raise CertificateError(
            f"Validity of {lifetime.days} days exceeds NetSuite's maximum of {MAX_VALIDITY_DAYS}.",
            hint=f"use --validity-days {MAX_VALIDITY_DAYS} or less.",
        )
    if not common_name.strip():
        raise InputError("The certificate subject is empty.", hint="give a common name.")
    start = (not_before or utcnow()).replace(microsecond=0)
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])]
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization[:64]))
    name = x509.Name(attributes)
    public_key = private_key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(int.from_bytes(secrets.token_bytes(16), "big") >> 1)
        .not_valid_before(start)
        .not_valid_after(start + lifetime)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    return builder.sign(private_key, hashes.SHA256())


def private_key_to_pem(private_key: PrivateKey) -> bytes:
    """Unencrypted PKCS#8 PEM, as ``openssl req -nodes`` writes it."""
    return private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def certificate_to_pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _as_bytes(pem: str | bytes) -> bytes:
    return pem.encode("utf-8") if isinstance(pem, str) else pem


def load_certificate_pem(pem: str | bytes) -> x509.Certificate:
    """Parse one PEM certificate, refusing keys and garbage with a clear error."""
    data = _as_bytes(pem).strip()
    if b"PRIVATE KEY-----" in data and b"BEGIN CERTIFICATE" not in data:
        raise CertificateError(
            "A private key was given where a certificate belongs.",
            hint="give the certificate file (-----BEGIN CERTIFICATE-----), never the key.",
        )
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise CertificateError(
            "This is not a PEM certificate (no -----BEGIN CERTIFICATE----- block).",
            hint="give an X.509 certificate in PEM form (.pem, .cer or .crt).",
        )
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError:
        raise CertificateError(
            "The PEM certificate is malformed and cannot be parsed.",
            hint="regenerate it with `certrotor keygen` or check that the file is complete.",
        ) from None


def load_private_key_pem(pem: str | bytes) -> PrivateKey:
    """Parse an unencrypted PEM private key of a type NetSuite accepts."""
    try:
        key = serialization.load_pem_private_key(_as_bytes(pem), password=None)
    except (ValueError, TypeError):
        raise CertificateError(
            "The private key is malformed, encrypted or not PEM.",
            hint="give an unencrypted PEM private key, as `certrotor keygen` writes it.",
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise CertificateError(
            f"Unsupported private key type {type(key).__name__}.",
            hint="use an RSA 3072/4096 or EC P-256/P-384/P-521 key.",
        )
    check_public_key_accepted(key.public_key())
    return key


def check_public_key_accepted(public_key: object) -> PublicKey:
    """Refuse keys NetSuite does not accept: RSA below 3072 bits, curves other than P-256/384/521."""
    if isinstance(public_key, rsa.RSAPublicKey):
        if public_key.key_size < MIN_RSA_BITS:
            raise CertificateError(
                f"RSA key of {public_key.key_size} bits is too weak.",
                hint="use RSA 3072 or 4096 bits, or an EC key (--key ec-p256).",
            )
        if public_key.key_size not in ACCEPTED_RSA_BITS:
            raise CertificateError(
                f"RSA key of {public_key.key_size} bits is not accepted by NetSuite.",
                hint="use RSA 3072 or 4096 bits.",
            )
        return public_key
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        if public_key.curve.name not in ACCEPTED_CURVES:
            raise CertificateError(
                f"Elliptic curve {public_key.curve.name} is not supported.",
                hint="use P-256, P-384 or P-521 (--key ec-p256, ec-p384 or ec-p521).",
            )
        return public_key
    raise CertificateError(
        f"Unsupported key type {type(public_key).__name__}.",
        hint="use an RSA 3072/4096 or EC P-256/P-384/P-521 key.",
    )


def jws_algorithm_for_key(key: PrivateKey | PublicKey) -> str:
    """The JWS ``alg`` NetSuite accepts for this key: PS256 for RSA, ES256/384/512 for EC."""
    public_key = (
        key.public_key() if isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) else key
    )
    checked = check_public_key_accepted(public_key)
    if isinstance(checked, ec.EllipticCurvePublicKey):
        return _EC_ALGORITHMS[checked.curve.name]
    return _RSA_ALGORITHMS[checked.key_size]


def key_algorithm_name(key: PrivateKey | PublicKey) -> str:
    """NetSuite's ``algorithm`` field: ``RSA`` or ``EC``."""
    return (
        "EC" if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) else "RSA"
    )


def fingerprint_sha256(certificate: x509.Certificate) -> str:
    """Lower-case hex SHA-256 of the DER certificate."""
    return certificate.fingerprint(hashes.SHA256()).hex()


def keys_match(private_key: PrivateKey, certificate: x509.Certificate) -> bool:
    """Whether ``certificate`` carries the public half of ``private_key``."""
    fmt = serialization.PublicFormat.SubjectPublicKeyInfo
    enc = serialization.Encoding.DER
    return bool(
        private_key.public_key().public_bytes(enc, fmt)
        == certificate.public_key().public_bytes(enc, fmt)
    )


@dataclass(frozen=True, slots=True)
class CertificateInfo:
    """What ``certrotor cert inspect`` shows about a certificate."""

    key_type: str
    key_size: int
    curve: str | None
    subject: str
    issuer: str
    serial_number: int
    not_before: dt.datetime
    not_after: dt.datetime
    fingerprint_sha256: str
    jws_algorithm: str

    @property
    def validity_days(self) -> float:
        return (self.not_after - self.not_before).total_seconds() / 86400

    def is_valid_at(self, when: dt.datetime) -> bool:
        return self.not_before <= when <= self.not_after


def inspect_certificate(certificate: x509.Certificate) -> CertificateInfo:
    public_key = check_public_key_accepted(certificate.public_key())
    curve = public_key.curve.name if isinstance(public_key, ec.EllipticCurvePublicKey) else None
    return CertificateInfo(
        key_type=key_algorithm_name(public_key),
        key_size=public_key.key_size,
        curve=curve,
        subject=certificate.subject.rfc4514_string(),
        issuer=certificate.issuer.rfc4514_string(),
        serial_number=certificate.serial_number,
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        fingerprint_sha256=fingerprint_sha256(certificate),
        jws_algorithm=jws_algorithm_for_key(public_key),
    )


def check_certificate_usable(
    certificate: x509.Certificate, *, now: dt.datetime | None = None, enforce_max_validity: bool
) -> CertificateInfo:
    """Refuse a certificate NetSuite would refuse: bad key, expired, or (if asked) too long."""
    info = inspect_certificate(certificate)
    moment = now or utcnow()
    if info.not_after <= moment:
        raise CertificateError(
            f"The certificate expired on {info.not_after:%Y-%m-%d %H:%M} UTC.",
            hint="generate a new one with `certrotor keygen` or rotate with `certrotor rotate`.",
        )
    if enforce_max_validity and info.validity_days > MAX_VALIDITY_DAYS + 1:
        raise CertificateError(
            f"The certificate is valid for {info.validity_days:.0f} days, "
            f"over NetSuite's maximum of {MAX_VALIDITY_DAYS}.",
            hint=f"generate it with a validity of at most {MAX_VALIDITY_DAYS} days.",
        )
    return info
