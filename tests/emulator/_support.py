"""Helpers of the emulator tests: certificates, hand-made JWTs, an HTTP caller, state snapshots."""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx2
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from joserfc import jws

from certrotor.crypto import (
    KeySpec,
    PrivateKey,
    build_self_signed_certificate,
    certificate_to_pem,
    generate_private_key,
    utcnow,
)
from certrotor.emulator.testing import RunningEmulator, shared_ssl_context
from certrotor.protocol.assertion import signing_key
from certrotor.protocol.models import (
    CLIENT_ASSERTION_TYPE,
    NetSuiteErrorBody,
    OAuthErrorBody,
    UploadCertificateResponse,
)

ADMIN = object()
"""Marker: use the demo tenant's admin token."""
GOOD_SCOPES = ["restlets", "rest_webservices"]


def make_certificate(
    spec: KeySpec = KeySpec.EC_P256,
    *,
    key: PrivateKey | None = None,
    validity_days: int = 365,
    not_before: dt.datetime | None = None,
    validity: dt.timedelta | None = None,
) -> tuple[PrivateKey, str]:
    """A key and its self-signed PEM certificate, made by certrotor's own crypto."""
    private_key = key or generate_private_key(spec)
    certificate = build_self_signed_certificate(
        private_key,
        common_name="emulator test",
        validity_days=validity_days,
        not_before=not_before,
        validity=validity,
    )
    return private_key, certificate_to_pem(certificate)


def raw_certificate(key: Any, *, days: int, not_before: dt.datetime | None = None) -> str:
    """A certificate made with pyca directly: any key and any validity (for what certrotor refuses)."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "raw")])
    start = (not_before or utcnow()).replace(microsecond=0)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    return certificate_to_pem(certificate)


def weak_rsa_certificate() -> str:
    return raw_certificate(rsa.generate_private_key(public_exponent=65537, key_size=2048), days=30)


def k1_certificate() -> str:
    return raw_certificate(ec.generate_private_key(ec.SECP256K1()), days=30)


def sign_jwt(header: dict[str, Any], claims: dict[str, Any], key: PrivateKey) -> str:
    """Sign exactly this header and these claims (the test decides what is wrong with them)."""
    payload = json.dumps(claims).encode("utf-8")
    return jws.serialize_compact(header, payload, signing_key(key), algorithms=[header["alg"]])


def unsigned_jwt(header: dict[str, Any], claims: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part(header)}.{part(claims)}."


def token_claims(token: str) -> dict[str, Any]:
    """The claims of an access token, read without verification (what the emulator put in them)."""
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return claims


def token_header(token: str) -> dict[str, Any]:
    header = token.split(".")[0]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    return decoded


def netsuite_error(response: httpx2.Response) -> tuple[int, str | None, str]:
    """(status, o:errorCode, detail) of a NetSuite REST error, parsed with the protocol model."""
    body = NetSuiteErrorBody.model_validate(response.json())
    assert body.status == response.status_code
    return response.status_code, body.error_code, body.message


def oauth_error(response: httpx2.Response) -> tuple[int, str, str | None]:
    body = OAuthErrorBody.model_validate(response.json())
    return response.status_code, body.error, body.error_description


def snapshot(emulator: RunningEmulator) -> dict[str, Any]:
    """What a refused request must leave untouched: certificates and success counters."""
    counters = emulator.counters()
    return {
        "certificates": emulator.certificates(),
        "uploads": counters.get("uploads_total", 0),
        "revokes": counters.get("revokes_total", 0),
        "token_grants": counters.get("token_grants_total", 0),
    }


class Caller:
    """Calls the emulator over real HTTP the way a NetSuite client would."""

    def __init__(self, emulator: RunningEmulator, http: httpx2.Client) -> None:
        self.emulator = emulator
        self.http = http
        self.tenant = emulator.tenant
        self.endpoints = emulator.endpoints

    def _auth(self, token: object) -> dict[str, str]:
        if token is ADMIN:
            return {"Authorization": f"Bearer {self.tenant.admin_token}"}
        if token is None:
            return {}
        return {"Authorization": str(token) if " " in str(token) else f"Bearer {token}"}

    def upload(
        self,
        pem: str | None = None,
        *,
        role: Any = 3,
        entity: Any = 7,
        token: object = ADMIN,
        client_id: str | None = None,
        body: Any = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx2.Response:
        url = self.endpoints.certificates_url(client_id or self.tenant.client_id)
        all_headers = {**self._auth(token), **(headers or {})}
        if content is not None:
            return self.http.post(url, content=content, headers=all_headers)
        payload = body if body is not None else {"fileContent": pem, "role": role, "entity": entity}
        return self.http.post(url, json=payload, headers=all_headers)

    def list(self, *, token: object = ADMIN, client_id: str | None = None) -> httpx2.Response:
        url = self.endpoints.certificates_url(client_id or self.tenant.client_id)
        return self.http.get(url, headers=self._auth(token))

    def revoke(
        self, certificate_id: str, *, token: object = ADMIN, client_id: str | None = None
    ) -> httpx2.Response:
        url = self.endpoints.revoke_url(client_id or self.tenant.client_id, certificate_id)
        return self.http.post(url, headers={**self._auth(token), "Content-Type": "application/json"})

    def upload_ok(
        self, spec: KeySpec = KeySpec.EC_P256, *, role: int = 3, entity: int = 7, **certificate: Any
    ) -> tuple[PrivateKey, str]:
        """Upload a fresh certificate; (key, certificate ID)."""
        key, pem = make_certificate(spec, **certificate)
        response = self.upload(pem, role=role, entity=entity)
        assert response.status_code == 200, response.text
        return key, UploadCertificateResponse.model_validate(response.json()).certificate_id

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(utcnow().timestamp())
        claims: dict[str, Any] = {
            "iss": self.tenant.client_id,
            "sub": self.tenant.client_id,
            "aud": self.endpoints.token_url,
            "scope": GOOD_SCOPES,
            "iat": now,
            "exp": now + 300,
            "jti": secrets.token_urlsafe(16),
        }
        claims.update(overrides)
        return {name: value for name, value in claims.items() if value is not DROP}

    def assertion(
        self,
        key: PrivateKey,
        certificate_id: str,
        *,
        alg: str = "ES256",
        header: dict[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        head = {"alg": alg, "typ": "JWT", "kid": certificate_id, **(header or {})}
        head = {name: value for name, value in head.items() if value is not DROP}
        return sign_jwt(head, self.claims(**claims), key)

    def token(
        self,
        assertion: str | None = None,
        *,
        form: dict[str, str] | None = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx2.Response:
        if content is not None:
            return self.http.post(self.endpoints.token_url, content=content, headers=headers)
        data = form or {
            "grant_type": "client_credentials",
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": assertion or "",
        }
        return self.http.post(self.endpoints.token_url, data=data, headers=headers)

    def access_token(self, key: PrivateKey, certificate_id: str, *, alg: str = "ES256") -> str:
        response = self.token(self.assertion(key, certificate_id, alg=alg))
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    def record(self, token: object) -> httpx2.Response:
        return self.http.get(self.endpoints.record_url("employee/7"), headers=self._auth(token))


DROP = object()
"""Marker: leave this header field or claim out."""


@contextmanager
def open_caller(emulator: RunningEmulator) -> Iterator[Caller]:
    with httpx2.Client(timeout=30, verify=shared_ssl_context()) as http:
        yield Caller(emulator, http)
