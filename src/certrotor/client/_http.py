"""What every NetSuite client shares: its httpx2 client built one way, and one retry policy for sending.

A request that is safe to repeat is retried on transport errors, 429 and 5xx, and when the token
endpoint was unavailable while authenticating it (``Retry-After`` honoured); a request that creates
something is repeated only while it provably never reached the server.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from types import TracebackType
from typing import Self

import httpx2

from certrotor.client._retry import TRANSIENT_STATUSES, RetryPolicy, delay_or_retry, send_with_retry
from certrotor.client._tls import tls_verify
from certrotor.client._token import USER_AGENT, TokenEndpointUnavailableError, is_token_request
from certrotor.client.responses import tls_verification_failure, unavailable_error
from certrotor.logging import get_logger

log = get_logger(__name__)

NEVER_SENT = (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.PoolTimeout)
"""Transport errors raised before a single byte of the request left: always safe to repeat."""


def build_http_client(
    *,
    auth: httpx2.Auth | None,
    verify_tls: bool,
    timeout: float,
    transport: httpx2.BaseTransport | None,
) -> httpx2.Client:
    """JSON, our User-Agent, a timeout on every call, no redirects followed, the shared TLS context."""
    return httpx2.Client(
        auth=auth,
        verify=tls_verify(verify_tls),
        timeout=httpx2.Timeout(timeout),
        transport=transport,
        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        follow_redirects=False,
    )


def retry_idempotent(exc: Exception, policy: RetryPolicy) -> bool | float:
    """Whether (or after how long) to repeat a safe call: transport errors, an unavailable token endpoint."""
    if isinstance(exc, TokenEndpointUnavailableError):
        return delay_or_retry(exc.retry_after, policy)
    # An untrusted certificate stays untrusted: asking again only delays the one clear answer.
    return isinstance(exc, httpx2.TransportError) and tls_verification_failure(exc) is None


def failed_on_token_request(exc: httpx2.TransportError) -> bool:
    """The transport error struck the token request that would have authorized the real one."""
    try:
        return is_token_request(exc.request)
    except RuntimeError:  # httpx2 sets ``request`` on every error it raises; be safe anyway
        return False


def never_left(exc: Exception) -> bool:
    """The request provably never reached the server: no connection, or its token request failed."""
    if isinstance(exc, NEVER_SENT):
        return True
    return isinstance(exc, httpx2.TransportError) and failed_on_token_request(exc)


class Closeable(ABC):
    """Something with ``close()`` that closes at the end of ``with``."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class OwnsHttpClient(Closeable):
    """A client that owns ``self._http``, closes it with itself, and sends by the policy ``self._retry``."""

    _http: httpx2.Client
    _retry: RetryPolicy

    def close(self) -> None:
        self._http.close()

    def _send(self, request: httpx2.Request, *, use_auth: bool = True) -> httpx2.Response:
        log.debug("http.request", method=request.method, path=request.url.path)
        # ``auth=None`` sends unauthenticated: the token endpoint must never see a bearer token.
        response = self._http.send(request) if use_auth else self._http.send(request, auth=None)
        log.debug("http.response", path=request.url.path, status=response.status_code)
        return response

    def _send_idempotent(
        self,
        build: Callable[[], httpx2.Request],
        *,
        operation: str,
        use_auth: bool = True,
    ) -> httpx2.Response:
        """Send a request that is safe to repeat, retrying transport errors, 429, 5xx and an
        unavailable token endpoint; a transport error that outlives the retries is unavailability."""
        try:
            return send_with_retry(
                lambda: self._send(build(), use_auth=use_auth),
                policy=self._retry,
                retry_statuses=TRANSIENT_STATUSES,
                retry_on=lambda exc: retry_idempotent(exc, self._retry),
                operation=operation,
            )
        except httpx2.TransportError as exc:
            raise unavailable_error(exc, operation=operation) from exc

    def _send_creation(self, build: Callable[[], httpx2.Request], *, operation: str) -> httpx2.Response:
        """Send a request that creates something, repeating it only while it provably never arrived.

        A 429 (not processed), an unavailable token endpoint and a transport error before sending
        are retried; any other transport error propagates unchanged for the caller to judge.
        """

        def not_sent_yet(exc: Exception) -> bool | float:
            if isinstance(exc, TokenEndpointUnavailableError):
                return delay_or_retry(exc.retry_after, self._retry)
            return never_left(exc) and tls_verification_failure(exc) is None

        return send_with_retry(
            lambda: self._send(build()),
            policy=self._retry,
            retry_statuses={429},  # rate limited: NetSuite did not process it
            retry_on=not_sent_yet,
            operation=operation,
        )
