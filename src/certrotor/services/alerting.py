"""The notifier: decides when a credential's health deserves an alert, and hands it to the dispatcher.

An alert goes out on each transition (to WARN, to CRIT, back to OK), for a failed rotation and for
an emergency rotation; a credential that stays CRIT is reminded every ``reminder_interval``; steady
states are silent. The last status alerted is kept in the store, so restarts and several daemons
sharing one database do not repeat an alert. Nothing here blocks or raises into the caller: delivery
happens in the dispatcher's background threads.

Callers (health, the daemon, rotations)::

    notifier = Notifier.from_settings(settings, store, recorder=metrics)
    notifier.observe(Verdict.from_report(report))        # after every health evaluation
    notifier.rotation_failed("app1", "NetSuite answered 503")
    notifier.rotation_succeeded("app1")
    notifier.emergency_rotation_done("app1", "the current certificate was revoked on NetSuite")
    notifier.close()
"""

from __future__ import annotations

import datetime as dt
import enum
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from certrotor.alerts import Alert, AlertDispatcher, AlertKind, DeliveryRecorder, dispatcher_from_settings
from certrotor.alerts.settings import DEFAULT_REMINDER_INTERVAL
from certrotor.crypto import utcnow
from certrotor.errors import CertrotorError
from certrotor.health_rules import HealthReason, HealthReport, HealthStatus
from certrotor.logging import get_logger
from certrotor.store import alert_state

if TYPE_CHECKING:
    from certrotor.config import Settings
    from certrotor.store import Store

log = get_logger(__name__)


class VerdictEvent(enum.StrEnum):
    """What a verdict reports: a health evaluation, or a rotation event worth telling on its own."""

    HEALTH = "health"
    ROTATION_FAILED = "rotation_failed"
    EMERGENCY_ROTATION = "emergency_rotation"


@dataclass(frozen=True, slots=True)
class Verdict:
    """The notifier's input: one credential's status, why, and what kind of event this is."""

    credential: str
    status: HealthStatus
    summary: str
    reasons: tuple[HealthReason, ...] = field(default_factory=tuple)
    event: VerdictEvent = VerdictEvent.HEALTH

    @classmethod
    def from_report(cls, report: HealthReport) -> Verdict:
        """The verdict of a health evaluation (:func:`certrotor.health_rules.evaluate_health`)."""
        return cls(report.name, report.status, report.summary, report.reasons)


def _command(*words: str) -> str:
    return " ".join(shlex.quote(word) for word in ("certrotor", *words))


class Notifier:
    """Turns verdicts into alerts on transitions only; thread-safe (the store arbitrates)."""

    def __init__(
        self,
        store: Store,
        dispatcher: AlertDispatcher,
        *,
        reminder_interval: dt.timedelta = DEFAULT_REMINDER_INTERVAL,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        if reminder_interval <= dt.timedelta(0):
            raise ValueError("reminder_interval must be positive")
        self._store = store
        self.dispatcher = dispatcher
        self.reminder_interval = reminder_interval
        self._clock = clock

    @classmethod
    def from_settings(
        cls, settings: Settings, store: Store, *, recorder: DeliveryRecorder | None = None
    ) -> Notifier:
        """A notifier over every configured channel, with the configured reminder interval."""
        return cls(
            store,
            dispatcher_from_settings(settings, recorder=recorder),
            reminder_interval=settings.alert_reminder_interval,
        )

    def __repr__(self) -> str:
        return f"Notifier(dispatcher={self.dispatcher!r}, reminder_interval={self.reminder_interval})"

    # -- what callers report ---------------------------------------------------------------------

    def observe(self, verdict: Verdict) -> Alert | None:
        """Alert if ``verdict`` is a transition, a due CRIT reminder, or a rotation event; else nothing.

        Returns the alert handed to the dispatcher (already queued, not yet delivered), or ``None``.
        Never raises: a store that cannot be read makes the notifier alert rather than stay silent.
        """
        try:
            alert = self._decide(verdict)
        except CertrotorError as error:
            log.error("alert.state_unavailable", credential=verdict.credential, error=error.message)
            alert = self._fallback(verdict)
        if alert is not None:
            self.dispatcher.submit(alert)
        return alert

    def rotation_failed(
        self,
        credential: str,
        error: str,
        *,
        status: HealthStatus = HealthStatus.WARN,
        fix: str | None = None,
    ) -> Alert | None:
        """A rotation failed: alerted once, then again only after ``reminder_interval`` of failures."""
        reason = HealthReason(
            status,
            "rotation_failed",
            f"The rotation failed: {error}",
            fix or _command("rotate", credential),
        )
        summary = f"The rotation of {credential} failed; see `{_command('events', credential)}`."
        return self.observe(Verdict(credential, status, summary, (reason,), VerdictEvent.ROTATION_FAILED))

    def rotation_succeeded(self, credential: str) -> None:
        """A rotation completed: the next failure is alerted at once again. Never raises."""
        try:
            alert_state.clear_rotation_failure(self._store, credential)
        except CertrotorError as error:
            log.error("alert.state_unavailable", credential=credential, error=error.message)

    def emergency_rotation_done(
        self, credential: str, reason: str, *, certificate_id: str | None = None
    ) -> Alert | None:
        """An emergency rotation replaced a dead certificate: always alerted."""
        new = f" New certificate {certificate_id}." if certificate_id else ""
        message = f"An emergency rotation replaced the current certificate ({reason}).{new}"
        finding = HealthReason(
            HealthStatus.OK,
            "emergency_rotation",
            message,
            f"nothing to do; see `{_command('events', credential)}`",
        )
        summary = f"Emergency rotation of {credential} done: {reason}"
        verdict = Verdict(credential, HealthStatus.OK, summary, (finding,), VerdictEvent.EMERGENCY_ROTATION)
        return self.observe(verdict)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until queued alerts are delivered or given up (tests, and before a clean exit)."""
        return self.dispatcher.flush(timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Give queued alerts up to ``timeout`` seconds, then stop the workers."""
        self.dispatcher.close(timeout)

    # -- the rules -------------------------------------------------------------------------------

    def _decide(self, verdict: Verdict) -> Alert | None:
        now = self._clock()
        if verdict.event is VerdictEvent.EMERGENCY_ROTATION:
            alert_state.clear_rotation_failure(self._store, verdict.credential)
            return self._alert(AlertKind.EMERGENCY_ROTATION, verdict, now, self._last_status(verdict))
        if verdict.event is VerdictEvent.ROTATION_FAILED:
            claimed = alert_state.claim_rotation_failure(
                self._store, verdict.credential, due_before=now - self.reminder_interval, at=now
            )
            if not claimed:
                return None
            return self._alert(AlertKind.ROTATION_FAILED, verdict, now, self._last_status(verdict))
        state = alert_state.alert_state(self._store, verdict.credential)
        previous = state.status if state is not None else None
        if previous is None or verdict.status is not previous:
            won = alert_state.record_status(
                self._store, verdict.credential, expected=previous, status=verdict.status, at=now
            )
            # Losing the race means another process alerted this very transition; a first
            # verdict of OK is recorded but is no news.
            if not won or (previous is None and verdict.status is HealthStatus.OK):
                return None
            return self._alert(AlertKind.STATUS_CHANGED, verdict, now, previous)
        if verdict.status is HealthStatus.CRIT:
            claimed = alert_state.claim_reminder(
                self._store,
                verdict.credential,
                status=HealthStatus.CRIT,
                due_before=now - self.reminder_interval,
                at=now,
            )
            if claimed:
                return self._alert(AlertKind.REMINDER, verdict, now, previous)
        return None

    def _last_status(self, verdict: Verdict) -> HealthStatus | None:
        state = alert_state.alert_state(self._store, verdict.credential)
        return state.status if state is not None else None

    def _fallback(self, verdict: Verdict) -> Alert | None:
        """Without the store: alert anything but a plain OK (a repeat beats silence)."""
        if verdict.event is VerdictEvent.HEALTH and verdict.status is HealthStatus.OK:
            return None
        kind = {
            VerdictEvent.HEALTH: AlertKind.STATUS_CHANGED,
            VerdictEvent.ROTATION_FAILED: AlertKind.ROTATION_FAILED,
            VerdictEvent.EMERGENCY_ROTATION: AlertKind.EMERGENCY_ROTATION,
        }[verdict.event]
        return self._alert(kind, verdict, self._clock(), None)

    @staticmethod
    def _alert(kind: AlertKind, verdict: Verdict, now: dt.datetime, previous: HealthStatus | None) -> Alert:
        return Alert(
            kind=kind,
            credential=verdict.credential,
            status=verdict.status,
            previous_status=previous,
            summary=verdict.summary,
            reasons=verdict.reasons,
            at=now,
        )
