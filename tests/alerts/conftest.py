"""Fixtures of the alert tests: real receivers on loopback, and stamina's retries without waits."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import stamina

from ._receivers import TlsFiles, WebhookReceiver, self_signed_tls, webhook_receiver


@pytest.fixture
def no_backoff_waits() -> Iterator[None]:
    """stamina keeps its attempt count (3 here) but does not sleep between attempts."""
    stamina.set_testing(True, attempts=3)
    try:
        yield
    finally:
        stamina.set_testing(False)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    """A webhook receiver (http.server on 127.0.0.1) that records every POST."""
    with webhook_receiver() as running:
        yield running


@pytest.fixture
def tls_files(tmp_path: Path) -> TlsFiles:
    return self_signed_tls(tmp_path)
