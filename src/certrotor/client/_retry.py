"""Bounded retries with stamina: capped exponential backoff with jitter, ``Retry-After`` on 429.

Which failures are safe to retry is the caller's decision (see ``netsuite.py``); this module only
knows how to wait and how many times.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TypeVar

import httpx2
import stamina

from certrotor.logging import get_logger

log = get_logger(__name__)

T = TypeVar("T")

TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})
"""Answers that say "try again later": rate limited or a passing server failure."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long to retry a call that is safe to repeat."""

    attempts: int = 4
    """Total attempts, the first included; 1 means no retry."""
    wait_initial: float = 0.25
    wait_max: float = 8.0
    wait_jitter: float = 0.5
    timeout: float = 60.0
    """Give up retrying once this many seconds have passed since the first attempt."""
    max_retry_after: float = 30.0
    """A server's ``Retry-After`` is honoured up to this many seconds."""

    @classmethod
    def never(cls) -> RetryPolicy:
        return cls(attempts=1)


class TransientStatusError(Exception):
    """Signal (inside a retry loop) that the server answered with a transient status."""

    def __init__(self, response: httpx2.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response

    def __repr__(self) -> str:
        # stamina logs ``repr(caused_by)``: identifiers only, never the body.
        return f"TransientStatusError(status_code={self.response.status_code})"


def retry_after_seconds(response: httpx2.Response, *, now: float | None = None) -> float | None:
    """The server's ``Retry-After`` (seconds or an HTTP date) as seconds from now, if it gave one."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def delay_or_retry(retry_after: float | None, policy: RetryPolicy) -> bool | float:
    """Tell stamina to wait the server's ``Retry-After`` (capped) or its own backoff."""
    return True if retry_after is None else min(max(0.0, retry_after), policy.max_retry_after)


def call_with_retry(
    call: Callable[[], T],
    *,
    policy: RetryPolicy,
    retry_on: Callable[[Exception], bool | float],
    operation: str,
) -> T:
    """Run ``call`` until it returns, ``retry_on`` refuses its exception, or the policy gives up.

    ``retry_on`` may return a delay in seconds instead of ``True``; the last exception propagates.
    """
    for attempt in stamina.retry_context(
        on=retry_on,
        attempts=max(1, policy.attempts),
        timeout=policy.timeout,
        wait_initial=policy.wait_initial,
        wait_max=policy.wait_max,
        wait_jitter=policy.wait_jitter,
    ):
        with attempt:
            if attempt.num > 1:
                log.info("http.retry", operation=operation, attempt=attempt.num)
            return call()
    raise AssertionError("unreachable: stamina either returns or raises")  # pragma: no cover


def send_with_retry(
    send: Callable[[], httpx2.Response],
    *,
    policy: RetryPolicy,
    retry_statuses: Collection[int],
    retry_on: Callable[[Exception], bool | float],
    operation: str,
) -> httpx2.Response:
    """Call ``send`` until it answers with a status outside ``retry_statuses`` or the policy gives up.

    ``send`` must build a fresh request on every call (a client assertion is single-use).
    Exceptions ``retry_on`` refuses, and the last one once attempts run out, propagate unchanged;
    a transient status that outlives the attempts is returned for the caller to map to an error.
    """

    def send_once() -> httpx2.Response:
        response = send()
        if response.status_code in retry_statuses:
            response.read()
            raise TransientStatusError(response)
        return response

    def backoff(exc: Exception) -> bool | float:
        if isinstance(exc, TransientStatusError):
            status = exc.response.status_code
            return delay_or_retry(retry_after_seconds(exc.response) if status == 429 else None, policy)
        return retry_on(exc)

    try:
        return call_with_retry(send_once, policy=policy, retry_on=backoff, operation=operation)
    except TransientStatusError as exhausted:
        return exhausted.response
