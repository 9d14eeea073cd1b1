"""The token broker's HTTP app: ``POST /v1/token``, ``POST /v1/token/invalidate``, ``/v1/proxy/NAME/...``.

Applications authenticate with ``Authorization: Bearer <application key>``; a key reaches only the
credentials it was granted. Every refusal is JSON ``{"error": code, "message": text}``. The routes
are plain Starlette endpoints (no dependency injection): the cached token path is the hot one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx2
from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import Response

from certrotor.broker.keys import KeyRing
from certrotor.broker.limits import RateLimiter
from certrotor.broker.proxy import PROXY_PREFIX, Forwarder, ProxyPathError, parse_target
from certrotor.broker.tokens import (
    DEFAULT_REFRESH_MARGIN_SECONDS,
    Fetcher,
    NoCurrentCertificateError,
    TokenCache,
    m2m_fetcher,
)
from certrotor.broker.usage import BrokerMetrics, UsageLog
from certrotor.client._token import TokenEndpointUnavailableError
from certrotor.errors import (
    CertrotorError,
    InputError,
    MasterKeyError,
    NotFoundError,
    RemoteError,
    RemoteUnavailableError,
    StoreError,
)
from certrotor.logging import get_logger
from certrotor.services.runtime import Runtime
from certrotor.store.broker_keys import BrokerKey, StoreChanges

log = get_logger(__name__)

TOKEN_PATH = "/v1/token"
INVALIDATE_PATH = "/v1/token/invalidate"
_MAX_TOKEN_BODY = 16 * 1024
_JSON = "application/json"
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@dataclass(frozen=True)
class BrokerSettings:
    """How the broker limits and reports; the defaults suit one host's applications."""

    rate_limit: float = 50.0
    """Requests a second per application key on average (``0``: no limit)."""
    burst: int = 200
    """Requests a key may make at once before the rate applies."""
    audit_interval: float = 60.0
    """Seconds between the audit events that count tokens issued per key and credential."""
    refresh_margin: float = DEFAULT_REFRESH_MARGIN_SECONDS
    max_proxy_body: int = 10 * 1024 * 1024
    """Largest request body the proxy forwards (it is kept to be sent again after a 401)."""
    proxy_timeout: float = 60.0


class Refusal(Exception):  # noqa: N818 - an answer, not a failure
    """A request the broker answers with a JSON error; ``message`` never holds a key or a token."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def response(self) -> Response:
        body = json.dumps({"error": self.code, "message": self.message})
        return Response(body, status_code=self.status, media_type=_JSON, headers=self.headers)


class Broker:
    """The broker's parts: key ring, rate limiter, token cache, proxy, usage counts and metrics."""

    def __init__(
        self,
        runtime: Runtime,
        settings: BrokerSettings | None = None,
        *,
        fetcher: Fetcher | None = None,
        metrics: BrokerMetrics | None = None,
    ) -> None:
        self.runtime = runtime
        self.settings = settings or BrokerSettings()
        self.store = runtime.store
        self.changes = StoreChanges(runtime.settings.resolved_database_url)
        self.metrics = metrics or BrokerMetrics()
        self.keys = KeyRing(self.store, self.changes)
        self.limiter = RateLimiter(self.settings.rate_limit, self.settings.burst)
        self.cache = TokenCache(
            self.store,
            self.changes,
            fetcher or m2m_fetcher(runtime),
            refresh_margin=self.settings.refresh_margin,
            on_fetch=self.metrics.token_request,
        )
        self.usage = UsageLog()
        self.forwarder = Forwarder(self.cache, self.metrics, timeout=self.settings.proxy_timeout)

    # -- checks shared by every route -------------------------------------------------------

    def authenticate(self, request: Request) -> BrokerKey:
        """The caller's live key (401 otherwise), within its rate (429 otherwise)."""
        scheme, _, presented = request.headers.get("authorization", "").partition(" ")
        presented = presented.strip()
        if scheme.lower() != "bearer" or not presented:
            raise self._refuse(
                401,
                "missing_key",
                "Send the application key as 'Authorization: Bearer KEY'. "
                "Make one with `certrotor broker key add APP --credential NAME`.",
                {"WWW-Authenticate": 'Bearer realm="certrotor-broker"'},
            )
        key = self.keys.lookup(presented)
        if key is None:
            raise self._refuse(
                401,
                "invalid_key",
                "The application key is unknown or revoked. "
                "See the live keys with `certrotor broker key list`.",
                {"WWW-Authenticate": 'Bearer realm="certrotor-broker", error="invalid_token"'},
            )
        wait = self.limiter.take(key.id)
        if wait > 0:
            raise self._refuse(
                429,
                "rate_limited",
                f"The application {key.app!r} sent more than {self.limiter.rate:g} requests a second; "
                f"retry in {wait:.2f} s.",
                {"Retry-After": RateLimiter.retry_after_header(wait)},
            )
        return key

    def check_grant(self, key: BrokerKey, credential: str) -> None:
        if credential not in key.credentials:
            raise self._refuse(
                403,
                "not_granted",
                f"The key of application {key.app!r} may not use the credential {credential!r}. "
                f"Fix: `certrotor broker key add` a key that names it with --credential {credential}.",
            )

    @staticmethod
    def _refuse(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Refusal:
        return Refusal(status, code, message, headers)

    def refuse(self, exc: Exception) -> Response:
        """The JSON answer to a failed request, counted and logged (by reason, never with secrets)."""
        refusal = self.refusal_for(exc)
        self.metrics.refusals.labels(reason=refusal.code).inc()
        log.info("broker request refused", status=refusal.status, reason=refusal.code)
        return refusal.response()

    def refusal_for(self, exc: Exception) -> Refusal:
        """An error from the store, NetSuite or the input as the JSON refusal it deserves."""
        if isinstance(exc, Refusal):
            return exc
        if isinstance(exc, httpx2.TimeoutException):
            return self._refuse(504, "netsuite_timeout", "NetSuite did not answer in time; try again.")
        if isinstance(exc, httpx2.TransportError):
            return self._refuse(502, "netsuite_unreachable", "NetSuite could not be reached; try again.")
        if not isinstance(exc, CertrotorError):
            log.error("broker request failed", error=type(exc).__name__)
            return self._refuse(500, "internal_error", "The broker failed unexpectedly; see its log.")
        message = str(exc)
        if isinstance(exc, NoCurrentCertificateError):
            return self._refuse(409, "no_current_certificate", message)
        if isinstance(exc, NotFoundError):
            return self._refuse(404, "unknown_credential", message)
        if isinstance(exc, InputError):
            return self._refuse(
                400, "invalid_path" if isinstance(exc, ProxyPathError) else "invalid_request", message
            )
        if isinstance(exc, TokenEndpointUnavailableError | RemoteUnavailableError):
            retry_after = getattr(exc, "retry_after", None)
            headers = {"Retry-After": str(max(1, int(retry_after)))} if retry_after else None
            return self._refuse(503, "netsuite_unavailable", message, headers)
        if isinstance(exc, RemoteError):
            return self._refuse(502, "token_refused", message)
        if isinstance(exc, MasterKeyError):
            return self._refuse(500, "master_key", message)
        if isinstance(exc, StoreError):
            return self._refuse(503, "store_unavailable", message)
        return self._refuse(500, exc.code, message)

    # -- usage --------------------------------------------------------------------------------

    def issued(self, key: BrokerKey, credential: str) -> None:
        self.usage.count(key.app, credential)
        self.metrics.tokens_issued.labels(app=key.app, credential=credential).inc()

    async def write_usage(self) -> int:
        since, until, counts = self.usage.take()
        if not counts:
            return 0
        return await asyncio.to_thread(UsageLog.write, self.store, since, until, counts)

    async def close(self) -> None:
        await self.write_usage()
        await self.cache.close()
        await self.forwarder.aclose()
        self.changes.close()


async def _json_object(request: Request, limit: int) -> dict[str, Any]:
    body = await request.body()
    if len(body) > limit:
        raise Refusal(413, "too_large", f"The request body exceeds {limit} bytes.")
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise Refusal(
            400, "invalid_request", 'The body must be JSON such as {"credential": "NAME"}.'
        ) from None
    if not isinstance(payload, dict):
        raise Refusal(
            400, "invalid_request", 'The body must be a JSON object such as {"credential": "NAME"}.'
        )
    return payload


def _credential_name(payload: dict[str, Any]) -> str:
    name = payload.get("credential")
    if not isinstance(name, str) or not name.strip():
        raise Refusal(400, "invalid_request", 'Name the credential: {"credential": "NAME"}.')
    return name


def _scopes(payload: dict[str, Any]) -> list[str] | None:
    scopes = payload.get("scopes")
    if scopes is None:
        return None
    if not isinstance(scopes, list) or not all(isinstance(scope, str) for scope in scopes):
        raise Refusal(400, "invalid_request", 'scopes must be a list of strings, e.g. ["rest_webservices"].')
    return scopes


def _json(data: dict[str, Any]) -> Response:
    return Response(json.dumps(data), media_type=_JSON, headers=_NO_STORE)


Endpoint = Callable[[Request], Awaitable[Response]]


def create_broker_app(broker: Broker) -> FastAPI:
    """The broker's ASGI app; its lifespan writes usage to the audit trail and closes the parts."""

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        writer = asyncio.ensure_future(_write_usage_periodically(broker))
        try:
            yield
        finally:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
            await broker.close()

    app = FastAPI(
        title="certrotor token broker", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan
    )
    app.state.broker = broker

    def refusing(endpoint: Endpoint) -> Endpoint:
        async def guarded(request: Request) -> Response:
            try:
                return await endpoint(request)
            except Exception as exc:
                return broker.refuse(exc)

        return guarded

    async def token(request: Request) -> Response:
        key = broker.authenticate(request)
        payload = await _json_object(request, _MAX_TOKEN_BODY)
        name = _credential_name(payload)
        broker.check_grant(key, name)
        cached = await broker.cache.token(name, _scopes(payload))
        broker.issued(key, name)
        return _json(
            {
                "access_token": cached.access_token,
                "token_type": "Bearer",
                "expires_in": cached.expires_in(broker.cache.now()),
                "certificate_id": cached.certificate_id,
            }
        )

    async def invalidate(request: Request) -> Response:
        key = broker.authenticate(request)
        payload = await _json_object(request, _MAX_TOKEN_BODY)
        name = _credential_name(payload)
        broker.check_grant(key, name)
        rejected = payload.get("access_token")
        if rejected is not None and not isinstance(rejected, str):
            raise Refusal(
                400, "invalid_request", "access_token must be the token NetSuite refused, as a string."
            )
        dropped = broker.cache.invalidate(name, rejected)
        log.info("broker token invalidated", app=key.app, credential=name, dropped=dropped)
        return _json({"invalidated": dropped})

    async def proxy(request: Request) -> Response:
        key = broker.authenticate(request)
        target = parse_target(request)
        broker.check_grant(key, target.credential)
        body = await _limited_body(request, broker.settings.max_proxy_body)
        state = await broker.cache.state(target.credential)
        return await broker.forwarder.forward(request, target, key.app, state.credential, body)

    async def health(_request: Request) -> Response:
        return _json({"status": "ok"})

    async def metrics(_request: Request) -> Response:
        return Response(generate_latest(broker.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.add_route(TOKEN_PATH, refusing(token), methods=["POST"])
    app.add_route(INVALIDATE_PATH, refusing(invalidate), methods=["POST"])
    app.add_route(
        PROXY_PREFIX + "{name}/{path:path}",
        refusing(proxy),
        methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
    )
    app.add_route("/health", health, methods=["GET"])
    app.add_route("/metrics", metrics, methods=["GET"])
    return app


async def _limited_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise Refusal(413, "too_large", f"The request body exceeds {limit} bytes.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Refusal(413, "too_large", f"The request body exceeds {limit} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


async def _write_usage_periodically(broker: Broker) -> None:
    while True:
        await asyncio.sleep(broker.settings.audit_interval)
        try:
            await broker.write_usage()
        except Exception as exc:  # the next period tries again; the counts of this one are logged
            log.error("broker usage not audited", error=type(exc).__name__)
