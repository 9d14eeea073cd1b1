"""The httpx2 client every NetSuite client owns, built one way, and the context-manager plumbing."""

from __future__ import annotations

from types import TracebackType
from typing import Self

import httpx2

from certrotor.client._tls import tls_verify
from certrotor.client._token import USER_AGENT


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


class OwnsHttpClient:
    """A client that owns ``self._http`` and closes it on ``close()`` or at the end of ``with``."""

    _http: httpx2.Client

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
