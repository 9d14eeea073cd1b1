"""What the broker did, counted: Prometheus metrics, and token counts per key and credential for the audit.

The audit trail gets one event per (application, credential) and period, never one per token:
:meth:`UsageLog.flush` runs every audit interval and at shutdown.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter

from certrotor.crypto import utcnow
from certrotor.errors import CertrotorError
from certrotor.logging import get_logger
from certrotor.store import EventOutcome, Store

log = get_logger(__name__)

AUDIT_ACTOR = "broker"
AUDIT_ACTION = "broker.tokens_issued"


class BrokerMetrics:
    """One registry per broker (not the global one), so tests and a daemon's broker never collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.tokens_issued = Counter(
            "certrotor_broker_tokens_issued",
            "Access tokens handed to applications (from the cache or fresh), per application and credential.",
            ["app", "credential"],
            registry=self.registry,
        )
        self.token_requests = Counter(
            "certrotor_broker_netsuite_token_requests",
            "Token requests the broker sent to NetSuite, per credential and outcome (ok, failed).",
            ["credential", "outcome"],
            registry=self.registry,
        )
        self.refusals = Counter(
            "certrotor_broker_refusals",
            "Requests refused by the broker, per reason (missing_key, invalid_key, not_granted, ...).",
            ["reason"],
            registry=self.registry,
        )
        self.proxied = Counter(
            "certrotor_broker_proxy_requests",
            "Requests forwarded to NetSuite by the proxy, per application, credential and status class.",
            ["app", "credential", "status"],
            registry=self.registry,
        )
        self.proxy_retries = Counter(
            "certrotor_broker_proxy_retries",
            "Proxied requests sent again with a fresh token after NetSuite answered 401.",
            ["credential"],
            registry=self.registry,
        )

    def token_request(self, credential: str, outcome: str) -> None:
        self.token_requests.labels(credential=credential, outcome=outcome).inc()


@dataclass
class UsageLog:
    """Tokens issued per (application, credential) since ``since``, waiting to go to the audit trail."""

    since: dt.datetime = field(default_factory=utcnow)
    counts: dict[tuple[str, str], int] = field(default_factory=dict)

    def count(self, app: str, credential: str) -> None:
        key = (app, credential)
        self.counts[key] = self.counts.get(key, 0) + 1

    def take(self) -> tuple[dt.datetime, dt.datetime, dict[tuple[str, str], int]]:
        """The counts so far and their period; counting starts afresh."""
        since, until, counts = self.since, utcnow(), self.counts
        self.since, self.counts = until, {}
        return since, until, counts

    @staticmethod
    def write(
        store: Store, since: dt.datetime, until: dt.datetime, counts: dict[tuple[str, str], int]
    ) -> int:
        """One audit event per (application, credential) with its count; returns how many were written."""
        written = 0
        for (app, credential), issued in sorted(counts.items()):
            detail = {"app": app, "issued": issued, "since": since.isoformat(), "until": until.isoformat()}
            try:
                store.append_event(credential, AUDIT_ACTOR, AUDIT_ACTION, EventOutcome.OK, detail)
            except CertrotorError as exc:
                # A credential removed meanwhile, or the store briefly unavailable: say so, keep going.
                log.warning("broker usage not audited", app=app, credential=credential, error=exc.message)
                continue
            written += 1
        return written
