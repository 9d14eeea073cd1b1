"""Tokens on the emulator's side: verify client assertions, issue and check NetSuite-shaped access tokens.

Verification uses joserfc with an explicit algorithm allowlist: only PS256..PS512 and ES256..ES512
for client assertions (RS256 and ``none`` are refused), only RS256 for the emulator's own tokens,
which carry Oracle's current access-token header ``{"kid": "c.<company>.<YYYY-MM-DD_hh-mm-ss>",
"typ": "JWT", "alg": "RS256"}``.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import json
import math
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey

from certrotor.crypto import load_certificate_pem, utcnow
from certrotor.emulator.bounded_json import JSONTooLargeError, load_bounded_json
from certrotor.emulator.bounds import MAX_UNIX_SECONDS
from certrotor.emulator.config import AudienceRule, EmulatorConfig
from certrotor.emulator.problems import NetSuiteRefusalError, OAuthRefusalError
from certrotor.emulator.state import (
    EmulatorState,
    IntegrationInfo,
    IssuedToken,
    StoredCertificate,
    TokenGrant,
)
from certrotor.protocol.models import (
    ACCESS_TOKEN_ISSUER,
    ASSERTION_ALGORITHMS,
    MAX_ASSERTION_LIFETIME_SECONDS,
    SCOPES,
    parse_scopes,
)

ACCESS_TOKEN_ALGORITHM = "RS256"
MANAGEMENT_TOKEN_LIFETIME_SECONDS = 10 * 365 * 86400
"""Management tokens stand for one set up in the NetSuite UI: long-lived, revocable in the state."""
_CURVE_FOR_ALGORITHM = {"ES256": "secp256r1", "ES384": "secp384r1", "ES512": "secp521r1"}


def _invalid_client(description: str) -> OAuthRefusalError:
    return OAuthRefusalError("invalid_client", description)


def check_scope_claim(value: object) -> tuple[str, ...]:
    """Scopes as NetSuite takes them: a JSON list or a comma separated string of known names."""
    hint = f"use one or more of {', '.join(SCOPES)}"
    if value is None:
        raise OAuthRefusalError("invalid_scope", f"The client assertion has no scope claim; {hint}.")
    try:
        scopes = parse_scopes(value)
    except ValueError:
        raise OAuthRefusalError(
            "invalid_scope", f"The scope claim must be a list or a comma separated string; {hint}."
        ) from None
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise OAuthRefusalError("invalid_scope", f"Unknown scope {', '.join(unknown)}; {hint}.")
    if not scopes:
        raise OAuthRefusalError("invalid_scope", f"The scope claim is empty; {hint}.")
    return tuple(dict.fromkeys(scopes))


@functools.lru_cache(maxsize=1024)
def _certificate_jwk(pem: str, algorithm: str) -> ECKey | RSAKey | None:
    """The key of a certificate for joserfc if ``alg`` fits it (parsed once per certificate)."""
    public_key = load_certificate_pem(pem).public_key()
    if isinstance(public_key, rsa.RSAPublicKey) and algorithm.startswith("PS"):
        return RSAKey.import_key(public_key)
    if (
        isinstance(public_key, ec.EllipticCurvePublicKey)
        and _CURVE_FOR_ALGORITHM.get(algorithm) == public_key.curve.name
    ):
        return ECKey.import_key(public_key)
    return None


def _public_jwk(certificate: StoredCertificate, algorithm: str) -> ECKey | RSAKey:
    """The certificate's key for joserfc, refusing an ``alg`` that does not fit the key."""
    key = _certificate_jwk(certificate.pem, algorithm)
    if key is not None:
        return key
    raise _invalid_client(
        f"The algorithm {algorithm} does not fit the {certificate.algorithm} key of the "
        f"certificate {certificate.certificate_id}."
    )


MAX_ASSERTION_PAYLOAD_BYTES = 64 * 1024
"""The longest claims set of a client assertion accepted (real ones are well under 1 KB)."""


def _number(claims: dict[str, Any], name: str) -> int:
    """A NumericDate claim as whole seconds; ``NaN``, infinities and dates past 9999 are refused."""
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _invalid_client(f"The client assertion must carry a numeric {name} claim.")
    if not (math.isfinite(value) and 0 <= value <= MAX_UNIX_SECONDS):
        raise _invalid_client(
            f"The client assertion {name} claim must be a date in Unix seconds (0 to {MAX_UNIX_SECONDS})."
        )
    return int(value)


def _audiences(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return list(value)
    return []


def audience_accepted(aud: object, candidates: Iterable[str], *, rule: AudienceRule) -> bool:
    """``strict``: one ``aud`` is a candidate URL. ``lenient``: one contains a candidate URL."""
    accepted = _normalized_urls(tuple(candidates))
    for value in _audiences(aud):
        if rule == "strict" and normalize_url(value) in accepted:
            return True
        if rule == "lenient" and any(url.lower() in value.lower() for url in accepted):
            return True
    return False


@functools.lru_cache(maxsize=1024)
def _normalized_urls(urls: tuple[str, ...]) -> frozenset[str]:
    return frozenset(normalize_url(url) for url in urls)


def normalize_url(url: str) -> str:
    """Compare URLs without caring for the case of scheme and host or a trailing slash."""
    scheme, _, rest = url.strip().partition("://")
    host, slash, path = rest.partition("/")
    return f"{scheme.lower()}://{host.lower()}{slash}{path}".rstrip("/")


def verify_client_assertion(
    state: EmulatorState,
    assertion: str,
    *,
    audiences_for: Callable[[IntegrationInfo], Iterable[str]],
    config: EmulatorConfig,
    now: dt.datetime | None = None,
) -> tuple[TokenGrant, StoredCertificate]:
    """Check a client assertion as NetSuite does; the grant it earns, or an ``OAuthRefusalError``."""
    moment = now or utcnow()
    tolerance = config.clock_tolerance_seconds
    try:
        compact = jws.extract_compact(assertion.encode("ascii"))
        header = compact.headers()
    except (JoseError, ValueError, UnicodeError):
        raise _invalid_client(
            "The client assertion is not a signed JWT (header.payload.signature)."
        ) from None
    algorithm = header.get("alg")
    if algorithm not in ASSERTION_ALGORITHMS:
        raise _invalid_client(
            f"The client assertion algorithm {algorithm!r} is not accepted; use one of "
            f"{', '.join(ASSERTION_ALGORITHMS)}."
        )
    if "typ" in header and str(header["typ"]).upper() != "JWT":
        raise _invalid_client("The client assertion header typ must be JWT.")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise _invalid_client("The client assertion header has no kid; set it to the certificate ID.")
    try:
        claims = load_bounded_json(compact.payload, max_bytes=MAX_ASSERTION_PAYLOAD_BYTES)
    except JSONTooLargeError as error:
        raise _invalid_client(
            f"The client assertion payload {error}; sign a flat JSON object of claims."
        ) from None
    except ValueError:
        claims = None
    if not isinstance(claims, dict):
        raise _invalid_client("The client assertion payload is not a JSON object.")
    issuer = claims.get("iss")
    if not isinstance(issuer, str) or not issuer:
        raise _invalid_client("The client assertion has no iss claim; set it to the client ID.")
    # One look at the file's data_version serves both lookups.
    version = state.database.data_version()
    integration = state.tenants.find_integration(issuer, version=version)
    if integration is None:
        raise _invalid_client(f"No integration record has the client ID {issuer!r} (iss).")
    certificate = state.certificates.find(kid, version=version)
    if certificate is None or certificate.integration.client_id != issuer:
        raise _invalid_client(f"No certificate with ID {kid!r} (kid) belongs to the integration {issuer!r}.")
    key = _public_jwk(certificate, algorithm)
    try:
        verified = jws.validate_compact(compact, key, algorithms=[algorithm])
    except JoseError:
        verified = False
    if not verified:
        raise _invalid_client(f"The client assertion signature does not verify with the certificate {kid}.")
    if certificate.revoked:
        raise _invalid_client(f"The certificate {kid} is revoked.")
    if moment + dt.timedelta(seconds=tolerance) < certificate.valid_from:
        raise _invalid_client(f"The certificate {kid} is not valid yet.")
    if moment >= certificate.valid_until:
        raise _invalid_client(f"The certificate {kid} expired on {certificate.valid_until:%Y-%m-%d}.")
    if not integration.client_credentials_enabled:
        raise OAuthRefusalError(
            "unauthorized_client",
            f"The integration record {integration.name!r} does not allow the client credentials grant; "
            "tick 'Client Credentials (Machine to Machine) Grant' on it.",
        )

    issued_at = _number(claims, "iat")
    expires_at = _number(claims, "exp")
    timestamp = int(moment.timestamp())
    if expires_at <= issued_at:
        raise _invalid_client("The client assertion exp must be later than its iat.")
    if expires_at - issued_at > MAX_ASSERTION_LIFETIME_SECONDS:
        raise _invalid_client(
            f"The client assertion lifetime (exp - iat) of {expires_at - issued_at} s exceeds "
            f"{MAX_ASSERTION_LIFETIME_SECONDS} s."
        )
    if issued_at > timestamp + tolerance:
        raise _invalid_client("The client assertion was issued in the future (iat); check the clock.")
    if expires_at < timestamp - tolerance:
        raise _invalid_client("The client assertion has expired (exp).")
    not_before = claims.get("nbf")
    if isinstance(not_before, int | float) and not_before > timestamp + tolerance:
        raise _invalid_client("The client assertion is not valid yet (nbf).")

    candidates = list(audiences_for(integration))
    if not audience_accepted(claims.get("aud"), candidates, rule=config.audience_rule):
        example = candidates[0] if candidates else "the token endpoint URL"
        raise _invalid_client(f"The client assertion aud must be the token endpoint URL, e.g. {example}.")
    scopes = check_scope_claim(claims.get("scope"))
    refused = [scope for scope in scopes if scope not in integration.scopes]
    if refused:
        raise OAuthRefusalError(
            "invalid_scope",
            f"The integration record {integration.name!r} does not allow the scope "
            f"{', '.join(refused)}; ask only for {', '.join(integration.scopes)}, or tick the scope "
            "on the integration record.",
        )

    jti = claims.get("jti")
    if jti is not None and (not isinstance(jti, str) or not jti):
        raise _invalid_client("The client assertion jti claim must be a non-empty string.")
    if jti is None and config.require_jti:
        raise _invalid_client("The client assertion has no jti claim; give each assertion a unique one.")
    # Without a jti, the assertion itself is what may not be used twice (the emulator's own rule,
    # ``replay_without_jti``; NetSuite documents none).
    replay_key = (
        f"{issuer}:jti:{jti}"
        if jti
        else (f"{issuer}:sha256:{hashlib.sha256(assertion.encode('ascii')).hexdigest()}")
    )
    if jti or config.replay_without_jti:
        spent_until = dt.datetime.fromtimestamp(expires_at + tolerance, dt.UTC)
        if not state.grants.consume_assertion(replay_key, expires_at=spent_until, now=moment):
            raise _invalid_client(
                "The client assertion was already used (jti replay); sign a new one for every request."
            )
    grant = TokenGrant(
        integration=certificate.integration,
        entity=certificate.entity,
        role=certificate.role,
        scopes=scopes,
    )
    return grant, certificate


@dataclass(frozen=True, slots=True)
class AccessToken:
    token: str
    jti: str
    expires_in: int


def access_token_kid(company_id: str, key_created_at: dt.datetime) -> str:
    """Oracle's ``kid`` of an access token: ``c.<company>.<YYYY-MM-DD_hh-mm-ss>`` (the key's birth)."""
    return f"c.{company_id}.{key_created_at.astimezone(dt.UTC):%Y-%m-%d_%H-%M-%S}"


class TokenIssuer:
    """Signs the emulator's access tokens (RS256, NetSuite's header and claims) and checks bearer tokens."""

    def __init__(self, state: EmulatorState) -> None:
        self._state = state
        _row_kid, created_at, private_key = state.grants.signing_key_info()
        self.key_created_at = created_at
        # Tokens are signed with the key object itself (RS256 is PKCS#1 v1.5 with SHA-256), each
        # company's header segment encoded once; bearer tokens are checked through joserfc.
        self._signing_key = private_key
        self._header_segments: dict[str, bytes] = {}
        self._public = RSAKey.import_key(private_key.public_key())

    def kid_for(self, company_id: str) -> str:
        return access_token_kid(company_id, self.key_created_at)

    def issue(
        self,
        grant: TokenGrant,
        *,
        lifetime_seconds: int,
        kind: str = "access",
        counter: str | None = None,
        now: dt.datetime | None = None,
    ) -> AccessToken:
        """Sign and store a token: ``sub`` = ``role;entity``, ``aud`` = ``[appId;company, clientId]``."""
        issued = (now or utcnow()).replace(microsecond=0)
        expires = issued + dt.timedelta(seconds=lifetime_seconds)
        jti = str(uuid.uuid4())
        integration = grant.integration
        claims = {
            "sub": f"{grant.role.id};{grant.entity.id}",
            "aud": [
                f"{integration.application_id};{integration.account.company_id}",
                integration.client_id,
            ],
            "scope": list(grant.scopes),
            "iss": ACCESS_TOKEN_ISSUER,
            "oit": int(issued.timestamp()),
            "exp": int(expires.timestamp()),
            "iat": int(issued.timestamp()),
            "jti": jti,
        }
        token = self._sign(integration.account.company_id, claims)
        self._state.grants.store_issued_token(
            jti=jti, kind=kind, grant=grant, issued_at=issued, expires_at=expires, counter=counter
        )
        return AccessToken(token=token, jti=jti, expires_in=lifetime_seconds)

    def _sign(self, company_id: str, claims: dict[str, Any]) -> str:
        """The compact JWS of ``claims`` under Oracle's header for ``company_id``."""
        header_segment = self._header_segments.get(company_id)
        if header_segment is None:
            header = {"kid": self.kid_for(company_id), "typ": "JWT", "alg": ACCESS_TOKEN_ALGORITHM}
            header_segment = _json_segment(header)
            self._header_segments[company_id] = header_segment
        signing_input = header_segment + b"." + _json_segment(claims)
        signature = self._signing_key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        return (signing_input + b"." + base64.urlsafe_b64encode(signature).rstrip(b"=")).decode("ascii")

    def verify_bearer(self, authorization: str | None, *, now: dt.datetime | None = None) -> IssuedToken:
        """The token an ``Authorization: Bearer`` header carries, or a 401 ``INVALID_LOGIN``."""
        scheme, _, token = (authorization or "").strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise NetSuiteRefusalError.invalid_login()
        try:
            decoded = jwt.decode(token, self._public, algorithms=[ACCESS_TOKEN_ALGORITHM])
        except (JoseError, ValueError, UnicodeError):
            raise NetSuiteRefusalError.invalid_login() from None
        claims = decoded.claims
        exp = claims.get("exp")
        jti = claims.get("jti")
        if (
            claims.get("iss") != ACCESS_TOKEN_ISSUER
            or not isinstance(exp, int)
            or not isinstance(jti, str)
            or exp <= int((now or utcnow()).timestamp())
        ):
            raise NetSuiteRefusalError.invalid_login()
        issued = self._state.grants.find_token(jti)
        if (
            issued is None
            or issued.revoked
            or decoded.header.get("kid") != self.kid_for(issued.grant.integration.account.company_id)
        ):
            raise NetSuiteRefusalError.invalid_login()
        return issued

    def jwks(self) -> dict[str, Any]:
        """The public key of access tokens as a JWK set (one entry per company's ``kid``)."""
        public = self._public.as_dict(private=False)
        return {
            "keys": [
                {**public, "kid": self.kid_for(company), "alg": ACCESS_TOKEN_ALGORITHM, "use": "sig"}
                for company in self._state.tenants.company_ids()
            ]
        }


def _json_segment(value: dict[str, Any]) -> bytes:
    """A JWS segment: compact JSON, base64url without padding."""
    text = json.dumps(value, ensure_ascii=True, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode("ascii")).rstrip(b"=")


def pkce_s256(code_verifier: str) -> str:
    """The S256 ``code_challenge`` of a PKCE ``code_verifier`` (RFC 7636 section 4.2)."""
    digest = hashlib.sha256(code_verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
