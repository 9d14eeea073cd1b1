"""Alert delivery in the background: one worker thread and bounded queue per channel, retries with backoff.

:meth:`AlertDispatcher.submit` never blocks and never raises: a rotation or a health check that
raises an alert goes on at once. A channel that is down delays only its own queue; when the queue is
full the alert is dropped, logged and counted as failed. :meth:`AlertDispatcher.send_now` sends once,
synchronously, for ``certrotor alerts test``.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import stamina

from certrotor.alerts.channels import AlertChannel, AlertDeliveryError
from certrotor.alerts.message import Alert
from certrotor.logging import get_logger, scrub_text

log = get_logger(__name__)

DEFAULT_QUEUE_SIZE = 256


class DeliveryRecorder(Protocol):
    """Who counts deliveries (the daemon's Prometheus metrics); called from worker threads."""

    def alert_sent(self, channel: str) -> None: ...

    def alert_failed(self, channel: str) -> None: ...


@dataclass(frozen=True, slots=True)
class RetrySchedule:
    """How long a channel keeps trying one alert: capped exponential backoff with jitter."""

    attempts: int = 8
    wait_initial: float = 2.0
    wait_max: float = 300.0
    timeout: float = 3600.0
    """Give up an alert this many seconds after its first attempt."""


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """What became of one alert on one channel."""

    channel: str
    target: str
    ok: bool
    error: str | None = None
    hint: str | None = None


@dataclass
class ChannelCounts:
    sent: int = 0
    failed: int = 0


_STOP = object()


class _ChannelWorker:
    """One channel's queue and the thread that drains it."""

    def __init__(self, channel: AlertChannel, dispatcher: AlertDispatcher, queue_size: int) -> None:
        self.channel = channel
        self.queue: queue.Queue[object] = queue.Queue(maxsize=queue_size)
        self._dispatcher = dispatcher
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def offer(self, alert: Alert) -> bool:
        with self._start_lock:
            if self._thread is None:
                # A daemon thread: a hung receiver never keeps the process from exiting.
                self._thread = threading.Thread(
                    target=self._run, name=f"certrotor-alerts-{self.channel.name}", daemon=True
                )
                self._thread.start()
        try:
            self.queue.put_nowait(alert)
        except queue.Full:
            return False
        return True

    def stop(self) -> threading.Thread | None:
        with self._start_lock:
            thread = self._thread
        if thread is not None:
            # Blocking put is fine here: the worker drains the queue, and stop is only called on close.
            self.queue.put(_STOP)
        return thread

    def _run(self) -> None:
        while True:
            item = self.queue.get()
            if item is _STOP:
                return
            assert isinstance(item, Alert)
            try:
                self._dispatcher._deliver_with_retries(self.channel, item)
            finally:
                self._dispatcher._job_done()


class AlertDispatcher:
    """Sends every alert to every channel, in the background; counts what was sent and what failed."""

    def __init__(
        self,
        channels: Sequence[AlertChannel],
        *,
        recorder: DeliveryRecorder | None = None,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        retry: RetrySchedule | None = None,
    ) -> None:
        self.channels = tuple(channels)
        self._recorder = recorder
        self._retry = retry or RetrySchedule()
        self._workers = [_ChannelWorker(channel, self, queue_size) for channel in self.channels]
        self._counts = {channel.name: ChannelCounts() for channel in self.channels}
        self._pending = 0
        self._idle = threading.Condition()
        self._closed = False

    def __repr__(self) -> str:
        return f"AlertDispatcher(channels={[channel.name for channel in self.channels]!r})"

    @property
    def counts(self) -> dict[str, ChannelCounts]:
        """Sent and failed alerts per channel name, since this dispatcher was made (a copy)."""
        with self._idle:
            return {name: ChannelCounts(c.sent, c.failed) for name, c in self._counts.items()}

    def submit(self, alert: Alert) -> None:
        """Queue ``alert`` for every channel and return at once; a full queue drops it (counted)."""
        if self._closed:
            log.warning("alert.dropped", reason="dispatcher closed", credential=alert.credential)
            return
        for worker in self._workers:
            with self._idle:
                self._pending += 1
            if not worker.offer(alert):
                self._job_done()
                self._record(worker.channel, ok=False)
                log.error(
                    "alert.dropped",
                    channel=worker.channel.name,
                    target=worker.channel.target,
                    credential=alert.credential,
                    kind=alert.kind.value,
                    reason="queue full: the channel has been failing for a while",
                )

    def send_now(self, alert: Alert) -> list[DeliveryResult]:
        """Send ``alert`` to every channel once, in this thread; one result per channel."""
        results = []
        for channel in self.channels:
            try:
                channel.send(alert)
            except AlertDeliveryError as error:
                # No log line: the caller reports each result itself (``alerts test`` prints them).
                self._record(channel, ok=False)
                results.append(DeliveryResult(channel.name, channel.target, False, error.message, error.hint))
            else:
                self._record(channel, ok=True)
                results.append(DeliveryResult(channel.name, channel.target, True))
        return results

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued alert was delivered or given up; ``False`` if ``timeout`` ran out."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._idle:
            while self._pending:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Stop taking alerts, give queued ones up to ``timeout`` seconds, then let the workers go."""
        self._closed = True
        self.flush(timeout)
        threads = [thread for worker in self._workers if (thread := worker.stop()) is not None]
        deadline = time.monotonic() + 1.0
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _job_done(self) -> None:
        with self._idle:
            self._pending -= 1
            if not self._pending:
                self._idle.notify_all()

    def _record(self, channel: AlertChannel, *, ok: bool) -> None:
        with self._idle:
            counts = self._counts[channel.name]
            if ok:
                counts.sent += 1
            else:
                counts.failed += 1
        if self._recorder is not None:
            try:
                (self._recorder.alert_sent if ok else self._recorder.alert_failed)(channel.name)
            except Exception:  # a broken metrics sink must not stop alerts
                log.exception("alert.metrics_failed", channel=channel.name)

    def _deliver_with_retries(self, channel: AlertChannel, alert: Alert) -> None:
        attempts = 0
        try:
            for attempt in stamina.retry_context(
                on=_retryable,
                attempts=self._retry.attempts,
                timeout=self._retry.timeout,
                wait_initial=self._retry.wait_initial,
                wait_max=self._retry.wait_max,
            ):
                with attempt:
                    attempts = attempt.num
                    channel.send(alert)
        except AlertDeliveryError as error:
            self._record(channel, ok=False)
            self._log_failure(channel, alert, error, attempts=attempts)
        except Exception as error:  # a channel bug must not kill the worker thread
            self._record(channel, ok=False)
            log.error(
                "alert.failed",
                channel=channel.name,
                target=channel.target,
                credential=alert.credential,
                error=scrub_text(f"{type(error).__name__}: {error}"),
            )
        else:
            self._record(channel, ok=True)
            log.info(
                "alert.sent",
                channel=channel.name,
                target=channel.target,
                credential=alert.credential,
                kind=alert.kind.value,
                status=alert.status.value,
                attempts=attempts,
            )

    def _log_failure(
        self, channel: AlertChannel, alert: Alert, error: AlertDeliveryError, *, attempts: int
    ) -> None:
        log.error(
            "alert.failed",
            channel=channel.name,
            target=channel.target,
            credential=alert.credential,
            kind=alert.kind.value,
            status=alert.status.value,
            attempts=attempts,
            error=scrub_text(error.message),
            fix=error.hint,
        )


def _retryable(error: Exception) -> bool:
    return isinstance(error, AlertDeliveryError) and error.retryable
