"""Crypto: key pairs, self-signed certificates, PEM parsing, fingerprints, inspection and refusals."""

from __future__ import annotations

import datetime as dt
import hashlib
import re

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from certrotor import crypto
from certrotor.crypto import KeySpec, PrivateKey
from certrotor.errors import CertificateError, InputError

NOW = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)

SPEC_FACTS = {
    KeySpec.EC_P256: ("EC", 256, "secp256r1", "ES256"),
    KeySpec.EC_P384: ("EC", 384, "secp384r1", "ES384"),
    KeySpec.EC_P521: ("EC", 521, "secp521r1", "ES512"),
    KeySpec.RSA_3072: ("RSA", 3072, None, "PS256"),
    KeySpec.RSA_4096: ("RSA", 4096, None, "PS256"),
}


@pytest.fixture(scope="module")
def keys() -> dict[KeySpec, PrivateKey]:
    """One key per spec, generated once (RSA 4096 takes a moment)."""
    return {spec: crypto.generate_private_key(spec) for spec in KeySpec}


@pytest.fixture(scope="module")
def ec_key(keys: dict[KeySpec, PrivateKey]) -> PrivateKey:
    return keys[KeySpec.EC_P256]


def raw_certificate(private_key: object, *, days: int, not_before: dt.datetime = NOW) -> x509.Certificate:
    """A certificate built with pyca directly, to feed certrotor keys and validities it never makes."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "outsider")])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())  # type: ignore[attr-defined]
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_before + dt.timedelta(days=days))
    )
    algorithm = None if isinstance(private_key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(private_key, algorithm)  # type: ignore[arg-type]


class TestKeySpec:
    @pytest.mark.parametrize(
        ("text", "spec"), [("ec-p256", KeySpec.EC_P256), (" RSA-4096 ", KeySpec.RSA_4096)]
    )
    def test_parse_is_lenient_on_case_and_spaces(self, text: str, spec: KeySpec) -> None:
        """``--key`` values parse regardless of case and surrounding spaces."""
        assert KeySpec.parse(text) is spec

    def test_parse_refuses_unknown_with_choices(self) -> None:
        """An unknown key type is an InputError listing every accepted value."""
        with pytest.raises(InputError, match="Unknown key type 'rsa-2048'") as caught:
            KeySpec.parse("rsa-2048")
        assert caught.value.hint == "choose one of: ec-p256, ec-p384, ec-p521, rsa-3072, rsa-4096."


class TestGenerate:
    @pytest.mark.parametrize("spec", list(KeySpec))
    def test_each_spec_generates_its_key(self, spec: KeySpec, keys: dict[KeySpec, PrivateKey]) -> None:
        """Every key spec yields a key of the right family, size or curve, and JWS algorithm."""
        key = keys[spec]
        family, size, curve, algorithm = SPEC_FACTS[spec]
        assert crypto.key_algorithm_name(key) == family
        assert key.key_size == size
        if curve is None:
            assert isinstance(key, rsa.RSAPrivateKey)
        else:
            assert isinstance(key, ec.EllipticCurvePrivateKey)
            assert key.curve.name == curve
        assert crypto.jws_algorithm_for_key(key) == algorithm
        assert crypto.jws_algorithm_for_key(key.public_key()) == algorithm

    def test_keys_are_fresh(self) -> None:
        """Two generated keys differ."""
        first = crypto.generate_private_key(KeySpec.EC_P256)
        second = crypto.generate_private_key(KeySpec.EC_P256)
        assert crypto.private_key_to_pem(first) != crypto.private_key_to_pem(second)


class TestBuildCertificate:
    @pytest.mark.parametrize("spec", list(KeySpec))
    def test_self_signed_with_subject_and_validity(
        self, spec: KeySpec, keys: dict[KeySpec, PrivateKey]
    ) -> None:
        """The certificate carries the subject, is issued by itself, signed by the key and valid N days."""
        key = keys[spec]
        certificate = crypto.build_self_signed_certificate(
            key, common_name="acme-m2m", organization="Acme", validity_days=365, not_before=NOW
        )
        assert certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "acme-m2m"
        assert certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Acme"
        assert certificate.issuer == certificate.subject
        certificate.verify_directly_issued_by(certificate)
        assert certificate.not_valid_before_utc == NOW
        assert certificate.not_valid_after_utc == NOW + dt.timedelta(days=365)
        assert crypto.keys_match(key, certificate)
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
        assert constraints.critical
        assert not constraints.value.ca

    def test_precise_validity_for_short_lived_certificates(self, ec_key: PrivateKey) -> None:
        """A precise ``validity`` (minutes, for demos) overrides validity_days."""
        certificate = crypto.build_self_signed_certificate(
            ec_key, common_name="demo", validity_days=365, validity=dt.timedelta(minutes=3), not_before=NOW
        )
        assert certificate.not_valid_after_utc - certificate.not_valid_before_utc == dt.timedelta(minutes=3)

    def test_serials_are_random_and_positive(self, ec_key: PrivateKey) -> None:
        """Each certificate gets a new positive serial number."""
        serials = {
            crypto.build_self_signed_certificate(ec_key, common_name="c", validity_days=1).serial_number
            for _ in range(5)
        }
        assert len(serials) == 5
        assert all(serial > 0 for serial in serials)

    def test_two_years_is_the_maximum_accepted(self, ec_key: PrivateKey) -> None:
        """Exactly 730 days is accepted."""
        certificate = crypto.build_self_signed_certificate(ec_key, common_name="c", validity_days=730)
        assert crypto.inspect_certificate(certificate).validity_days == 730

    def test_refuses_validity_over_two_years(self, ec_key: PrivateKey) -> None:
        """731 days is refused with NetSuite's maximum in the message."""
        with pytest.raises(CertificateError) as caught:
            crypto.build_self_signed_certificate(ec_key, common_name="c", validity_days=731)
        assert caught.value.message == "Validity of 731 days exceeds NetSuite's maximum of 730."
        assert caught.value.hint == "use --validity-days 730 or less."

    @pytest.mark.parametrize("days", [0, -1])
    def test_refuses_non_positive_validity(self, ec_key: PrivateKey, days: int) -> None:
        """A validity of zero or less is an InputError."""
        with pytest.raises(InputError, match=re.escape("Certificate validity must be positive.")):
            crypto.build_self_signed_certificate(ec_key, common_name="c", validity_days=days)

    def test_refuses_empty_subject(self, ec_key: PrivateKey) -> None:
        """A blank common name is refused."""
        with pytest.raises(InputError, match=re.escape("The certificate subject is empty.")):
            crypto.build_self_signed_certificate(ec_key, common_name="   ", validity_days=1)

    def test_long_common_name_is_cut_to_64_characters(self, ec_key: PrivateKey) -> None:
        """X.509 limits a common name to 64 characters; longer names are cut, not refused."""
        certificate = crypto.build_self_signed_certificate(ec_key, common_name="x" * 100, validity_days=1)
        assert certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "x" * 64


class TestPem:
    def test_private_key_pem_is_unencrypted_pkcs8_and_round_trips(self, ec_key: PrivateKey) -> None:
        """Keys are written as ``openssl req -nodes`` does and load back to the same key."""
        pem = crypto.private_key_to_pem(ec_key)
        assert pem.startswith(b"-----BEGIN PRIVATE KEY-----\n")
        loaded = crypto.load_private_key_pem(pem)
        assert crypto.private_key_to_pem(loaded) == pem
        assert crypto.load_private_key_pem(pem.decode()) is not None

    def test_certificate_pem_round_trips(self, ec_key: PrivateKey) -> None:
        """A certificate PEM loads back to the same certificate (str or bytes)."""
        certificate = crypto.build_self_signed_certificate(ec_key, common_name="c", validity_days=1)
        pem = crypto.certificate_to_pem(certificate)
        assert pem.startswith("-----BEGIN CERTIFICATE-----\n")
        assert crypto.load_certificate_pem(pem) == certificate
        assert crypto.load_certificate_pem(pem.encode()) == certificate

    @pytest.mark.parametrize(
        ("pem", "message"),
        [
            ("", "This is not a PEM certificate (no -----BEGIN CERTIFICATE----- block)."),
            ("hello", "This is not a PEM certificate (no -----BEGIN CERTIFICATE----- block)."),
            (
                "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n",
                "The PEM certificate is malformed and cannot be parsed.",
            ),
            (
                "-----BEGIN CERTIFICATE-----\nMIIBkTCB+wIJAKHHIG\n-----END CERTIFICATE-----\n",
                "The PEM certificate is malformed and cannot be parsed.",
            ),
        ],
    )
    def test_refuses_malformed_certificate_pem(self, pem: str, message: str) -> None:
        """Garbage, a PEM without a certificate block and a corrupt block are refused clearly."""
        with pytest.raises(CertificateError) as caught:
            crypto.load_certificate_pem(pem)
        assert caught.value.message == message
        assert caught.value.hint

    def test_refuses_a_private_key_where_a_certificate_belongs(self, ec_key: PrivateKey) -> None:
        """Giving the key file instead of the certificate is named as such, and the key is not echoed."""
        pem = crypto.private_key_to_pem(ec_key)
        with pytest.raises(CertificateError) as caught:
            crypto.load_certificate_pem(pem)
        assert caught.value.message == "A private key was given where a certificate belongs."
        assert "BEGIN PRIVATE KEY" not in str(caught.value) + repr(caught.value)

    def test_refuses_malformed_or_encrypted_private_key(self, ec_key: PrivateKey) -> None:
        """A key that is garbage or protected by a passphrase is refused with one clear message."""
        encrypted = ec_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        )
        for pem in (b"garbage", encrypted):
            with pytest.raises(CertificateError) as caught:
                crypto.load_private_key_pem(pem)
            assert caught.value.message == "The private key is malformed, encrypted or not PEM."

    def test_refuses_weak_or_unsupported_private_keys(self) -> None:
        """RSA 2048, the secp256k1 curve and Ed25519 private keys are refused on load."""
        cases: list[tuple[PrivateKey | ed25519.Ed25519PrivateKey, str]] = [
            (
                rsa.generate_private_key(public_exponent=65537, key_size=2048),
                "RSA key of 2048 bits is too weak.",
            ),
            (ec.generate_private_key(ec.SECP256K1()), "Elliptic curve secp256k1 is not supported."),
            (ed25519.Ed25519PrivateKey.generate(), "Unsupported private key type Ed25519PrivateKey."),
        ]
        for key, message in cases:
            pem = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            with pytest.raises(CertificateError) as caught:
                crypto.load_private_key_pem(pem)
            assert caught.value.message == message


class TestFingerprint:
    def test_sha256_of_der_lower_hex_and_stable(self, ec_key: PrivateKey) -> None:
        """The fingerprint is the lower-case hex SHA-256 of the DER form, the same every time."""
        certificate = crypto.build_self_signed_certificate(ec_key, common_name="c", validity_days=1)
        der = certificate.public_bytes(serialization.Encoding.DER)
        fingerprint = crypto.fingerprint_sha256(certificate)
        assert fingerprint == hashlib.sha256(der).hexdigest()
        reloaded = crypto.load_certificate_pem(crypto.certificate_to_pem(certificate))
        assert crypto.fingerprint_sha256(reloaded) == fingerprint
        assert len(fingerprint) == 64
        assert fingerprint == fingerprint.lower()

    def test_different_certificates_differ(self, ec_key: PrivateKey) -> None:
        """Two certificates of the same key have different fingerprints (new serial)."""
        first = crypto.build_self_signed_certificate(ec_key, common_name="c", validity_days=1, not_before=NOW)
        second = crypto.build_self_signed_certificate(
            ec_key, common_name="c", validity_days=1, not_before=NOW
        )
        assert crypto.fingerprint_sha256(first) != crypto.fingerprint_sha256(second)


class TestInspect:
    @pytest.mark.parametrize("spec", [KeySpec.EC_P384, KeySpec.RSA_3072])
    def test_fields(self, spec: KeySpec, keys: dict[KeySpec, PrivateKey]) -> None:
        """Inspection reports type, size, curve, subject, issuer, serial, dates, fingerprint and alg."""
        certificate = crypto.build_self_signed_certificate(
            keys[spec], common_name="acme", organization="Acme Ltd", validity_days=90, not_before=NOW
        )
        info = crypto.inspect_certificate(certificate)
        family, size, curve, algorithm = SPEC_FACTS[spec]
        assert (info.key_type, info.key_size, info.curve, info.jws_algorithm) == (
            family,
            size,
            curve,
            algorithm,
        )
        assert info.subject == "O=Acme Ltd,CN=acme"
        assert info.issuer == info.subject
        assert info.serial_number == certificate.serial_number
        assert info.not_before == NOW
        assert info.not_after == NOW + dt.timedelta(days=90)
        assert info.validity_days == 90
        assert info.fingerprint_sha256 == crypto.fingerprint_sha256(certificate)
        assert info.is_valid_at(NOW + dt.timedelta(days=1))
        assert not info.is_valid_at(NOW + dt.timedelta(days=91))
        assert not info.is_valid_at(NOW - dt.timedelta(seconds=1))

    def test_refuses_rsa_2048_certificate(self) -> None:
        """A certificate with an RSA 2048 key is refused: NetSuite wants 3072 or 4096 bits."""
        weak = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        certificate = crypto.build_self_signed_certificate(weak, common_name="weak", validity_days=30)
        with pytest.raises(CertificateError) as caught:
            crypto.inspect_certificate(certificate)
        assert caught.value.message == "RSA key of 2048 bits is too weak."
        assert caught.value.hint == "use RSA 3072 or 4096 bits, or an EC key (--key ec-p256)."

    def test_refuses_rsa_size_netsuite_does_not_list(self) -> None:
        """RSA sizes other than 3072 and 4096 (here 3104) are refused even though they are strong."""
        odd = rsa.generate_private_key(public_exponent=65537, key_size=3104)
        with pytest.raises(CertificateError) as caught:
            crypto.inspect_certificate(raw_certificate(odd, days=30))
        assert caught.value.message == "RSA key of 3104 bits is not accepted by NetSuite."

    def test_refuses_unsupported_curve(self) -> None:
        """A secp256k1 certificate is refused: NetSuite accepts P-256, P-384 and P-521 only."""
        key = ec.generate_private_key(ec.SECP256K1())
        with pytest.raises(CertificateError) as caught:
            crypto.inspect_certificate(raw_certificate(key, days=30))
        assert caught.value.message == "Elliptic curve secp256k1 is not supported."
        assert "P-256" in caught.value.hint

    def test_refuses_ed25519(self) -> None:
        """An Ed25519 certificate is refused as an unsupported key type."""
        key = ed25519.Ed25519PrivateKey.generate()
        with pytest.raises(CertificateError, match=re.escape("Unsupported key type Ed25519PublicKey.")):
            crypto.inspect_certificate(raw_certificate(key, days=30))


class TestCheckCertificateUsable:
    def test_accepts_a_current_certificate(self, ec_key: PrivateKey) -> None:
        """A valid, unexpired certificate of an accepted key passes and is described."""
        certificate = crypto.build_self_signed_certificate(
            ec_key, common_name="c", validity_days=30, not_before=NOW
        )
        info = crypto.check_certificate_usable(
            certificate, now=NOW + dt.timedelta(days=1), enforce_max_validity=True
        )
        assert info.jws_algorithm == "ES256"

    def test_refuses_an_expired_certificate(self, ec_key: PrivateKey) -> None:
        """An expired certificate is refused with its expiry date and the command to get a new one."""
        certificate = crypto.build_self_signed_certificate(
            ec_key, common_name="c", validity_days=30, not_before=NOW
        )
        with pytest.raises(CertificateError) as caught:
            crypto.check_certificate_usable(
                certificate, now=NOW + dt.timedelta(days=31), enforce_max_validity=True
            )
        assert caught.value.message == "The certificate expired on 2025-03-31 12:00 UTC."
        assert "certrotor keygen" in caught.value.hint

    def test_refuses_validity_over_two_years_when_enforced(self, ec_key: PrivateKey) -> None:
        """A certificate made elsewhere for 800 days is refused when the maximum is enforced."""
        certificate = raw_certificate(ec_key, days=800)
        with pytest.raises(CertificateError) as caught:
            crypto.check_certificate_usable(certificate, now=NOW, enforce_max_validity=True)
        assert (
            caught.value.message == "The certificate is valid for 800 days, over NetSuite's maximum of 730."
        )
        # NetSuite itself accepts such a certificate and shortens it: the emulator does not enforce.
        assert (
            crypto.check_certificate_usable(certificate, now=NOW, enforce_max_validity=False).validity_days
            == 800
        )

    def test_refuses_weak_key_before_dates(self) -> None:
        """A weak key is reported even when the certificate is otherwise fine."""
        weak = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        with pytest.raises(CertificateError, match="too weak"):
            crypto.check_certificate_usable(
                raw_certificate(weak, days=30), now=NOW, enforce_max_validity=True
            )


class TestKeysMatch:
    def test_detects_a_foreign_certificate(self, keys: dict[KeySpec, PrivateKey]) -> None:
        """A certificate matches only the key it was made for."""
        mine = crypto.build_self_signed_certificate(keys[KeySpec.EC_P256], common_name="c", validity_days=1)
        assert crypto.keys_match(keys[KeySpec.EC_P256], mine)
        assert not crypto.keys_match(keys[KeySpec.EC_P384], mine)
        assert not crypto.keys_match(keys[KeySpec.RSA_3072], mine)
