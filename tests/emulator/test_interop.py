"""Interop with an independent JOSE library (PyJWT): its assertions pass, our tokens verify with it."""

from __future__ import annotations

import uuid
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from certrotor.crypto import KeySpec, PrivateKey, private_key_to_pem, utcnow
from certrotor.emulator.testing import RunningEmulator

from ._support import Caller, make_certificate, oauth_error

JWKS_PATH = "/services/rest/auth/oauth2/v1/keys"


def pyjwt_assertion(caller: Caller, key: PrivateKey, certificate_id: str, alg: str) -> str:
    now = int(utcnow().timestamp())
    claims: dict[str, Any] = {
        "iss": caller.tenant.client_id,
        "scope": ["restlets", "rest_webservices"],
        "aud": caller.endpoints.token_url,
        "iat": now,
        "exp": now + 600,
        "jti": str(uuid.uuid4()),
    }
    return jwt.encode(
        claims, private_key_to_pem(key), algorithm=alg, headers={"kid": certificate_id, "typ": "JWT"}
    )


class TestPyJWTAssertions:
    @pytest.mark.parametrize(("spec", "alg"), [(KeySpec.EC_P256, "ES256"), (KeySpec.EC_P384, "ES384")])
    def test_ec_assertion_from_pyjwt_is_accepted(self, caller: Caller, spec: KeySpec, alg: str) -> None:
        """An ES256/ES384 assertion signed by PyJWT obtains a token."""
        key, certificate_id = caller.upload_ok(spec)
        response = caller.token(pyjwt_assertion(caller, key, certificate_id, alg))
        assert response.status_code == 200, response.text

    def test_pss_assertion_from_pyjwt_is_accepted(self, caller: Caller, rsa_key: PrivateKey) -> None:
        """A PS256 assertion signed by PyJWT with an RSA 3072 key obtains a token."""
        _key, pem = make_certificate(key=rsa_key)
        certificate_id = caller.upload(pem).json()["certificate_id"]
        assert caller.token(pyjwt_assertion(caller, rsa_key, certificate_id, "PS256")).status_code == 200

    def test_rs256_from_pyjwt_is_refused(self, caller: Caller, rsa_key: PrivateKey) -> None:
        """PyJWT's default-looking RS256 is refused, as NetSuite refuses it."""
        _key, pem = make_certificate(key=rsa_key)
        certificate_id = caller.upload(pem).json()["certificate_id"]
        response = caller.token(pyjwt_assertion(caller, rsa_key, certificate_id, "RS256"))
        assert oauth_error(response)[:2] == (401, "invalid_client")


class TestTokensVerifyWithPyJWT:
    def test_access_token_verifies_with_the_published_keys(
        self, caller: Caller, emulator: RunningEmulator
    ) -> None:
        """PyJWT, fetching the JWK set over HTTP, verifies signature, audience, issuer and expiry."""
        key, certificate_id = caller.upload_ok()
        token = caller.access_token(key, certificate_id)
        signing_key = jwt.PyJWKClient(emulator.base_url + JWKS_PATH).get_signing_key_from_jwt(token)
        claims = jwt.decode(
            token,
            signing_key.key,
            algorithms=["RS256"],
            audience=caller.tenant.client_id,
            issuer="https://system.netsuite.com",
            options={"require": ["exp", "iat", "sub", "aud", "jti"]},
        )
        assert claims["sub"] == f"{caller.tenant.role_id};{caller.tenant.entity_id}"
        assert jwt.get_unverified_header(token) == {"alg": "RS256", "kid": signing_key.key_id, "typ": "JWT"}
        assert signing_key.key_id.startswith(f"c.{caller.tenant.company_id}.")

    def test_management_token_verifies_too(self, emulator: RunningEmulator) -> None:
        """The demo tenant's long-lived admin token is an ordinary emulator JWT."""
        signing_key = jwt.PyJWKClient(emulator.base_url + JWKS_PATH).get_signing_key_from_jwt(
            emulator.tenant.admin_token
        )
        claims = jwt.decode(
            emulator.tenant.admin_token,
            signing_key.key,
            algorithms=["RS256"],
            audience=f"{emulator.tenant.application_id};{emulator.tenant.company_id}",
        )
        assert claims["sub"] == "3;7"


class TestProtectedRecord:
    def test_valid_token_reads_a_record(self, shared_caller: Caller) -> None:
        """A valid token reads the demo entity's employee record in NetSuite's shape."""
        response = shared_caller.record(shared_caller.tenant.admin_token)
        assert response.status_code == 200
        assert (response.json()["id"], response.json()["entityId"]) == ("7", "Infra Auth")

    @pytest.mark.parametrize("token", [None, "garbage", "Basic abc"])
    def test_missing_or_garbage_token_is_invalid_login(
        self, shared_caller: Caller, token: str | None
    ) -> None:
        """No token, a malformed one or another scheme: 401 INVALID_LOGIN."""
        response = shared_caller.record(token)
        assert response.status_code == 401
        assert response.json()["o:errorDetails"][0]["o:errorCode"] == "INVALID_LOGIN"

    def test_token_forged_with_another_key_is_refused(self, shared_caller: Caller) -> None:
        """A token with NetSuite's claims but signed by a stranger's key is refused."""
        stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        real = jwt.decode(shared_caller.tenant.admin_token, options={"verify_signature": False})
        header = jwt.get_unverified_header(shared_caller.tenant.admin_token)
        forged = jwt.encode(real, stranger, algorithm="RS256", headers={"kid": header["kid"]})
        assert shared_caller.record(forged).status_code == 401
