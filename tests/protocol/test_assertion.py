"""Client assertions: header and claims as NetSuite wants them, verified by an independent library (PyJWT)."""

from __future__ import annotations

import base64
import datetime as dt
import json

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from certrotor import crypto
from certrotor.crypto import KeySpec, PrivateKey
from certrotor.errors import CertificateError, InputError
from certrotor.protocol.assertion import build_client_assertion, check_scopes
from certrotor.protocol.models import MAX_ASSERTION_LIFETIME_SECONDS

TOKEN_URL = "https://1234567-sb1.suitetalk.api.netsuite.com/services/rest/auth/oauth2/v1/token"
CLIENT_ID = "63f9d36214e97953d94298a5405be"
CERTIFICATE_ID = "-Qiljyqx_nQC-_BMDF37ghOwZI0TpgaRrThMRNWJTPlU"
NOW = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def keys() -> dict[KeySpec, PrivateKey]:
    specs = (KeySpec.EC_P256, KeySpec.EC_P384, KeySpec.EC_P521, KeySpec.RSA_3072)
    return {spec: crypto.generate_private_key(spec) for spec in specs}


def assertion(key: PrivateKey, **overrides: object) -> str:
    arguments: dict[str, object] = {
        "certificate_id": CERTIFICATE_ID,
        "client_id": CLIENT_ID,
        "token_url": TOKEN_URL,
        "scopes": ["restlets", "rest_webservices"],
        **overrides,
    }
    return build_client_assertion(key, **arguments)  # type: ignore[arg-type]


class TestShape:
    def test_header(self, keys: dict[KeySpec, PrivateKey]) -> None:
        """The header carries exactly alg, typ=JWT and kid = the certificate ID."""
        header = jwt.get_unverified_header(assertion(keys[KeySpec.EC_P256]))
        assert header == {"alg": "ES256", "typ": "JWT", "kid": CERTIFICATE_ID}

    def test_claims(self, keys: dict[KeySpec, PrivateKey]) -> None:
        """iss and sub are the client ID, aud the token URL, scope a list, iat now, exp iat + lifetime."""
        token = assertion(keys[KeySpec.EC_P256], now=NOW, lifetime_seconds=600)
        claims = jwt.decode(token, options={"verify_signature": False})
        assert set(claims) == {"iss", "sub", "aud", "scope", "iat", "exp", "jti"}
        assert claims["iss"] == claims["sub"] == CLIENT_ID
        assert claims["aud"] == TOKEN_URL
        assert claims["scope"] == ["restlets", "rest_webservices"]
        assert claims["iat"] == int(NOW.timestamp())
        assert claims["exp"] - claims["iat"] == 600
        assert len(claims["jti"]) >= 32

    def test_jti_is_unique(self, keys: dict[KeySpec, PrivateKey]) -> None:
        """Two assertions never share a jti (the emulator refuses replays)."""
        first, second = (
            jwt.decode(assertion(keys[KeySpec.EC_P256], now=NOW), options={"verify_signature": False})["jti"]
            for _ in range(2)
        )
        assert first != second

    @pytest.mark.parametrize("lifetime", [1, 300, MAX_ASSERTION_LIFETIME_SECONDS])
    def test_lifetime_at_most_one_hour(self, keys: dict[KeySpec, PrivateKey], lifetime: int) -> None:
        """exp - iat is the requested lifetime, up to NetSuite's 3600 s."""
        claims = jwt.decode(
            assertion(keys[KeySpec.EC_P256], now=NOW, lifetime_seconds=lifetime),
            options={"verify_signature": False},
        )
        assert claims["exp"] - claims["iat"] == lifetime <= 3600

    @pytest.mark.parametrize("lifetime", [0, -5, MAX_ASSERTION_LIFETIME_SECONDS + 1])
    def test_refuses_lifetime_out_of_range(self, keys: dict[KeySpec, PrivateKey], lifetime: int) -> None:
        """A lifetime of zero, negative or over an hour is refused before signing."""
        with pytest.raises(InputError) as caught:
            assertion(keys[KeySpec.EC_P256], lifetime_seconds=lifetime)
        assert caught.value.message == f"Assertion lifetime {lifetime}s is out of range."
        assert caught.value.hint == "use 1 to 3600 seconds."


class TestIndependentVerification:
    @pytest.mark.parametrize(
        ("spec", "algorithm"),
        [
            (KeySpec.EC_P256, "ES256"),
            (KeySpec.EC_P384, "ES384"),
            (KeySpec.EC_P521, "ES512"),
            (KeySpec.RSA_3072, "PS256"),
        ],
    )
    def test_pyjwt_verifies_signature_and_claims(
        self, keys: dict[KeySpec, PrivateKey], spec: KeySpec, algorithm: str
    ) -> None:
        """PyJWT, a library certrotor does not use, verifies EC and RSA-PSS assertions with the public key."""
        key = keys[spec]
        token = assertion(key)
        assert jwt.get_unverified_header(token)["alg"] == algorithm
        claims = jwt.decode(
            token,
            key=key.public_key(),
            algorithms=[algorithm],
            audience=TOKEN_URL,
            issuer=CLIENT_ID,
            options={"require": ["iss", "sub", "aud", "iat", "exp", "jti"]},
        )
        assert claims["sub"] == CLIENT_ID

    def test_pyjwt_refuses_another_key(self, keys: dict[KeySpec, PrivateKey]) -> None:
        """The signature binds the assertion to its key: a different key fails verification."""
        token = assertion(keys[KeySpec.EC_P256])
        other = crypto.generate_private_key(KeySpec.EC_P256)
        with pytest.raises(jwt.InvalidSignatureError):
            jwt.decode(token, key=other.public_key(), algorithms=["ES256"], audience=TOKEN_URL)

    def test_pyjwt_refuses_a_tampered_claim(self, keys: dict[KeySpec, PrivateKey]) -> None:
        """Changing the payload (here the issuer) breaks the signature."""
        token = assertion(keys[KeySpec.EC_P256])
        header, _, signature = token.split(".")
        forged_claims = jwt.decode(token, options={"verify_signature": False}) | {"iss": "someone-else"}
        forged_payload = base64.urlsafe_b64encode(json.dumps(forged_claims).encode()).rstrip(b"=").decode()
        forged = f"{header}.{forged_payload}.{signature}"
        with pytest.raises(jwt.InvalidSignatureError):
            jwt.decode(
                forged, key=keys[KeySpec.EC_P256].public_key(), algorithms=["ES256"], audience=TOKEN_URL
            )

    def test_expired_assertion_is_refused_by_pyjwt(self, keys: dict[KeySpec, PrivateKey]) -> None:
        """An assertion made an hour and a half ago has expired for any verifier."""
        token = assertion(keys[KeySpec.EC_P256], now=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=90))
        with pytest.raises(jwt.ExpiredSignatureError):
            jwt.decode(
                token, key=keys[KeySpec.EC_P256].public_key(), algorithms=["ES256"], audience=TOKEN_URL
            )


class TestScopesAndKeys:
    def test_scopes_are_checked_and_trimmed(self) -> None:
        """Known scopes pass trimmed; blanks are dropped."""
        assert check_scopes([" restlets ", "", "suite_analytics"]) == ["restlets", "suite_analytics"]

    @pytest.mark.parametrize(("scopes", "named"), [(["admin"], "admin"), ([], "(none)"), (["  "], "(none)")])
    def test_refuses_unknown_or_no_scopes(self, scopes: list[str], named: str) -> None:
        """An unknown scope or none at all is refused, naming the accepted ones."""
        with pytest.raises(InputError) as caught:
            check_scopes(scopes)
        assert caught.value.message == f"Invalid scopes {named}."
        assert caught.value.hint == "choose from: restlets, rest_webservices, suite_analytics."

    def test_refuses_a_weak_key(self) -> None:
        """An RSA 2048 key cannot sign an assertion: NetSuite would refuse its certificate anyway."""
        weak = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        with pytest.raises(CertificateError, match="too weak"):
            assertion(weak)
