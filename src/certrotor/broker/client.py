"""``BrokerAuth``: an ``httpx2.Auth`` that calls NetSuite with tokens from certrotor's broker.

The application holds only its broker key. Tokens are cached until shortly before they expire; a
request NetSuite answers 401 reports that token to the broker (``POST /v1/token/invalidate``) and
goes once more with a fresh one::

    auth = BrokerAuth("http://127.0.0.1:8401", key, "app1")
    with httpx2.Client(auth=auth) as client:
        client.get("https://1234567.suitetalk.api.netsuite.com/services/rest/record/v1/customer/42")
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from collections.abc import AsyncGenerator, Generator, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import httpx2

from certrotor.client._tls import tls_verify
from certrotor.client._token import USER_AGENT
from certrotor.errors import ConfigError, RemoteError, RemoteUnavailableError

DEFAULT_REFRESH_MARGIN_SECONDS = 30.0


class BrokerRefusedError(RemoteError):
    """The broker refused: ``status_code`` and its ``error`` code (``invalid_key``, ``not_granted``, ...)."""

    code = "broker_refused"

    def __init__(self, message: str, *, status_code: int, error: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.error = error


@dataclass(frozen=True, slots=True)
class BrokerToken:
    """A token from the broker; ``refresh_at`` is ``time.monotonic()``."""

    access_token: str = field(repr=False)
    certificate_id: str
    refresh_at: float


class BrokerAuth(httpx2.Auth):
    """Tokens for ``credential`` from the broker at ``url`` (``http://127.0.0.1:8401`` or ``unix:PATH``)."""

    def __init__(
        self,
        url: str,
        key: str,
        credential: str,
        *,
        scopes: Sequence[str] | None = None,
        refresh_margin: float = DEFAULT_REFRESH_MARGIN_SECONDS,
        timeout: float = 30.0,
    ) -> None:
        if not key.strip():
            raise ConfigError(
                "The broker key is empty.", hint="pass the key `certrotor broker key add` printed."
            )
        if url.startswith("unix:"):
            self._socket: str | None = url.removeprefix("unix:")
            self.url = "http://broker"
        else:
            self._socket = None
            self.url = url.rstrip("/")
        self.credential = credential
        self.scopes = list(scopes) if scopes else None
        self._key = key.strip()
        self._refresh_margin = refresh_margin
        self._timeout = timeout
        self._cached: BrokerToken | None = None
        self._state_lock = threading.Lock()  # guards the cache; never held across I/O
        self._fetch_lock = threading.Lock()  # one request to the broker at a time across threads
        self._async_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        self._client: httpx2.Client | None = None

    def __repr__(self) -> str:
        return f"BrokerAuth(url={self.url!r}, credential={self.credential!r}, key=<redacted>)"

    # -- the cache ------------------------------------------------------------------------------

    def _usable(self) -> BrokerToken | None:
        with self._state_lock:
            cached = self._cached
            if cached is not None and time.monotonic() < cached.refresh_at:
                return cached
            return None

    def _remember(self, response: httpx2.Response) -> BrokerToken:
        body = _answer(response)
        expires_in = float(body["expires_in"])
        margin = min(self._refresh_margin, expires_in * 0.1)
        token = BrokerToken(
            access_token=str(body["access_token"]),
            certificate_id=str(body["certificate_id"]),
            refresh_at=time.monotonic() + expires_in - margin,
        )
        with self._state_lock:
            self._cached = token
        return token

    def _forget(self, rejected: str | None) -> None:
        with self._state_lock:
            if self._cached is not None and (rejected is None or self._cached.access_token == rejected):
                self._cached = None

    def _token_request(self) -> tuple[str, dict[str, Any]]:
        payload: dict[str, Any] = {"credential": self.credential}
        if self.scopes:
            payload["scopes"] = self.scopes
        return "/v1/token", payload

    def _headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self._key}",
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
        }

    # -- sync -----------------------------------------------------------------------------------

    def _sync_client(self) -> httpx2.Client:
        with self._state_lock:
            if self._client is None:
                transport = httpx2.HTTPTransport(uds=self._socket) if self._socket else None
                self._client = httpx2.Client(
                    base_url=self.url, timeout=self._timeout, transport=transport, verify=tls_verify(True)
                )
            return self._client

    def _post(self, path: str, payload: dict[str, Any]) -> httpx2.Response:
        try:
            return self._sync_client().post(path, json=payload, headers=self._headers())
        except httpx2.TransportError as exc:
            raise _unreachable(self.url, exc) from None

    def token(self) -> str:
        """A valid access token (cached, or fetched from the broker)."""
        cached = self._usable()
        if cached is not None:
            return cached.access_token
        with self._fetch_lock:
            cached = self._usable()
            if cached is not None:
                return cached.access_token
            return self._remember(self._post(*self._token_request())).access_token

    def invalidate(self, rejected: str | None = None) -> None:
        """Report a token NetSuite refused, so neither this cache nor the broker's hands it out again."""
        self._forget(rejected)
        payload: dict[str, Any] = {"credential": self.credential}
        if rejected is not None:
            payload["access_token"] = rejected
        _answer(self._post("/v1/token/invalidate", payload))

    def sync_auth_flow(self, request: httpx2.Request) -> Generator[httpx2.Request, httpx2.Response, None]:
        request.read()  # the body must be replayable for the retry after a 401
        token = self.token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            self.invalidate(token)
            request.headers["Authorization"] = f"Bearer {self.token()}"
            yield request

    # -- async ----------------------------------------------------------------------------------

    def _async_lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        with self._state_lock:
            lock = self._async_locks.get(loop)
            if lock is None:
                lock = self._async_locks[loop] = asyncio.Lock()
            return lock

    async def _apost(self, path: str, payload: dict[str, Any]) -> httpx2.Response:
        transport = httpx2.AsyncHTTPTransport(uds=self._socket) if self._socket else None
        try:
            async with httpx2.AsyncClient(
                base_url=self.url, timeout=self._timeout, transport=transport, verify=tls_verify(True)
            ) as client:
                response = await client.post(path, json=payload, headers=self._headers())
                await response.aread()
                return response
        except httpx2.TransportError as exc:
            raise _unreachable(self.url, exc) from None

    async def atoken(self) -> str:
        """Like :meth:`token`, for an event loop: one broker request in flight per loop."""
        cached = self._usable()
        if cached is not None:
            return cached.access_token
        async with self._async_lock():
            cached = self._usable()
            if cached is not None:
                return cached.access_token
            return self._remember(await self._apost(*self._token_request())).access_token

    async def ainvalidate(self, rejected: str | None = None) -> None:
        self._forget(rejected)
        payload: dict[str, Any] = {"credential": self.credential}
        if rejected is not None:
            payload["access_token"] = rejected
        _answer(await self._apost("/v1/token/invalidate", payload))

    async def async_auth_flow(
        self, request: httpx2.Request
    ) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        await request.aread()
        token = await self.atoken()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            await self.ainvalidate(token)
            request.headers["Authorization"] = f"Bearer {await self.atoken()}"
            yield request

    def auth_flow(self, request: httpx2.Request) -> Generator[httpx2.Request, httpx2.Response, None]:
        yield from self.sync_auth_flow(request)

    # -- lifecycle --------------------------------------------------------------------------------

    def close(self) -> None:
        with self._state_lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def __enter__(self) -> BrokerAuth:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


def _answer(response: httpx2.Response) -> dict[str, Any]:
    """The broker's JSON answer; a refusal becomes ``BrokerRefusedError`` with the broker's message."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code != 200 or not isinstance(body, dict):
        message = body.get("message") if isinstance(body, dict) else None
        error = body.get("error") if isinstance(body, dict) else None
        raise BrokerRefusedError(
            f"The token broker answered {response.status_code}: {message or 'no JSON answer'}",
            status_code=response.status_code,
            error=str(error or "unknown"),
        )
    return body


def _unreachable(url: str, exc: httpx2.TransportError) -> RemoteUnavailableError:
    return RemoteUnavailableError(
        f"The token broker at {url} cannot be reached ({type(exc).__name__}).",
        hint="start it with `certrotor broker serve` (or `certrotor daemon --broker-port`).",
    )
