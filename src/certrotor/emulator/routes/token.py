"""The token endpoint: client credentials with a JWT assertion, authorization code with PKCE, refresh.

Errors are RFC 6749 JSON (``invalid_request`` 400, ``invalid_client`` 401 with
``WWW-Authenticate``, ``invalid_grant`` 400, ``unsupported_grant_type`` 400, ``invalid_scope`` 400).
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import re
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from certrotor.crypto import utcnow
from certrotor.emulator.problems import OAuthRefusalError
from certrotor.emulator.routes.common import get_runtime
from certrotor.emulator.runtime import EmulatorRuntime
from certrotor.emulator.state import IntegrationInfo, TokenGrant
from certrotor.emulator.tokens import pkce_s256, verify_client_assertion
from certrotor.protocol.models import (
    CLIENT_ASSERTION_TYPE,
    GRANT_AUTHORIZATION_CODE,
    GRANT_CLIENT_CREDENTIALS,
    OAuthErrorBody,
    TokenResponse,
)
from certrotor.protocol.urls import TOKEN_PATH, NetSuiteEndpoints, account_host_label

GRANT_REFRESH_TOKEN = "refresh_token"
JWKS_PATH = "/services/rest/auth/oauth2/v1/keys"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_CODE_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")

router = APIRouter(tags=["token"])

_FORM_SCHEMA = {
    "type": "object",
    "required": ["grant_type"],
    "properties": {
        "grant_type": {
            "type": "string",
            "enum": [GRANT_CLIENT_CREDENTIALS, GRANT_AUTHORIZATION_CODE, GRANT_REFRESH_TOKEN],
        },
        "client_assertion_type": {"type": "string", "enum": [CLIENT_ASSERTION_TYPE]},
        "client_assertion": {"type": "string", "description": "The signed client assertion JWT."},
        "code": {"type": "string"},
        "redirect_uri": {"type": "string"},
        "code_verifier": {"type": "string"},
        "client_id": {"type": "string"},
        "refresh_token": {"type": "string"},
    },
}


def _invalid_request(description: str) -> OAuthRefusalError:
    return OAuthRefusalError("invalid_request", description)


def parse_token_form(body: bytes, content_type: str | None) -> dict[str, str]:
    """The form fields of a token request; each may appear once (RFC 6749 section 3.2)."""
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type != "application/x-www-form-urlencoded":
        raise _invalid_request(
            "The token request must be a form (Content-Type: application/x-www-form-urlencoded)."
        )
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise _invalid_request("The token request body is not UTF-8 text.") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise _invalid_request(f"The parameter {name} is repeated; send it once.")
        form[name] = value
    return form


def token_audiences(
    request_base_url: str, public_base_url: str | None
) -> Callable[[IntegrationInfo], list[str]]:
    """Where an assertion's ``aud`` may point: this server, and the account's NetSuite hosts."""

    def audiences(integration: IntegrationInfo) -> list[str]:
        return list(_audience_urls(request_base_url, public_base_url, integration.account.account_id))

    return audiences


@functools.lru_cache(maxsize=1024)
def _audience_urls(request_base_url: str, public_base_url: str | None, account_id: str) -> tuple[str, ...]:
    """The token URLs an assertion for ``account_id`` may name (worked out once per base URL)."""
    netsuite = NetSuiteEndpoints.for_account(account_id)
    label = account_host_label(account_id)
    urls = [
        request_base_url.rstrip("/") + TOKEN_PATH,
        netsuite.token_url,
        netsuite.api_base + TOKEN_PATH,
        f"https://{label}.app.netsuite.com{TOKEN_PATH}",
    ]
    if public_base_url:
        urls.append(public_base_url.rstrip("/") + TOKEN_PATH)
    return tuple(urls)


def _basic_client_id(authorization: str | None) -> str | None:
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() != "basic" or not value.strip():
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except ValueError:
        return None
    return decoded.partition(":")[0] or None


class TokenGrants:
    """The three grant types, each answering a token or raising an ``OAuthRefusalError``."""

    def __init__(self, runtime: EmulatorRuntime) -> None:
        self.runtime = runtime

    def answer(self, form: dict[str, str], *, base_url: str, authorization: str | None) -> dict[str, Any]:
        grant_type = form.get("grant_type")
        if not grant_type:
            raise _invalid_request("The grant_type parameter is missing.")
        if grant_type == GRANT_CLIENT_CREDENTIALS:
            return self.client_credentials(form, base_url=base_url)
        if grant_type == GRANT_AUTHORIZATION_CODE:
            return self.authorization_code(form, authorization=authorization)
        if grant_type == GRANT_REFRESH_TOKEN:
            return self.refresh(form, authorization=authorization)
        raise OAuthRefusalError(
            "unsupported_grant_type",
            f"The grant type {grant_type!r} is not supported; use client_credentials, "
            "authorization_code or refresh_token.",
        )

    def client_credentials(self, form: dict[str, str], *, base_url: str) -> dict[str, Any]:
        assertion_type = form.get("client_assertion_type")
        if not assertion_type:
            raise _invalid_request(
                f"The client_assertion_type parameter is missing; use {CLIENT_ASSERTION_TYPE}."
            )
        if assertion_type != CLIENT_ASSERTION_TYPE:
            raise _invalid_request(f"The client_assertion_type must be {CLIENT_ASSERTION_TYPE}.")
        assertion = form.get("client_assertion")
        if not assertion:
            raise _invalid_request("The client_assertion parameter is missing.")
        config = self.runtime.config
        grant, _certificate = verify_client_assertion(
            self.runtime.state,
            assertion,
            audiences_for=token_audiences(base_url, config.public_base_url),
            config=config,
        )
        return self._token(grant, counter=GRANT_CLIENT_CREDENTIALS)

    def authorization_code(self, form: dict[str, str], *, authorization: str | None) -> dict[str, Any]:
        for name in ("code", "redirect_uri", "code_verifier"):
            if not form.get(name):
                raise _invalid_request(f"The {name} parameter is missing.")
        client_id = self._client_id(form, authorization)
        verifier = form["code_verifier"]
        if not _CODE_VERIFIER.match(verifier):
            raise _invalid_request(
                "The code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~ (RFC 7636)."
            )
        redeemed = self.runtime.state.grants.redeem_authorization_code(form["code"], now=utcnow())
        if redeemed is None:
            raise OAuthRefusalError(
                "invalid_grant", "The authorization code is invalid, expired or already used."
            )
        grant, redirect_uri, challenge = redeemed
        if grant.integration.client_id != client_id:
            raise OAuthRefusalError("invalid_grant", "The authorization code was issued to another client.")
        if form["redirect_uri"] != redirect_uri:
            raise OAuthRefusalError(
                "invalid_grant", "The redirect_uri differs from the one of the authorization request."
            )
        if pkce_s256(verifier) != challenge:
            raise OAuthRefusalError(
                "invalid_grant", "The code_verifier does not match the code_challenge (PKCE S256)."
            )
        answer = self._token(grant, counter=GRANT_AUTHORIZATION_CODE)
        refresh_token = secrets.token_urlsafe(48)
        config = self.runtime.config
        self.runtime.state.grants.store_refresh_token(
            refresh_token,
            grant=grant,
            expires_at=utcnow() + dt.timedelta(seconds=config.refresh_token_lifetime_seconds),
        )
        return {**answer, "refresh_token": refresh_token, "scope": " ".join(grant.scopes)}

    def refresh(self, form: dict[str, str], *, authorization: str | None) -> dict[str, Any]:
        refresh_token = form.get("refresh_token")
        if not refresh_token:
            raise _invalid_request("The refresh_token parameter is missing.")
        client_id = self._client_id(form, authorization)
        grant = self.runtime.state.grants.find_refresh_token(refresh_token, now=utcnow())
        if grant is None or grant.integration.client_id != client_id:
            raise OAuthRefusalError("invalid_grant", "The refresh token is invalid, expired or revoked.")
        return {**self._token(grant, counter=GRANT_REFRESH_TOKEN), "scope": " ".join(grant.scopes)}

    def _client_id(self, form: dict[str, str], authorization: str | None) -> str:
        client_id = form.get("client_id") or _basic_client_id(authorization)
        if not client_id:
            raise _invalid_request("The client_id parameter is missing.")
        if self.runtime.state.tenants.find_integration(client_id) is None:
            raise OAuthRefusalError(
                "invalid_client", f"No integration record has the client ID {client_id!r}."
            )
        return client_id

    def _token(self, grant: TokenGrant, *, counter: str) -> dict[str, Any]:
        token = self.runtime.issuer.issue(
            grant, lifetime_seconds=self.runtime.config.token_lifetime_seconds, counter=counter
        )
        return {"access_token": token.token, "expires_in": token.expires_in, "token_type": "Bearer"}


@router.post(
    TOKEN_PATH,
    summary="Obtain an access token",
    response_model=TokenResponse,
    responses={
        400: {"model": OAuthErrorBody, "description": "RFC 6749 error"},
        401: {"model": OAuthErrorBody, "description": "invalid_client"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/x-www-form-urlencoded": {"schema": _FORM_SCHEMA}},
        }
    },
)
async def token_endpoint(request: Request) -> Response:
    # Served by TokenRequestApp before FastAPI routes anything (see app.EmulatorApp); this route
    # describes the endpoint in the OpenAPI document and answers alike if reached.
    return answer_token_request(
        get_runtime(request),
        await request.body(),
        content_type=request.headers.get("content-type"),
        authorization=request.headers.get("authorization"),
        base_url=str(request.base_url),
    )


def answer_token_request(
    runtime: EmulatorRuntime,
    body: bytes,
    *,
    content_type: str | None,
    authorization: str | None,
    base_url: str,
) -> Response:
    """The answer to one token request: a token (``Cache-Control: no-store``) or an RFC 6749 error."""
    # Answered on the event loop: a grant is CPU work of well under a millisecond (lookups are
    # cached, writes deferred), less than a hop to the thread pool costs.
    try:
        form = parse_token_form(body, content_type)
        answer = TokenGrants(runtime).answer(form, base_url=base_url, authorization=authorization)
    except OAuthRefusalError as refusal:
        runtime.state.counters.increment("token_refusals", refusal.error)
        return refusal.response()
    return JSONResponse(answer, headers=NO_STORE)


class TokenRequestApp:
    """``POST`` to the token endpoint as a plain ASGI app: the body, two headers and the base URL
    read straight from the scope, no routing, dependency solving or validation on the way."""

    def __init__(self, runtime: EmulatorRuntime) -> None:
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away: nobody to answer
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        content_type = authorization = None
        for name, value in scope["headers"]:
            if name == b"content-type" and content_type is None:
                content_type = value.decode("latin-1")
            elif name == b"authorization" and authorization is None:
                authorization = value.decode("latin-1")
        response = answer_token_request(
            self.runtime,
            b"".join(chunks),
            content_type=content_type,
            authorization=authorization,
            base_url=str(Request(scope).base_url),
        )
        await response(scope, receive, send)


@router.get(JWKS_PATH, summary="Public keys of the access tokens (JWK set)")
def jwks(request: Request) -> dict[str, Any]:
    return get_runtime(request).issuer.jwks()
