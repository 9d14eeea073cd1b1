"""Client assertion JWTs for the client credentials flow (RFC 7523), as NetSuite wants them."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence

from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from certrotor.crypto import PrivateKey, jws_algorithm_for_key, utcnow
from certrotor.errors import InputError
from certrotor.protocol.models import ASSERTION_ALGORITHMS, MAX_ASSERTION_LIFETIME_SECONDS, SCOPES


def signing_key(private_key: PrivateKey) -> ECKey | RSAKey:
    """Wrap a pyca key for joserfc."""
    from cryptography.hazmat.primitives.asymmetric import ec

    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        return ECKey.import_key(private_key)
    return RSAKey.import_key(private_key)


def check_scopes(scopes: Sequence[str]) -> list[str]:
    chosen = [s.strip() for s in scopes if s.strip()]
    unknown = [s for s in chosen if s not in SCOPES]
    if not chosen or unknown:
        raise InputError(
            f"Invalid scopes {', '.join(unknown) or '(none)'}.",
            hint=f"choose from: {', '.join(SCOPES)}.",
        )
    return chosen


def build_client_assertion(
    private_key: PrivateKey,
    *,
    certificate_id: str,
    client_id: str,
    token_url: str,
    scopes: Sequence[str],
    lifetime_seconds: int = 300,
    now: dt.datetime | None = None,
) -> str:
    """Sign a client assertion: header ``alg``/``typ``/``kid``; claims ``iss sub aud scope iat exp jti``."""
    if not 0 < lifetime_seconds <= MAX_ASSERTION_LIFETIME_SECONDS:
        raise InputError(
            f"Assertion lifetime {lifetime_seconds}s is out of range.",
            hint=f"use 1 to {MAX_ASSERTION_LIFETIME_SECONDS} seconds.",
        )
    algorithm = jws_algorithm_for_key(private_key)
    assert algorithm in ASSERTION_ALGORITHMS
    issued_at = int((now or utcnow()).timestamp())
    header = {"alg": algorithm, "typ": "JWT", "kid": certificate_id}
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": token_url,
        "scope": check_scopes(scopes),
        "iat": issued_at,
        "exp": issued_at + lifetime_seconds,
        "jti": secrets.token_urlsafe(24),
    }
    return jwt.encode(header, claims, signing_key(private_key), algorithms=[algorithm])
