"""The broker's forward proxy: an application's request to NetSuite, sent with the credential's token.

``/v1/proxy/NAME/services/rest/...`` goes to the REST web services host (records, SuiteQL),
``/v1/proxy/NAME/app/site/hosting/restlet.nl?...`` to the RESTlets host. The request body is read
once (so it can be sent again); the answer streams back as it arrives. A 401 from NetSuite drops
that token, and the request goes once more with a fresh one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from urllib.parse import unquote

import httpx2
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from certrotor.broker.tokens import TokenCache
from certrotor.broker.usage import BrokerMetrics
from certrotor.client._tls import tls_verify
from certrotor.client._token import USER_AGENT
from certrotor.errors import InputError
from certrotor.protocol.urls import NetSuiteEndpoints
from certrotor.services.runtime import endpoints_for
from certrotor.store import Credential

PROXY_PREFIX = "/v1/proxy/"
RESTLET_PATH = "app/site/hosting/restlet.nl"
REST_PREFIX = "services/rest/"
OAUTH_PREFIX = "services/rest/auth/"

_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
_NOT_FORWARDED = _HOP_BY_HOP | {"host", "authorization", "content-length", "cookie"}


class ProxyPathError(InputError):
    """The path is not one of NetSuite's API paths the proxy forwards to."""


@dataclass(frozen=True, slots=True)
class ProxyTarget:
    """Where a proxied request goes: credential name and the encoded path and query after it."""

    credential: str
    path: str
    query: str


def parse_target(request: Request) -> ProxyTarget:
    """Credential and NetSuite path of ``/v1/proxy/NAME/PATH?QUERY``, refusing paths that are not APIs."""
    raw = request.scope.get("raw_path") or request.url.path.encode()
    raw_path = raw.decode("latin-1").split("?", 1)[0]
    rest = raw_path[len(PROXY_PREFIX) :] if raw_path.startswith(PROXY_PREFIX) else ""
    encoded_name, _, path = rest.partition("/")
    name = unquote(encoded_name)
    decoded = unquote(path)
    segments = decoded.split("/")
    if not name or ".." in segments or "" in segments[:-1] or decoded.startswith("/"):
        raise ProxyPathError(
            "The proxy path must be /v1/proxy/CREDENTIAL/ followed by a NetSuite API path.",
            hint="e.g. /v1/proxy/app1/services/rest/record/v1/customer/42.",
        )
    if decoded.startswith(OAUTH_PREFIX):
        raise ProxyPathError(
            "The proxy does not forward to NetSuite's OAuth 2.0 endpoints (tokens and certificates).",
            hint="get tokens with POST /v1/token; certificates are certrotor's to manage.",
        )
    if not (decoded.startswith(REST_PREFIX) or decoded == RESTLET_PATH):
        raise ProxyPathError(
            f"The proxy forwards only REST web services ({REST_PREFIX}...) and RESTlets ({RESTLET_PATH}).",
            hint="e.g. /v1/proxy/app1/services/rest/query/v1/suiteql or /v1/proxy/app1/app/site/hosting/"
            "restlet.nl?script=...&deploy=....",
        )
    return ProxyTarget(
        credential=name, path=path, query=request.scope.get("query_string", b"").decode("latin-1")
    )


def upstream_url(credential: Credential, target: ProxyTarget) -> str:
    """REST web services on the SuiteTalk host, RESTlets on the RESTlets host (one host for a base URL)."""
    endpoints: NetSuiteEndpoints = endpoints_for(credential)
    base = endpoints.api_base if unquote(target.path) == RESTLET_PATH else endpoints.token_base
    url = f"{base}/{target.path}"
    return f"{url}?{target.query}" if target.query else url


def forwarded_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The application's headers without its broker key, cookies and hop-by-hop headers."""
    kept = [(name, value) for name, value in headers if name.lower() not in _NOT_FORWARDED]
    if not any(name.lower() == "accept-encoding" for name, _ in kept):
        kept.append(("accept-encoding", "identity"))  # bytes pass through as they come
    return kept


def answer_headers(response: httpx2.Response) -> dict[str, str]:
    return {name: value for name, value in response.headers.items() if name.lower() not in _HOP_BY_HOP}


class Forwarder:
    """Sends proxied requests with the credential's token (two clients: verifying TLS or not)."""

    def __init__(self, cache: TokenCache, metrics: BrokerMetrics, *, timeout: float) -> None:
        self._cache = cache
        self._metrics = metrics
        self._timeout = timeout
        self._clients: dict[bool, httpx2.AsyncClient] = {}

    def _client(self, verify_tls: bool) -> httpx2.AsyncClient:
        client = self._clients.get(verify_tls)
        if client is None:
            client = self._clients[verify_tls] = httpx2.AsyncClient(
                verify=tls_verify(verify_tls),
                timeout=httpx2.Timeout(self._timeout),
                follow_redirects=False,
                headers={"User-Agent": USER_AGENT},
            )
        return client

    async def forward(
        self, request: Request, target: ProxyTarget, app: str, credential: Credential, body: bytes
    ) -> Response:
        """NetSuite's answer, streamed; one more try with a fresh token after a 401."""
        url = upstream_url(credential, target)
        headers = forwarded_headers(request.headers.items())
        client = self._client(credential.verify_tls)
        upstream: httpx2.Response | None = None
        for attempt in (1, 2):
            issued = await self._cache.token(target.credential)
            outgoing = client.build_request(
                request.method,
                url,
                headers=[*headers, ("authorization", f"Bearer {issued.access_token}")],
                content=body,
            )
            upstream = await client.send(outgoing, stream=True)
            if upstream.status_code != 401 or attempt == 2:
                break
            await upstream.aclose()
            self._cache.invalidate(target.credential, issued.access_token)
            self._metrics.proxy_retries.labels(credential=target.credential).inc()
        assert upstream is not None
        self._metrics.proxied.labels(
            app=app, credential=target.credential, status=f"{upstream.status_code // 100}xx"
        ).inc()
        return StreamingResponse(
            _stream(upstream),
            status_code=upstream.status_code,
            headers=answer_headers(upstream),
            background=BackgroundTask(upstream.aclose),
        )

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()


async def _stream(response: httpx2.Response) -> AsyncIterator[bytes]:
    async for chunk in response.aiter_raw():
        yield chunk
