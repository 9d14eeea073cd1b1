"""The rotation daemon: claims due credentials, rotates a bounded number in parallel, stops cleanly.

Several daemons may share one PostgreSQL store: a credential is leased through
``Store.claim_due`` (``FOR UPDATE SKIP LOCKED``), so it is never rotated twice at once.
"""

from __future__ import annotations

import random
import signal
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from types import FrameType

from certrotor.errors import CertrotorError
from certrotor.logging import get_logger
from certrotor.metrics import DaemonMetrics
from certrotor.services.rotation import RotationOutcome, Rotator, default_owner, steps_for
from certrotor.services.runtime import Runtime
from certrotor.store import Credential, RotationTrigger

log = get_logger(__name__)


@dataclass
class DaemonStats:
    """Counts since start, for logs and the final summary."""

    ticks: int = 0
    rotations: dict[str, int] = field(default_factory=dict)

    def count(self, outcome: RotationOutcome) -> None:
        self.rotations[outcome.status] = self.rotations.get(outcome.status, 0) + 1


class Daemon:
    """Loops until stopped: claim due credentials, rotate them, sleep ``interval`` seconds."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        parallel: int = 4,
        interval: float = 5.0,
        lease_seconds: float = 300.0,
        owner: str | None = None,
        reconcile_on_start: bool = True,
        metrics: DaemonMetrics | None = None,
    ) -> None:
        self.runtime = runtime
        self.parallel = max(1, parallel)
        self.interval = interval
        self.lease_seconds = lease_seconds
        self.owner = owner or default_owner()
        self.reconcile_on_start = reconcile_on_start
        self.stats = DaemonStats()
        self.metrics = metrics
        self._stop = threading.Event()
        self._rng = random.Random()

    def stop(self) -> None:
        """Ask the daemon to finish the steps in progress and exit."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def install_signal_handlers(self) -> None:
        def handle(signum: int, _frame: FrameType | None) -> None:
            log.info("stop requested", signal=signal.Signals(signum).name)
            self.stop()

        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)

    def reconcile_all(self) -> None:
        """On start: compare every credential with NetSuite's list (adopt, flag foreign, revoked)."""
        for credential in self.runtime.store.list_credentials():
            if self.stopping:
                return
            if self.metrics is not None:
                self.metrics.observe_current(credential.name, self.runtime.store.current_version(credential))
            try:
                report = steps_for(credential, self.runtime).reconcile()
                if report is None:
                    continue  # the kind has nothing to compare with (a certificate record)
                log.info(
                    "reconciled",
                    credential=credential.name,
                    adopted=len(report.adopted),
                    foreign=list(report.foreign),
                    current=report.current_remote_state,
                )
            except CertrotorError as exc:
                log.warning("reconcile failed", credential=credential.name, error=exc.message)

    def _rotate(self, credential: Credential) -> RotationOutcome:
        rotator = Rotator(
            self.runtime,
            owner=self.owner,
            actor="daemon",
            lease_seconds=self.lease_seconds,
            rng=random.Random(self._rng.random()),
            should_stop=lambda: self.stopping,
        )
        trigger = RotationTrigger.SCHEDULE
        started = time.monotonic()
        outcome = rotator.rotate(credential, trigger, claimed=True)
        if self.metrics is not None:
            self.metrics.rotations.labels(status=outcome.status).inc()
            self.metrics.rotation_seconds.observe(time.monotonic() - started)
            self.metrics.observe_current(credential.name, self.runtime.store.current_version(credential))
        log.info(
            "rotation",
            credential=outcome.credential,
            status=outcome.status,
            certificate_id=outcome.new_certificate_id,
            previous_certificate_id=outcome.old_certificate_id,
            detail=outcome.message or None,
        )
        return outcome

    def run_once(self, executor: ThreadPoolExecutor) -> int:
        """One pass: claim up to ``parallel`` due credentials and rotate them; returns how many."""
        claimed = self.runtime.store.claim_due(
            self.runtime.now(), self.owner, self.lease_seconds, limit=self.parallel
        )
        futures: list[Future[RotationOutcome]] = [executor.submit(self._rotate, c) for c in claimed]
        for future, credential in zip(futures, claimed, strict=True):
            try:
                self.stats.count(future.result())
            except CertrotorError as exc:
                log.error("rotation failed", credential=credential.name, error=exc.message)
            except Exception as exc:
                # One credential's unexpected failure (a dropped database connection, a bug) must
                # not end the loop for every other credential; its lease expires and it is retried.
                log.error("rotation crashed", credential=credential.name, error=type(exc).__name__)
        self.stats.ticks += 1
        if self.metrics is not None:
            self.metrics.passes.inc()
        return len(claimed)

    def run(self, *, max_ticks: int | None = None) -> DaemonStats:
        """Run until stopped (or ``max_ticks`` passes); never raises for one credential's failure."""
        log.info("daemon started", owner=self.owner, parallel=self.parallel, interval=self.interval)
        if self.reconcile_on_start:
            self.reconcile_all()
        with ThreadPoolExecutor(max_workers=self.parallel, thread_name_prefix="rotate") as executor:
            while not self.stopping:
                busy = self.run_once(executor)
                if max_ticks is not None and self.stats.ticks >= max_ticks:
                    break
                if not busy:
                    self._stop.wait(self.interval)
        log.info("daemon stopped", owner=self.owner, ticks=self.stats.ticks, rotations=self.stats.rotations)
        return self.stats
