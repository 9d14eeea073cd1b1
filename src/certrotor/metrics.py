"""Prometheus metrics of the rotation daemon: outcomes, durations, each certificate's expiry, the
observations of NetSuite (age, remote state, health), alerts and emergency rotations."""

from __future__ import annotations

import contextlib
import threading
import time
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from certrotor.health_rules import HealthReport
from certrotor.store import CertificateVersion

REMOTE_STATES = ("active", "revoked", "missing", "refused", "unknown")


class DaemonMetrics:
    """One registry per daemon (not the global one), so tests and several daemons never collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.rotations = Counter(
            "certrotor_rotations",
            "Rotation attempts by outcome (rotated, retired, waiting, deferred, failed, interrupted).",
            ["status"],
            registry=self.registry,
        )
        self.rotation_seconds = Histogram(
            "certrotor_rotation_duration_seconds",
            "Wall time of one rotation attempt.",
            buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
            registry=self.registry,
        )
        self.passes = Counter("certrotor_daemon_passes", "Passes of the daemon loop.", registry=self.registry)
        self.expiry = Gauge(
            "certrotor_certificate_expiry_timestamp_seconds",
            "Expiry (Unix time) of each credential's current certificate.",
            ["credential"],
            registry=self.registry,
        )
        self.alerts_sent = Counter(
            "certrotor_alerts_sent", "Alerts delivered, by channel.", ["channel"], registry=self.registry
        )
        self.alerts_failed = Counter(
            "certrotor_alerts_failed",
            "Alerts given up after retries (or dropped from a full queue), by channel.",
            ["channel"],
            registry=self.registry,
        )
        self.emergency_rotations = Counter(
            "certrotor_emergency_rotations",
            "Emergency rotations (current certificate revoked, missing or expired on NetSuite), by outcome.",
            ["status"],
            registry=self.registry,
        )
        self.observed_at = Gauge(
            "certrotor_observation_timestamp_seconds",
            "When NetSuite was last asked about each credential (Unix time).",
            ["credential"],
            registry=self.registry,
        )
        self.observation_age = Gauge(
            "certrotor_observation_age_seconds",
            "How old each credential's latest observation of NetSuite is, at scrape time.",
            ["credential"],
            registry=self.registry,
        )
        self.remote_state = Gauge(
            "certrotor_remote_state",
            "1 for the state NetSuite last reported for each credential's current certificate.",
            ["credential", "state"],
            registry=self.registry,
        )
        self.health_status = Gauge(
            "certrotor_health_status",
            "Each credential's health as an exit code: 0 OK, 1 WARN, 2 CRIT.",
            ["credential"],
            registry=self.registry,
        )
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def observe_current(self, credential: str, current: CertificateVersion | None) -> None:
        """Publish the current certificate's expiry; a credential without one has no sample."""
        if current is not None:
            self.expiry.labels(credential=credential).set(current.not_after.timestamp())
            return
        with contextlib.suppress(KeyError):
            self.expiry.remove(credential)

    def observe_report(self, report: HealthReport, remote_state: str | None = None) -> None:
        """Publish one credential's health verdict, its observation time and age, and remote state."""
        self.health_status.labels(credential=report.name).set(report.exit_code)
        if report.observed_at is not None:
            stamp = report.observed_at.timestamp()
            self.observed_at.labels(credential=report.name).set(stamp)
            self.observation_age.labels(credential=report.name).set_function(lambda: time.time() - stamp)
        state = remote_state or _state_of(report)
        for candidate in REMOTE_STATES:
            self.remote_state.labels(credential=report.name, state=candidate).set(int(candidate == state))

    def alert_sent(self, channel: str) -> None:
        """An alert reached ``channel`` (the alert dispatcher's delivery recorder)."""
        self.alerts_sent.labels(channel=channel).inc()

    def alert_failed(self, channel: str) -> None:
        """An alert to ``channel`` was given up."""
        self.alerts_failed.labels(channel=channel).inc()

    def serve(self, host: str, port: int) -> int:
        """Serve ``/metrics`` on ``host:port`` (0 picks a free port) in a thread; returns the port."""
        self._server, self._thread = start_http_server(port, addr=host, registry=self.registry)
        return int(self._server.server_port)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


_STATE_CODES = {
    "remote_revoked": "revoked",
    "remote_missing": "missing",
    "remote_refused": "refused",
    "record_missing": "missing",
    "record_replaced": "revoked",
}


def _state_of(report: HealthReport) -> str:
    """The remote state a report implies: a dead state from its reasons, active when checked and fine."""
    for reason in report.reasons:
        if reason.code in _STATE_CODES:
            return _STATE_CODES[reason.code]
    unknown = ("remote_unchecked", "no_management_access", "no_current")
    unchecked = any(r.code in unknown for r in report.reasons)
    return "unknown" if unchecked or report.observed_at is None else "active"
