"""Tests of the retry loop: bounded attempts, Retry-After honoured and capped, transient answers."""

from __future__ import annotations

import email.utils
from collections.abc import Iterator

import httpx2
import pytest
from stamina.instrumentation import RetryDetails, set_on_retry_hooks

from certrotor.client._retry import (
    RetryPolicy,
    call_with_retry,
    retry_after_seconds,
    send_with_retry,
)

FAST = RetryPolicy(attempts=3, wait_initial=0.0, wait_max=0.0, wait_jitter=0.0, timeout=10)


@pytest.fixture
def scheduled_waits() -> Iterator[list[float]]:
    """The waits stamina schedules between attempts (what it would sleep, not wall time)."""
    waits: list[float] = []

    def record(details: RetryDetails) -> None:
        waits.append(details.wait_for)

    set_on_retry_hooks([record])
    try:
        yield waits
    finally:
        set_on_retry_hooks(None)


def answers(*statuses: int, retry_after: str | None = None) -> Iterator[httpx2.Response]:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    for status in statuses:
        yield httpx2.Response(status, headers=headers, content=b"{}")


class TestRetryAfter:
    def test_delta_seconds(self) -> None:
        """``Retry-After: 7`` means seven seconds."""
        assert retry_after_seconds(httpx2.Response(429, headers={"Retry-After": "7"})) == 7.0

    def test_http_date(self) -> None:
        """An HTTP date is converted to seconds from now."""
        when = email.utils.formatdate(1_000_030, usegmt=True)
        response = httpx2.Response(429, headers={"Retry-After": when})
        assert retry_after_seconds(response, now=1_000_000) == 30.0

    @pytest.mark.parametrize("value", ["soon", "-3", ""])
    def test_garbage_is_ignored(self, value: str) -> None:
        """An unreadable Retry-After falls back to certrotor's own backoff."""
        assert retry_after_seconds(httpx2.Response(429, headers={"Retry-After": value})) is None


class TestSendWithRetry:
    def test_transient_statuses_are_retried_until_success(self) -> None:
        """503 then 502 then 200: the 200 is returned after three attempts."""
        sent = answers(503, 502, 200)
        response = send_with_retry(
            lambda: next(sent), policy=FAST, retry_statuses={502, 503}, retry_on=lambda _: False,
            operation="test",
        )
        assert response.status_code == 200

    def test_attempts_are_bounded(self) -> None:
        """A server that always says 503 is asked ``attempts`` times; the last answer is returned."""
        calls: list[int] = []

        def send() -> httpx2.Response:
            calls.append(1)
            return httpx2.Response(503)

        response = send_with_retry(
            send, policy=FAST, retry_statuses={503}, retry_on=lambda _: False, operation="test"
        )
        assert (response.status_code, len(calls)) == (503, 3)

    def test_statuses_outside_the_set_are_not_retried(self) -> None:
        """A 500 is returned at once when only 429 may be retried (the upload's rule)."""
        sent = answers(500, 200)
        response = send_with_retry(
            lambda: next(sent), policy=FAST, retry_statuses={429}, retry_on=lambda _: False,
            operation="test",
        )
        assert response.status_code == 500

    def test_retry_after_replaces_the_backoff(self, scheduled_waits: list[float]) -> None:
        """A 429's ``Retry-After: 0`` is waited instead of a long exponential backoff."""
        slow = RetryPolicy(attempts=2, wait_initial=60, wait_max=60, wait_jitter=0, timeout=120)
        sent = answers(429, 200, retry_after="0")
        response = send_with_retry(
            lambda: next(sent), policy=slow, retry_statuses={429}, retry_on=lambda _: False,
            operation="test",
        )
        assert response.status_code == 200
        assert scheduled_waits == [0.0]

    def test_retry_after_is_capped(self, scheduled_waits: list[float]) -> None:
        """A server asking for an hour is waited at most ``max_retry_after``."""
        capped = RetryPolicy(attempts=2, wait_initial=0, wait_jitter=0, max_retry_after=0.0)
        sent = answers(429, 200, retry_after="3600")
        send_with_retry(
            lambda: next(sent), policy=capped, retry_statuses={429}, retry_on=lambda _: False,
            operation="test",
        )
        assert scheduled_waits == [0.0]


class TestCallWithRetry:
    def test_refused_exceptions_propagate_at_once(self) -> None:
        """An exception ``retry_on`` refuses is raised after one attempt."""
        calls: list[int] = []

        def fail() -> None:
            calls.append(1)
            raise ValueError("no")

        with pytest.raises(ValueError, match="no"):
            call_with_retry(fail, policy=FAST, retry_on=lambda _: False, operation="test")
        assert calls == [1]

    def test_last_exception_propagates_when_attempts_run_out(self) -> None:
        """A lasting transport error is raised after the last attempt."""
        calls: list[int] = []

        def fail() -> None:
            calls.append(1)
            raise httpx2.ConnectError("refused")

        with pytest.raises(httpx2.ConnectError):
            call_with_retry(
                fail,
                policy=FAST,
                retry_on=lambda exc: isinstance(exc, httpx2.TransportError),
                operation="test",
            )
        assert len(calls) == 3
