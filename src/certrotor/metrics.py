"""Prometheus metrics of the rotation daemon: outcomes, durations, and each certificate's expiry."""

from __future__ import annotations

import contextlib
import threading
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from certrotor.store import CertificateVersion


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
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def observe_current(self, credential: str, current: CertificateVersion | None) -> None:
        """Publish the current certificate's expiry; a credential without one has no sample."""
        if current is not None:
            self.expiry.labels(credential=credential).set(current.not_after.timestamp())
            return
        with contextlib.suppress(KeyError):
            self.expiry.remove(credential)

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
