"""The alert every channel sends: who, what status, why, what to do; its JSON body and one-line text."""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any

from certrotor.health_rules import HealthReason, HealthStatus
from certrotor.logging import scrub_text

SIGNATURE_HEADER = "X-Certrotor-Signature"
"""Webhook header carrying ``sha256=<hex HMAC-SHA256 of the raw body under the shared secret>``."""
EVENT_HEADER = "X-Certrotor-Event"


class AlertKind(enum.StrEnum):
    """Why an alert was sent; the ``event`` field of the JSON body."""

    STATUS_CHANGED = "status_changed"
    """The credential's health moved: to WARN, to CRIT, or back to OK."""
    REMINDER = "reminder"
    """Still CRIT after the reminder interval."""
    ROTATION_FAILED = "rotation_failed"
    EMERGENCY_ROTATION = "emergency_rotation"
    """An emergency rotation replaced a revoked, missing or expired certificate."""
    TEST = "test"
    """``certrotor alerts test``."""


@dataclass(frozen=True, slots=True)
class Alert:
    """One notification, identical on every channel."""

    kind: AlertKind
    credential: str
    status: HealthStatus
    summary: str
    at: dt.datetime
    previous_status: HealthStatus | None = None
    reasons: tuple[HealthReason, ...] = field(default_factory=tuple)

    @classmethod
    def for_channel_test(cls, at: dt.datetime) -> Alert:
        """What ``certrotor alerts test`` sends: plainly a test, with every field filled in."""
        reason = HealthReason(
            HealthStatus.OK,
            "test",
            "This is a test alert from certrotor: the channel works.",
            "nothing to do",
        )
        return cls(
            kind=AlertKind.TEST,
            credential="certrotor-test",
            status=HealthStatus.OK,
            summary="Test alert sent by `certrotor alerts test`.",
            at=at,
            reasons=(reason,),
        )

    @property
    def text(self) -> str:
        """One line for people (Slack and Teams show it as is): what happened, why, and the fix."""
        return scrub_text(" ".join(_headline(self).split()))

    @property
    def subject(self) -> str:
        """An e-mail subject: short, status first so that mail filters can sort on it."""
        return scrub_text(
            " ".join(f"[certrotor] {self.status.value} {self.credential}: {_what(self)}".split())
        )

    def to_payload(self) -> dict[str, Any]:
        """The JSON body of a webhook and the standard input of a command."""
        return {
            "event": self.kind.value,
            "credential": self.credential,
            "status": self.status.value,
            "previous_status": self.previous_status.value if self.previous_status else None,
            "summary": scrub_text(self.summary),
            "reasons": [
                {
                    "status": reason.status.value,
                    "code": reason.code,
                    "message": scrub_text(reason.message),
                    "fix": scrub_text(reason.fix),
                }
                for reason in self.reasons
            ],
            "at": self.at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
            "text": self.text,
        }

    def to_json_bytes(self) -> bytes:
        """The payload as compact UTF-8 JSON: the exact bytes a webhook signature covers."""
        return json.dumps(self.to_payload(), ensure_ascii=False, separators=(",", ":")).encode()

    def to_email_body(self) -> str:
        """Plain text for an e-mail: the line, each reason with its fix, and when."""
        lines = [self.text, ""]
        for reason in self.reasons:
            lines.append(f"- {reason.status.value}: {scrub_text(reason.message)}")
            lines.append(f"  Fix: {scrub_text(reason.fix)}")
        lines.extend(["", f"Summary: {scrub_text(self.summary)}", f"At: {self.to_payload()['at']}"])
        return "\n".join(lines) + "\n"


def _what(alert: Alert) -> str:
    previous = alert.previous_status.value if alert.previous_status else None
    if alert.kind is AlertKind.STATUS_CHANGED:
        if alert.status is HealthStatus.OK:
            return f"back to OK (was {previous})" if previous else "OK"
        return f"now {alert.status.value} (was {previous or 'OK'})"
    if alert.kind is AlertKind.REMINDER:
        return f"still {alert.status.value}"
    if alert.kind is AlertKind.ROTATION_FAILED:
        return "rotation failed"
    if alert.kind is AlertKind.EMERGENCY_ROTATION:
        return "emergency rotation done"
    return "test alert"


def _headline(alert: Alert) -> str:
    head = f"certrotor: {alert.credential} {_what(alert)}"
    first = alert.reasons[0] if alert.reasons else None
    if first is None or (alert.kind is AlertKind.STATUS_CHANGED and alert.status is HealthStatus.OK):
        return f"{head}: {alert.summary}"
    fix = f" Fix: {first.fix}" if alert.status is not HealthStatus.OK else ""
    more = f" (+{len(alert.reasons) - 1} more)" if len(alert.reasons) > 1 else ""
    return f"{head}: {first.message}{more}{fix}"


def sign_body(secret: str, body: bytes) -> str:
    """The signature header value for ``body``: ``sha256=`` and the hex HMAC-SHA256 under ``secret``."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(secret: str, body: bytes, header_value: str) -> bool:
    """Whether ``header_value`` signs ``body`` under ``secret`` (constant-time; for receivers)."""
    return hmac.compare_digest(sign_body(secret, body), header_value.strip())
