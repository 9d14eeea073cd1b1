"""The token endpoint: what a client assertion must be, each refusal's RFC 6749 error, and the tokens."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import time_machine
from joserfc import jws, jwt
from joserfc.jwk import RSAKey

from certrotor.crypto import KeySpec, PrivateKey, utcnow
from certrotor.emulator.config import EmulatorConfig
from certrotor.emulator.testing import RunningEmulator, serve_emulator
from certrotor.protocol.assertion import build_client_assertion
from certrotor.protocol.models import CLIENT_ASSERTION_TYPE, TokenResponse
from certrotor.protocol.urls import TOKEN_PATH, NetSuiteEndpoints

from ._support import (
    DROP,
    Caller,
    make_certificate,
    oauth_error,
    open_caller,
    raw_certificate,
    sign_jwt,
    snapshot,
    unsigned_jwt,
)

ALGS = "PS256, PS384, PS512, ES256, ES384, ES512"
SCOPE_HINT = "use one or more of restlets, rest_webservices, suite_analytics"


@dataclass(frozen=True)
class World:
    """Certificates prepared once on the module's emulator."""

    ec_key: PrivateKey
    ec_id: str
    rsa_key: PrivateKey
    rsa_id: str
    revoked_key: PrivateKey
    revoked_id: str
    other_client: str
    other_id: str


@pytest.fixture(scope="module")
def world(shared_emulator: RunningEmulator, rsa_key: PrivateKey) -> World:
    with open_caller(shared_emulator) as caller:
        ec_key, ec_id = caller.upload_ok()
        _key, pem = make_certificate(key=rsa_key)
        rsa_id = caller.upload(pem).json()["certificate_id"]
        revoked_key, revoked_id = caller.upload_ok()
        caller.revoke(revoked_id)
        (other_client,) = shared_emulator.add_integrations(1)
        _other_key, other_pem = make_certificate()
        other_id = caller.upload(other_pem, client_id=other_client).json()["certificate_id"]
    return World(ec_key, ec_id, rsa_key, rsa_id, revoked_key, revoked_id, other_client, other_id)


def _cases() -> Iterator[Any]:
    """(id, request(caller, world), status, error, description(caller, world))."""
    yield (
        "grant_type missing",
        lambda c, w: c.token(form={"client_assertion": "x"}),
        400,
        "invalid_request",
        "The grant_type parameter is missing.",
    )
    yield (
        "grant_type password",
        lambda c, w: c.token(form={"grant_type": "password"}),
        400,
        "unsupported_grant_type",
        "The grant type 'password' is not supported; use client_credentials, authorization_code "
        "or refresh_token.",
    )
    yield (
        "JSON instead of a form",
        lambda c, w: c.http.post(c.endpoints.token_url, json={"grant_type": "client_credentials"}),
        400,
        "invalid_request",
        "The token request must be a form (Content-Type: application/x-www-form-urlencoded).",
    )
    yield (
        "repeated parameter",
        lambda c, w: c.token(
            content=b"grant_type=client_credentials&grant_type=client_credentials",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ),
        400,
        "invalid_request",
        "The parameter grant_type is repeated; send it once.",
    )
    yield (
        "assertion type missing",
        lambda c, w: c.token(form={"grant_type": "client_credentials", "client_assertion": "x"}),
        400,
        "invalid_request",
        f"The client_assertion_type parameter is missing; use {CLIENT_ASSERTION_TYPE}.",
    )
    yield (
        "assertion type wrong",
        lambda c, w: c.token(
            form={"grant_type": "client_credentials", "client_assertion_type": "jwt", "client_assertion": "x"}
        ),
        400,
        "invalid_request",
        f"The client_assertion_type must be {CLIENT_ASSERTION_TYPE}.",
    )
    yield (
        "assertion missing",
        lambda c, w: c.token(
            form={"grant_type": "client_credentials", "client_assertion_type": CLIENT_ASSERTION_TYPE}
        ),
        400,
        "invalid_request",
        "The client_assertion parameter is missing.",
    )
    yield (
        "assertion not a JWT",
        lambda c, w: c.token("not-a-jwt"),
        401,
        "invalid_client",
        "The client assertion is not a signed JWT (header.payload.signature).",
    )
    yield (
        "alg none",
        lambda c, w: c.token(unsigned_jwt({"alg": "none", "kid": w.ec_id}, c.claims())),
        401,
        "invalid_client",
        f"The client assertion algorithm 'none' is not accepted; use one of {ALGS}.",
    )
    yield (
        "alg RS256",
        lambda c, w: c.token(c.assertion(w.rsa_key, w.rsa_id, alg="RS256")),
        401,
        "invalid_client",
        f"The client assertion algorithm 'RS256' is not accepted; use one of {ALGS}.",
    )
    yield (
        "alg HS256",
        lambda c, w: c.token(unsigned_jwt({"alg": "HS256", "kid": w.ec_id}, c.claims()) + "c2ln"),
        401,
        "invalid_client",
        f"The client assertion algorithm 'HS256' is not accepted; use one of {ALGS}.",
    )
    yield (
        "typ not JWT",
        lambda c, w: c.token(c.assertion(w.ec_key, w.ec_id, header={"typ": "at+jwt"})),
        401,
        "invalid_client",
        "The client assertion header typ must be JWT.",
    )
    yield (
        "kid missing",
        lambda c, w: c.token(c.assertion(w.ec_key, w.ec_id, header={"kid": DROP})),
        401,
        "invalid_client",
        "The client assertion header has no kid; set it to the certificate ID.",
    )
    yield (
        "iss missing",
        lambda c, w: c.token(c.assertion(w.ec_key, w.ec_id, iss=DROP)),
        401,
        "invalid_client",
        "The client assertion has no iss claim; set it to the client ID.",
    )
    yield (
        "iss unknown",
        lambda c, w: c.token(c.assertion(w.ec_key, w.ec_id, iss="stranger")),
        401,
        "invalid_client",
        "No integration record has the client ID 'stranger' (iss).",
    )
    yield (
        "kid unknown",
        lambda c, w: c.token(c.assertion(w.ec_key, "unknownCertificate")),
        401,
        "invalid_client",
        lambda c, w: (
            "No certificate with ID 'unknownCertificate' (kid) belongs to the integration "
            f"{c.tenant.client_id!r}."
        ),
    )
    yield (
        "kid of another integration",
        lambda c, w: c.token(c.assertion(w.ec_key, w.other_id)),
        401,
        "invalid_client",
        lambda c, w: (
            f"No certificate with ID {w.other_id!r} (kid) belongs to the integration {c.tenant.client_id!r}."
        ),
    )
    yield (
        "signed by another key",
        lambda c, w: c.token(c.assertion(make_certificate()[0], w.ec_id)),
        401,
        "invalid_client",
        lambda c, w: f"The client assertion signature does not verify with the certificate {w.ec_id}.",
    )
    yield (
        "alg does not fit the key",
        lambda c, w: c.token(
            unsigned_jwt({"alg": "ES384", "typ": "JWT", "kid": w.ec_id}, c.claims()) + "c2lnbmF0dXJl"
        ),
        401,
        "invalid_client",
        lambda c, w: f"The algorithm ES384 does not fit the EC key of the certificate {w.ec_id}.",
    )
    yield (
        "revoked certificate",
        lambda c, w: c.token(c.assertion(w.revoked_key, w.revoked_id)),
        401,
        "invalid_client",
        lambda c, w: f"The certificate {w.revoked_id} is revoked.",
    )
    now = int(utcnow().timestamp())
    yield (
        "lifetime over an hour",
        lambda c, w: c.token(c.assertion(w.ec_key, w.ec_id, iat=now, exp=now + 3601)),
        401,
        "invalid_client",
        "The client assertion lifetime (exp - iat) of 3601 s exceeds 3600 s.",
    )
    yield (
        "exp before iat",
        lambda c, w: c.token(c.assertion(w.ec_key, w.ec_id, iat=now, exp=now)),
        401,
        "invalid_client",
        "The client assertion exp must be later than its iat.",
    )
    yield (
        "iat in the future",
        lambda c, w: c.token(c.assertion(w.ec_key, w.ec_id, iat=now + 600, exp=now + 900)),
        401,
        "invalid_client",
        "The client assertion was issued in the future (iat); check the clock.",
    )
    yield (
        "expired assertion",
        lambda c, w: c.token(c.assertion(w.ec_key, w.ec_id, iat=now - 900, exp=now - 600)),
        401,
        "invalid_client",
        "The client assertion has expired (exp).",
    )
    yield (
        "nbf in the future",
        lambda c, w: c.token(c.assertion(w.ec_key, w.ec_id, nbf=now + 600)),
        401,
        "invalid_client",
        "The client assertion is not valid yet (nbf).",
    )
    yield (
        "iat missing",
        lambda c, w: c.token(c.assertion(w.ec_key, w.ec_id, iat=DROP)),
        401,
        "invalid_client",
        "The client assertion must carry a numeric iat claim.",
    )
    yield (
        "exp a string",
        lambda c, w: c.token(c.assertion(w.ec_key, w.ec_id, exp="soon")),
        401,
        "invalid_client",
        "The client assertion must carry a numeric exp claim.",
    )
    yield (
        "aud another URL",
        lambda c, w: c.token(c.assertion(w.ec_key, w.ec_id, aud="https://example.com/token")),
        401,
        "invalid_client",
        lambda c, w: (
            f"The client assertion aud must be the token endpoint URL, e.g. {c.endpoints.token_url}."
        ),
    )
    yield (
        "jti empty",
        lambda c, w: c.token(c.assertion(w.ec_key, w.ec_id, jti="")),
        401,
        "invalid_client",
        "The client assertion jti claim must be a non-empty string.",
    )
    yield (
        "scope missing",
        lambda c, w: c.token(c.assertion(w.ec_key, w.ec_id, scope=DROP)),
        400,
        "invalid_scope",
        f"The client assertion has no scope claim; {SCOPE_HINT}.",
    )
    yield (
        "scope unknown",
        lambda c, w: c.token(c.assertion(w.ec_key, w.ec_id, scope=["restlets", "openid"])),
        400,
        "invalid_scope",
        f"Unknown scope openid; {SCOPE_HINT}.",
    )
    yield (
        "scope a number",
        lambda c, w: c.token(c.assertion(w.ec_key, w.ec_id, scope=5)),
        400,
        "invalid_scope",
        f"The scope claim must be a list or a comma separated string; {SCOPE_HINT}.",
    )
    yield (
        "scope empty",
        lambda c, w: c.token(c.assertion(w.ec_key, w.ec_id, scope="")),
        400,
        "invalid_scope",
        f"The scope claim is empty; {SCOPE_HINT}.",
    )


class TestRefusals:
    @pytest.mark.parametrize(
        ("send", "status", "error", "description"),
        [pytest.param(*case[1:], id=case[0]) for case in _cases()],
    )
    def test_refused_with_the_exact_rfc6749_error(
        self,
        shared_caller: Caller,
        shared_emulator: RunningEmulator,
        world: World,
        send: Any,
        status: int,
        error: str,
        description: Any,
    ) -> None:
        """Each bad token request gets its RFC 6749 error, status and message, and grants nothing."""
        expected = description(shared_caller, world) if callable(description) else description
        before = snapshot(shared_emulator)
        response = send(shared_caller, world)
        assert oauth_error(response) == (status, error, expected)
        assert response.headers["cache-control"] == "no-store"
        if status == 401:
            assert response.headers["www-authenticate"] == 'Bearer realm="NetSuite", error="invalid_client"'
        assert snapshot(shared_emulator) == before

    def test_replayed_assertion_is_refused(self, shared_caller: Caller, world: World) -> None:
        """An assertion works once; the same jti again is refused."""
        assertion = shared_caller.assertion(world.ec_key, world.ec_id)
        assert shared_caller.token(assertion).status_code == 200
        assert oauth_error(shared_caller.token(assertion)) == (
            401,
            "invalid_client",
            "The client assertion was already used (jti replay); sign a new one for every request.",
        )

    def test_assertion_without_jti_is_also_single_use(self, shared_caller: Caller, world: World) -> None:
        """Without jti the assertion itself is remembered, so a replay is still refused."""
        assertion = shared_caller.assertion(world.ec_key, world.ec_id, jti=DROP)
        assert shared_caller.token(assertion).status_code == 200
        assert shared_caller.token(assertion).status_code == 401

    def test_jti_can_be_required(self, tmp_path: Path) -> None:
        """With require_jti an assertion without jti is refused."""
        config = EmulatorConfig(require_jti=True)
        with serve_emulator(tmp_path / "e.db", config) as emulator, open_caller(emulator) as caller:
            key, certificate_id = caller.upload_ok()
            response = caller.token(caller.assertion(key, certificate_id, jti=DROP))
        assert oauth_error(response) == (
            401,
            "invalid_client",
            "The client assertion has no jti claim; give each assertion a unique one.",
        )


class TestAccepted:
    @pytest.mark.parametrize(
        "audience",
        [
            pytest.param(lambda c: c.endpoints.token_url, id="this server"),
            pytest.param(
                lambda c: NetSuiteEndpoints.for_account(c.tenant.account_id).token_url, id="suitetalk"
            ),
            pytest.param(
                lambda c: NetSuiteEndpoints.for_account(c.tenant.account_id).api_base + TOKEN_PATH,
                id="restlets",
            ),
            pytest.param(
                lambda c: f"https://tstdrv1234567.app.netsuite.com{TOKEN_PATH}", id="app host of the seed"
            ),
            pytest.param(lambda c: [c.endpoints.token_url, "https://other"], id="list"),
            pytest.param(lambda c: c.endpoints.token_url + "/", id="trailing slash"),
        ],
    )
    def test_audiences_netsuite_accepts(self, shared_caller: Caller, world: World, audience: Any) -> None:
        """aud may name the token URL on this server, the suitetalk, restlets or app host."""
        aud = audience(shared_caller)
        response = shared_caller.token(shared_caller.assertion(world.ec_key, world.ec_id, aud=aud))
        assert response.status_code == 200, response.text

    @pytest.mark.parametrize(
        "scope",
        [
            ["restlets"],
            ["rest_webservices", "suite_analytics"],
            "restlets,rest_webservices",
            "restlets, suite_analytics",
        ],
    )
    def test_scope_as_list_or_comma_string(self, shared_caller: Caller, world: World, scope: Any) -> None:
        """scope is accepted as a JSON list or a comma separated string, and lands in the token."""
        response = shared_caller.token(shared_caller.assertion(world.ec_key, world.ec_id, scope=scope))
        assert response.status_code == 200, response.text
        claims = json.loads(jws.extract_compact(response.json()["access_token"].encode()).payload)
        expected = scope if isinstance(scope, list) else [s.strip() for s in scope.split(",")]
        assert claims["scope"] == expected

    @pytest.mark.parametrize("alg", ["PS256", "PS384", "PS512"])
    def test_rsa_pss_algorithms(self, shared_caller: Caller, world: World, alg: str) -> None:
        """An RSA certificate signs with PS256, PS384 or PS512."""
        assert (
            shared_caller.token(shared_caller.assertion(world.rsa_key, world.rsa_id, alg=alg)).status_code
            == 200
        )

    def test_every_curve_with_its_algorithm(self, caller: Caller) -> None:
        """P-256, P-384 and P-521 certificates sign with ES256, ES384 and ES512 (certrotor's builder)."""
        for spec in (KeySpec.EC_P256, KeySpec.EC_P384, KeySpec.EC_P521):
            key, certificate_id = caller.upload_ok(spec)
            assertion = build_client_assertion(
                key,
                certificate_id=certificate_id,
                client_id=caller.tenant.client_id,
                token_url=caller.endpoints.token_url,
                scopes=["rest_webservices"],
            )
            assert caller.token(assertion).status_code == 200

    def test_clock_skew_within_tolerance(self, shared_caller: Caller, world: World) -> None:
        """An iat 30 s in the future is within the default 60 s tolerance."""
        now = int(utcnow().timestamp())
        response = shared_caller.token(
            shared_caller.assertion(world.ec_key, world.ec_id, iat=now + 30, exp=now + 300)
        )
        assert response.status_code == 200

    def test_answer_and_token_shape(
        self, shared_caller: Caller, shared_emulator: RunningEmulator, world: World
    ) -> None:
        """The answer is access_token, expires_in 3600, token_type; the token is NetSuite-shaped."""
        response = shared_caller.token(shared_caller.assertion(world.ec_key, world.ec_id))
        answer = response.json()
        assert set(answer) == {"access_token", "expires_in", "token_type"}
        parsed = TokenResponse.model_validate(answer)
        assert (parsed.expires_in, parsed.token_type, parsed.refresh_token) == (3600, "Bearer", None)
        keys = shared_caller.http.get(shared_emulator.base_url + "/services/rest/auth/oauth2/v1/keys").json()
        token = jwt.decode(parsed.access_token, RSAKey.import_key(keys["keys"][0]), algorithms=["RS256"])
        tenant = shared_caller.tenant
        assert token.header == {"typ": "JWT", "kid": keys["keys"][0]["kid"], "alg": "RS256"}
        assert re.fullmatch(rf"c\.{tenant.company_id}\.\d{{4}}-\d\d-\d\d_\d\d-\d\d-\d\d", token.header["kid"])
        claims = token.claims
        assert claims["sub"] == "3;7"
        assert claims["aud"] == [f"{tenant.application_id};{tenant.company_id}", tenant.client_id]
        assert claims["iss"] == "https://system.netsuite.com"
        assert claims["exp"] - claims["iat"] == 3600
        assert claims["scope"] == ["restlets", "rest_webservices"]

    def test_grants_are_counted(self, caller: Caller, emulator: RunningEmulator) -> None:
        """Each token grant counts once, by grant type."""
        key, certificate_id = caller.upload_ok()
        caller.access_token(key, certificate_id)
        caller.access_token(key, certificate_id)
        counters = emulator.counters()
        assert counters["token_grants"] == {"client_credentials": 2}
        assert counters["token_grants_total"] == 2


class TestExpiry:
    def test_access_token_expires_after_an_hour(self, caller: Caller) -> None:
        """The protected resource takes the token now and refuses it an hour later."""
        key, certificate_id = caller.upload_ok()
        token = caller.access_token(key, certificate_id)
        assert caller.record(token).status_code == 200
        with time_machine.travel(utcnow() + dt.timedelta(seconds=3601), tick=True):
            response = caller.record(token)
        assert response.status_code == 401
        assert response.json()["o:errorDetails"][0]["o:errorCode"] == "INVALID_LOGIN"

    def test_expired_certificate_gets_no_token(self, caller: Caller) -> None:
        """Once its certificate expired, a key obtains no token (with a message saying so)."""
        key, certificate_id = caller.upload_ok(validity=dt.timedelta(hours=1))
        expiry = utcnow() + dt.timedelta(hours=1)
        with time_machine.travel(utcnow() + dt.timedelta(hours=2), tick=True):
            response = caller.token(caller.assertion(key, certificate_id))
        assert oauth_error(response) == (
            401,
            "invalid_client",
            f"The certificate {certificate_id} expired on {expiry:%Y-%m-%d}.",
        )

    def test_shortened_validity_ends_token_grants(self, caller: Caller) -> None:
        """A certificate shortened to two years gets no token after those two years."""
        key = make_certificate()[0]
        response = caller.upload(raw_certificate(key, days=1000))
        certificate_id = response.json()["certificate_id"]
        with time_machine.travel(utcnow() + dt.timedelta(days=731), tick=True):
            refused = caller.token(caller.assertion(key, certificate_id))
        assert refused.status_code == 401
        assert "expired on" in (refused.json()["error_description"] or "")


def test_sign_jwt_helper_makes_verifiable_tokens(world: World, shared_caller: Caller) -> None:
    """The hand-made assertion helper itself produces an accepted assertion (guards the table)."""
    header = {"alg": "ES256", "typ": "JWT", "kid": world.ec_id}
    assert shared_caller.token(sign_jwt(header, shared_caller.claims(), world.ec_key)).status_code == 200
