"""Token endpoint requests (client credentials, authorization code) shared by the client and M2MAuth."""

from __future__ import annotations

from collections.abc import Sequence

import httpx2

from certrotor import __version__
from certrotor.client._retry import TRANSIENT_STATUSES, retry_after_seconds
from certrotor.client.responses import error_for_response, parse_token_response
from certrotor.crypto import PrivateKey
from certrotor.errors import RemoteUnavailableError
from certrotor.protocol.assertion import build_client_assertion
from certrotor.protocol.models import (
    CLIENT_ASSERTION_TYPE,
    GRANT_AUTHORIZATION_CODE,
    GRANT_CLIENT_CREDENTIALS,
    TokenResponse,
)
from certrotor.protocol.urls import TOKEN_PATH

USER_AGENT = f"certrotor/{__version__}"
CLIENT_CREDENTIALS_OPERATION = "the client credentials token request"


class TokenEndpointUnavailableError(RemoteUnavailableError):
    """The token endpoint answered 429 or 5xx: no token was issued, so asking again is safe."""

    def __init__(self, message: str, *, status_code: int, retry_after: float | None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.retry_after = retry_after


def is_token_request(request: httpx2.Request) -> bool:
    return request.method == "POST" and request.url.path.endswith(TOKEN_PATH)


def client_credentials_request(
    *,
    token_url: str,
    client_id: str,
    certificate_id: str,
    private_key: PrivateKey,
    scopes: Sequence[str],
) -> httpx2.Request:
    """A token request with a fresh, single-use client assertion (build one per attempt)."""
    assertion = build_client_assertion(
        private_key,
        certificate_id=certificate_id,
        client_id=client_id,
        token_url=token_url,
        scopes=scopes,
    )
    return httpx2.Request(
        "POST",
        token_url,
        data={
            "grant_type": GRANT_CLIENT_CREDENTIALS,
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": assertion,
        },
        headers={"Accept": "application/json", "User-Agent": USER_AGENT},
    )


def authorization_code_request(
    *,
    token_url: str,
    client_id: str,
    code: str,
    redirect_uri: str,
    code_verifier: str,
    client_secret: str | None = None,
) -> httpx2.Request:
    """Exchange an authorization code (RFC 6749 4.1.3) with its PKCE verifier (RFC 7636)."""
    form = {
        "grant_type": GRANT_AUTHORIZATION_CODE,
        "code": code,
        "redirect_uri": redirect_uri,
        "client_id": client_id,
        "code_verifier": code_verifier,
    }
    request = httpx2.Request(
        "POST",
        token_url,
        data=form,
        headers={"Accept": "application/json", "User-Agent": USER_AGENT},
    )
    if client_secret is not None:
        # A confidential client authenticates with HTTP Basic (RFC 6749 2.3.1).
        basic = httpx2.BasicAuth(client_id, client_secret)
        request = next(basic.auth_flow(request))
    return request


def read_token_response(response: httpx2.Response, *, operation: str) -> TokenResponse:
    """Parse a token answer; 429 and 5xx become ``TokenEndpointUnavailableError`` (safe to retry)."""
    if response.status_code in TRANSIENT_STATUSES:
        error = error_for_response(response, operation=operation)
        raise TokenEndpointUnavailableError(
            error.message,
            status_code=response.status_code,
            retry_after=retry_after_seconds(response) if response.status_code == 429 else None,
        )
    return parse_token_response(response, operation=operation)
