"""The alert's JSON body, its one-line text, and the webhook signature."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json

from certrotor.alerts import Alert, AlertKind, sign_body, verify_signature
from certrotor.health_rules import HealthReason, HealthStatus

AT = dt.datetime(2026, 12, 2, 10, 30, tzinfo=dt.UTC)
REVOKED = HealthReason(
    HealthStatus.CRIT,
    "remote_revoked",
    "The current certificate abc was revoked on NetSuite.",
    "certrotor rotate demo",
)


def crit_alert(**overrides: object) -> Alert:
    values: dict[str, object] = {
        "kind": AlertKind.STATUS_CHANGED,
        "credential": "demo",
        "status": HealthStatus.CRIT,
        "previous_status": HealthStatus.OK,
        "summary": "No valid certificate available",
        "reasons": (REVOKED,),
        "at": AT,
    }
    values.update(overrides)
    return Alert(**values)  # type: ignore[arg-type]


class TestPayload:
    def test_carries_every_field_the_issue_names(self) -> None:
        """credential, status, previous_status, summary, reasons with fix, at, text and event."""
        payload = crit_alert().to_payload()
        assert payload == {
            "event": "status_changed",
            "credential": "demo",
            "status": "CRIT",
            "previous_status": "OK",
            "summary": "No valid certificate available",
            "reasons": [
                {
                    "status": "CRIT",
                    "code": "remote_revoked",
                    "message": "The current certificate abc was revoked on NetSuite.",
                    "fix": "certrotor rotate demo",
                }
            ],
            "at": "2026-12-02T10:30:00Z",
            "text": (
                "certrotor: demo now CRIT (was OK): The current certificate abc was revoked on NetSuite. "
                "Fix: certrotor rotate demo"
            ),
        }

    def test_json_bytes_are_the_payload(self) -> None:
        """The signed bytes decode to exactly the payload."""
        alert = crit_alert()
        assert json.loads(alert.to_json_bytes()) == alert.to_payload()

    def test_recovery_text_says_back_to_ok(self) -> None:
        """Back to OK reads as a recovery and offers no fix."""
        alert = crit_alert(
            status=HealthStatus.OK, previous_status=HealthStatus.CRIT, reasons=(), summary="Valid"
        )
        assert alert.text == "certrotor: demo back to OK (was CRIT): Valid"

    def test_text_is_one_line_and_scrubbed(self) -> None:
        """Newlines in a reason never break the line, and a token in an error text is redacted."""
        leaky = HealthReason(
            HealthStatus.WARN, "rotation_failed", "failed:\nBearer abcdefghijklmnopqrstuvwxyz", "retry"
        )
        alert = crit_alert(kind=AlertKind.ROTATION_FAILED, status=HealthStatus.WARN, reasons=(leaky,))
        assert "\n" not in alert.text
        assert "abcdefghijklmnop" not in alert.text
        assert "abcdefghijklmnop" not in alert.to_json_bytes().decode()

    def test_email_body_lists_each_reason_with_its_fix(self) -> None:
        """The e-mail shows every reason and its fix."""
        body = crit_alert().to_email_body()
        assert "- CRIT: The current certificate abc was revoked on NetSuite." in body
        assert "  Fix: certrotor rotate demo" in body


class TestSignature:
    def test_is_hmac_sha256_of_the_body_in_hex(self) -> None:
        """sha256=<hex HMAC-SHA256(secret, body)>, as receivers recompute it."""
        body = crit_alert().to_json_bytes()
        expected = hmac.new(b"shared", body, hashlib.sha256).hexdigest()
        assert sign_body("shared", body) == f"sha256={expected}"

    def test_verify_refuses_another_body_or_secret(self) -> None:
        """A changed body or a wrong secret fails verification."""
        body = crit_alert().to_json_bytes()
        header = sign_body("shared", body)
        assert verify_signature("shared", body, header)
        assert not verify_signature("shared", body + b" ", header)
        assert not verify_signature("other", body, header)
