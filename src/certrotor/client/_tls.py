"""One TLS context per process: loading the CA bundle costs tens of milliseconds per client."""

from __future__ import annotations

import functools
import ssl

import httpx2


@functools.cache
def default_ssl_context() -> ssl.SSLContext:
    """The verifying context every client shares (certifi's or the system's CA bundle)."""
    return httpx2.create_ssl_context()


def tls_verify(verify_tls: bool) -> ssl.SSLContext | bool:
    """What httpx2's ``verify`` gets: the shared verifying context, or ``False`` when turned off."""
    return default_ssl_context() if verify_tls else False
