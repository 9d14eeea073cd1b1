"""The rotation daemon: claims due credentials, rotates a bounded number in parallel, stops cleanly;
observes every credential on NetSuite on a jittered schedule, alerts on transitions, and starts an
emergency rotation at once for a current certificate revoked, missing or expired on NetSuite.

Several daemons may share one PostgreSQL store: a credential is leased through
``Store.claim_due`` (``FOR UPDATE SKIP LOCKED``), so it is never rotated twice at once.
"""

from __future__ import annotations

import datetime as dt
import random
import signal
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from types import FrameType

from certrotor.errors import CertrotorError
from certrotor.health_rules import HealthReport, HealthStatus
from certrotor.logging import get_logger
from certrotor.metrics import DaemonMetrics
from certrotor.services import health
from certrotor.services.alerting import Notifier, Verdict
from certrotor.services.observation import DEFAULT_OBSERVE_INTERVAL, ObserveLimits
from certrotor.services.rotation import RotationOutcome, Rotator, default_owner, steps_for
from certrotor.services.runtime import Runtime
from certrotor.store import Credential, RotationTrigger

OBSERVE_JITTER = 0.1
"""Each observation pass starts within +/-10% of the interval, so daemons sharing a store spread out."""
_SUCCEEDED = frozenset({"rotated", "retired", "waiting"})

log = get_logger(__name__)


@dataclass
class DaemonStats:
    """Counts since start, for logs and the final summary."""

    ticks: int = 0
    rotations: dict[str, int] = field(default_factory=dict)
    observations: int = 0
    emergencies: dict[str, int] = field(default_factory=dict)

    def count(self, outcome: RotationOutcome) -> None:
        self.rotations[outcome.status] = self.rotations.get(outcome.status, 0) + 1


def rotation_log_fields(outcome: RotationOutcome) -> dict[str, object]:
    """What one rotation did, in words that cannot be misread (the ``rotation`` log event's fields).

    ``status`` is ``uploaded-first`` (a first certificate: nothing to retire), ``rotated`` (a new
    certificate replaced ``previous_certificate_id``), ``retired`` (the grace period of an earlier
    rotation is over: ``certificate_id`` is the certificate revoked now), ``finished`` (a grace period
    ended with no previous certificate), or the outcome's own status (``waiting``, ``failed``, ...).
    """
    new, old = outcome.new_certificate_id, outcome.old_certificate_id
    fields: dict[str, object] = {"credential": outcome.credential, "status": outcome.status}
    if outcome.status == "rotated" and old is None:
        fields.update(
            status="uploaded-first", certificate_id=new, detail="first certificate; nothing to retire"
        )
    elif outcome.status == "rotated":
        detail = outcome.message or f"retired previous {old}"
        fields.update(certificate_id=new, previous_certificate_id=old, detail=detail)
    elif outcome.status == "retired" and old is not None:
        fields.update(certificate_id=old, current_certificate_id=new, detail=f"retired previous {old}")
    elif outcome.status == "retired":
        fields.update(status="finished", certificate_id=new, detail="grace period over; nothing to retire")
    else:
        fields.update(certificate_id=new, previous_certificate_id=old, detail=outcome.message or None)
    return fields


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
        observe_interval: float | None = DEFAULT_OBSERVE_INTERVAL.total_seconds(),
        observe_limits: ObserveLimits | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self.runtime = runtime
        self.parallel = max(1, parallel)
        self.interval = interval
        self.lease_seconds = lease_seconds
        self.owner = owner or default_owner()
        self.reconcile_on_start = reconcile_on_start
        self.stats = DaemonStats()
        self.metrics = metrics
        self.observe_interval = observe_interval
        """Seconds between observation passes (jittered); ``None`` or 0: never observe."""
        self.observe_limits = observe_limits or ObserveLimits.from_settings(runtime.settings)
        self.notifier = notifier
        self._stop = threading.Event()
        self._rng = random.Random()
        self._next_observation = 0.0

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
        log.info("rotation", **rotation_log_fields(outcome))
        self._tell_rotation(outcome)
        return outcome

    def _tell_rotation(self, outcome: RotationOutcome) -> None:
        """A failed rotation is alerted; a successful one re-arms the failure alert."""
        if self.notifier is None:
            return
        if outcome.status in ("failed", "deferred"):
            self.notifier.rotation_failed(outcome.credential, outcome.message or outcome.status)
        elif outcome.status in _SUCCEEDED:
            self.notifier.rotation_succeeded(outcome.credential)

    # -- observations and emergencies ------------------------------------------------------------

    def observation_due(self) -> bool:
        return bool(self.observe_interval) and time.monotonic() >= self._next_observation

    def _schedule_observation(self) -> None:
        assert self.observe_interval
        spread = self._rng.uniform(1 - OBSERVE_JITTER, 1 + OBSERVE_JITTER)
        self._next_observation = time.monotonic() + self.observe_interval * spread

    def _stale_after(self) -> float | None:
        return 2 * self.observe_interval if self.observe_interval else None

    def _judge(self, names: list[str] | None) -> list[HealthReport]:
        """Observe (live, concurrently) and judge; every verdict goes to the metrics and the notifier."""
        stale = self._stale_after()
        reports = health.check_all(
            self.runtime,
            names,
            limits=self.observe_limits,
            observer=self.owner,
            stale_after=dt.timedelta(seconds=stale) if stale else None,
        )
        self.stats.observations += len(reports)
        for report in reports:
            if self.metrics is not None:
                self.metrics.observe_report(report)
            if self.notifier is not None:
                self.notifier.observe(Verdict.from_report(report))
        return reports

    def observe_all(self, executor: ThreadPoolExecutor) -> list[HealthReport]:
        """Observe every credential, alert on transitions, and heal what is dead at once."""
        self._schedule_observation()
        try:
            reports = self._judge(None)
        except CertrotorError as exc:
            log.error("observation failed", error=exc.message)
            return []
        except Exception as exc:
            # Like one rotation's crash, one pass's unexpected failure must not end the daemon.
            log.error("observation crashed", error=type(exc).__name__)
            return []
        log.info(
            "observed",
            credentials=len(reports),
            warn=sum(1 for r in reports if r.status is HealthStatus.WARN),
            crit=sum(1 for r in reports if r.status is HealthStatus.CRIT),
        )
        self.heal(reports, executor)
        return reports

    def heal(self, reports: list[HealthReport], executor: ThreadPoolExecutor) -> dict[str, RotationOutcome]:
        """Emergency rotations for every dead current certificate that some management access can replace."""
        store = self.runtime.store
        todo: list[tuple[Credential, str]] = []
        for report in reports:
            credential = store.find_credential(report.name)
            reason = health.emergency_reason(credential, report) if credential else None
            if credential is not None and reason is not None:
                todo.append((credential, reason))
        if not todo or self.stopping:
            return {}
        futures = [(c, r, executor.submit(self._emergency, c, r)) for c, r in todo]
        outcomes: dict[str, RotationOutcome] = {}
        for credential, _reason, future in futures:
            try:
                outcomes[credential.name] = future.result()
            except CertrotorError as exc:  # busy elsewhere (another daemon heals it), store trouble
                log.warning("emergency rotation not started", credential=credential.name, error=exc.message)
            except Exception as exc:
                log.error("emergency rotation crashed", credential=credential.name, error=type(exc).__name__)
        healed = [name for name, outcome in outcomes.items() if outcome.status in _SUCCEEDED]
        if healed:
            try:
                self._judge(healed)  # the recovery is told (and observed) at once
            except CertrotorError as exc:
                log.error("observation failed", error=exc.message)
            except Exception as exc:
                log.error("observation crashed", error=type(exc).__name__)
        return outcomes

    def _emergency(self, credential: Credential, reason: str) -> RotationOutcome:
        log.warning("emergency rotation", credential=credential.name, reason=reason)
        rotator = Rotator(
            self.runtime,
            owner=self.owner,
            actor="daemon",
            lease_seconds=self.lease_seconds,
            rng=random.Random(self._rng.random()),
            should_stop=lambda: self.stopping,
        )
        started = time.monotonic()
        outcome = rotator.rotate(credential, RotationTrigger.EMERGENCY, reason=reason)
        self.stats.emergencies[outcome.status] = self.stats.emergencies.get(outcome.status, 0) + 1
        if self.metrics is not None:
            self.metrics.emergency_rotations.labels(status=outcome.status).inc()
            self.metrics.rotation_seconds.observe(time.monotonic() - started)
            self.metrics.observe_current(credential.name, self.runtime.store.current_version(credential))
        log.info(
            "rotation",
            credential=outcome.credential,
            status=outcome.status,
            trigger="emergency",
            certificate_id=outcome.new_certificate_id,
            previous_certificate_id=outcome.old_certificate_id,
            detail=outcome.message or None,
        )
        if self.notifier is not None:
            if outcome.status in _SUCCEEDED:
                self.notifier.emergency_rotation_done(
                    credential.name, reason, certificate_id=outcome.new_certificate_id
                )
            else:
                self.notifier.rotation_failed(
                    credential.name, outcome.message or outcome.status, status=HealthStatus.CRIT
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
        log.info(
            "daemon started",
            owner=self.owner,
            parallel=self.parallel,
            interval=self.interval,
            observe_interval=self.observe_interval,
        )
        if self.reconcile_on_start:
            self.reconcile_all()
        with ThreadPoolExecutor(max_workers=self.parallel, thread_name_prefix="rotate") as executor:
            while not self.stopping:
                if self.observation_due():
                    self.observe_all(executor)
                self.run_once(executor)
                if max_ticks is not None and self.stats.ticks >= max_ticks:
                    break
                # Every pass is followed by the interval, whatever it claimed: a credential claimed
                # again at once (a plan in the past) can never make the loop spin.
                wait = self.interval
                if self.observe_interval:
                    wait = min(wait, max(0.0, self._next_observation - time.monotonic()))
                self._stop.wait(wait)
        log.info(
            "daemon stopped",
            owner=self.owner,
            ticks=self.stats.ticks,
            rotations=self.stats.rotations,
            observations=self.stats.observations,
            emergencies=self.stats.emergencies,
        )
        return self.stats
