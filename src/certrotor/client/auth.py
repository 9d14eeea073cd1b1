"""``httpx2.Auth`` flows: a fixed bootstrap bearer token, and M2M tokens fetched, cached and refreshed.

``M2MAuth`` follows httpx's generator pattern: when it has no fresh token it *yields* the token
request to whichever client is sending (sync or async), so it works in any ``httpx2.Client``.
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from collections.abc import AsyncGenerator, Generator, Sequence
from dataclasses import dataclass, field

import httpx2
from pydantic import SecretStr

from certrotor.client._http import Closeable, retry_idempotent
from certrotor.client._retry import RetryPolicy, call_with_retry
from certrotor.client._tls import tls_verify
from certrotor.client._token import (
    CLIENT_CREDENTIALS_OPERATION,
    USER_AGENT,
    client_credentials_request,
    read_token_response,
)
from certrotor.client.responses import unavailable_error
from certrotor.crypto import PrivateKey, jws_algorithm_for_key
from certrotor.errors import ConfigError
from certrotor.logging import get_logger
from certrotor.protocol.assertion import check_scopes
from certrotor.protocol.models import TokenResponse

log = get_logger(__name__)

DEFAULT_REFRESH_MARGIN_SECONDS = 60.0
"""Refresh this long before expiry (or at 90% of the lifetime, whichever is earlier)."""


class BearerTokenAuth(httpx2.Auth):
    """A fixed bearer token, e.g. the bootstrap management token (``--token``)."""

    def __init__(self, token: str | SecretStr) -> None:
        value = token.get_secret_value() if isinstance(token, SecretStr) else token
        value = value.strip()
        if not value:
            raise ConfigError(
                "The bearer token is empty.",
                hint="pass a NetSuite access token with --token or CERTROTOR_BOOTSTRAP_TOKEN, "
                "or run `certrotor login`.",
            )
        self._token = value

    def auth_flow(self, request: httpx2.Request) -> Generator[httpx2.Request, httpx2.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token}"
        yield request

    def __repr__(self) -> str:
        return "BearerTokenAuth(token=<redacted>)"


@dataclass(frozen=True, slots=True)
class _CachedToken:
    value: str = field(repr=False)
    refresh_at: float
    expires_at: float


class M2MAuth(Closeable, httpx2.Auth):
    """Bearer tokens from the client credentials grant, signed with a certificate's private key.

    The token is cached until shortly before it expires. Only one token request is in flight at a
    time across threads (a ``threading.Lock``) and across the tasks of an event loop (an
    ``asyncio.Lock`` per loop); the others wait and reuse its token. A request answered 401 is
    sent once more with a fresh token. ``current_token()`` hands the token to other consumers.
    """

    def __init__(
        self,
        token_url: str,
        client_id: str,
        certificate_id: str,
        private_key: PrivateKey,
        scopes: Sequence[str],
        *,
        refresh_margin: float = DEFAULT_REFRESH_MARGIN_SECONDS,
        retry: RetryPolicy | None = None,
        verify_tls: bool = True,
        timeout: float = 30.0,
        transport: httpx2.BaseTransport | None = None,
    ) -> None:
        jws_algorithm_for_key(private_key)  # refuse a key NetSuite would refuse, before any I/O
        self.token_url = token_url
        self.client_id = client_id
        self.certificate_id = certificate_id
        self.scopes = tuple(check_scopes(scopes))
        self._private_key = private_key
        self._refresh_margin = refresh_margin
        self._retry = retry or RetryPolicy()
        self._verify_tls = verify_tls
        self._timeout = timeout
        self._transport = transport
        self._cached: _CachedToken | None = None
        self._state_lock = threading.Lock()  # guards the cache; never held across I/O
        self._fetch_lock = threading.Lock()  # one token request in flight across threads
        self._async_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        self._broker_client: httpx2.Client | None = None

    def __repr__(self) -> str:
        return (
            f"M2MAuth(client_id={self.client_id!r}, certificate_id={self.certificate_id!r}, "
            f"scopes={list(self.scopes)!r})"
        )

    # -- the cache ---------------------------------------------------------------------------

    def _usable_token(self, rejected: str | None) -> str | None:
        """The cached token unless it is due for refresh or the server just rejected it."""
        with self._state_lock:
            cached = self._cached
            if cached is None:
                return None
            if cached.value == rejected or time.time() >= cached.refresh_at:
                self._cached = None
                return None
            return cached.value

    def _remember(self, token: TokenResponse) -> str:
        now = time.time()
        margin = min(self._refresh_margin, token.expires_in * 0.1)
        with self._state_lock:
            self._cached = _CachedToken(
                value=token.access_token,
                refresh_at=now + token.expires_in - margin,
                expires_at=now + token.expires_in,
            )
        log.debug(
            "m2m.token_obtained",
            client_id=self.client_id,
            certificate_id=self.certificate_id,
            expires_in=token.expires_in,
        )
        return token.access_token

    def invalidate(self) -> None:
        """Forget the cached token (the next request fetches a new one)."""
        with self._state_lock:
            self._cached = None

    @property
    def token_expires_at(self) -> float | None:
        """When the cached token expires (epoch seconds), or None without one."""
        with self._state_lock:
            return self._cached.expires_at if self._cached else None

    def _token_request(self) -> httpx2.Request:
        return client_credentials_request(
            token_url=self.token_url,
            client_id=self.client_id,
            certificate_id=self.certificate_id,
            private_key=self._private_key,
            scopes=self.scopes,
        )

    def _async_lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        with self._state_lock:
            lock = self._async_locks.get(loop)
            if lock is None:
                lock = self._async_locks[loop] = asyncio.Lock()
            return lock

    # -- the flows ---------------------------------------------------------------------------

    def _sync_token(self, rejected: str | None) -> Generator[httpx2.Request, httpx2.Response, str]:
        token = self._usable_token(rejected)
        if token is not None:
            return token
        with self._fetch_lock:
            # Another thread may have refreshed while this one waited for the lock.
            token = self._usable_token(rejected)
            if token is not None:
                return token
            response = yield self._token_request()
            response.read()
            return self._remember(read_token_response(response, operation=CLIENT_CREDENTIALS_OPERATION))

    def sync_auth_flow(self, request: httpx2.Request) -> Generator[httpx2.Request, httpx2.Response, None]:
        request.read()  # the body must be replayable for the retry after a 401
        rejected: str | None = None
        for _ in range(2):
            token = yield from self._sync_token(rejected)
            request.headers["Authorization"] = f"Bearer {token}"
            response = yield request
            if response.status_code != 401:
                return
            rejected = token

    async def async_auth_flow(
        self, request: httpx2.Request
    ) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        await request.aread()
        rejected: str | None = None
        for _ in range(2):
            token = self._usable_token(rejected)
            if token is None:
                async with self._async_lock():
                    token = self._usable_token(rejected)
                    if token is None:
                        token_response = yield self._token_request()
                        await token_response.aread()
                        token = self._remember(
                            read_token_response(token_response, operation=CLIENT_CREDENTIALS_OPERATION)
                        )
            request.headers["Authorization"] = f"Bearer {token}"
            response = yield request
            if response.status_code != 401:
                return
            rejected = token

    def auth_flow(self, request: httpx2.Request) -> Generator[httpx2.Request, httpx2.Response, None]:
        # httpx2 calls sync_auth_flow / async_auth_flow; this keeps the base contract honest.
        yield from self.sync_auth_flow(request)

    # -- the token broker --------------------------------------------------------------------

    def current_token(self) -> str:
        """A valid access token for other consumers, fetched (with retries) only when needed."""
        token = self._usable_token(None)
        if token is not None:
            return token

        def fetch() -> str:
            return _drive(self._sync_token(None), self._client_for_broker())

        try:
            return call_with_retry(
                fetch,
                policy=self._retry,
                retry_on=lambda exc: retry_idempotent(exc, self._retry),
                operation="m2m.current_token",
            )
        except httpx2.TransportError as exc:
            raise unavailable_error(exc, operation=CLIENT_CREDENTIALS_OPERATION) from exc

    def _client_for_broker(self) -> httpx2.Client:
        with self._state_lock:
            if self._broker_client is None:
                self._broker_client = httpx2.Client(
                    verify=tls_verify(self._verify_tls),
                    timeout=self._timeout,
                    transport=self._transport,
                    headers={"User-Agent": USER_AGENT},
                )
            return self._broker_client

    def close(self) -> None:
        """Close the small client ``current_token()`` uses, if one was opened."""
        with self._state_lock:
            client, self._broker_client = self._broker_client, None
        if client is not None:
            client.close()


def _drive(flow: Generator[httpx2.Request, httpx2.Response, str], client: httpx2.Client) -> str:
    """Run a token flow to completion by sending each request it yields with ``client``."""
    try:
        request = next(flow)
        while True:
            response = client.send(request)
            request = flow.send(response)
    except StopIteration as done:
        token: str = done.value
        return token
    finally:
        flow.close()
