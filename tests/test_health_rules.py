"""Health rules: one table row per rule, plus summaries, ordering and exit codes."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest

from certrotor.health_rules import (
    RECORD_INVALID_TEXT,
    HealthFacts,
    HealthReport,
    HealthStatus,
    ProbeResult,
    critical_threshold,
    evaluate_health,
    overall_status,
)

NOW = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
OK, WARN, CRIT = HealthStatus.OK, HealthStatus.WARN, HealthStatus.CRIT

HEALTHY = HealthFacts(
    name="acme-prod",
    now=NOW,
    current_not_after=NOW + 100 * DAY,
    current_certificate_id="xYAcb_rwSVj6stkI0cCysutJ4AKwqTOBU5M75HNh7Ig",
    renewal_window_opens_at=NOW + 86 * DAY,
    next_rotation_at=NOW + 90 * DAY,
    remote_state="active",
)
"""A credential with a valid current certificate and a rotation planned inside its window."""

IN_WINDOW = dataclasses.replace(
    HEALTHY,
    current_not_after=NOW + 10 * DAY,
    renewal_window_opens_at=NOW - 4 * DAY,
    next_rotation_at=NOW + 2 * DAY,
)
"""Inside the renewal window, rotation planned in two days: still OK."""


def facts(base: HealthFacts = HEALTHY, **changes: Any) -> HealthFacts:
    return dataclasses.replace(base, **changes)


class TestRules:
    @pytest.mark.parametrize(
        ("case", "status", "codes", "fix"),
        [
            (HEALTHY, OK, [], None),
            (IN_WINDOW, OK, [], None),
            (facts(remote_state="unknown"), OK, [], None),
            (facts(probe=ProbeResult.succeeded()), OK, [], None),
            (
                facts(current_not_after=None, current_certificate_id=None),
                CRIT,
                ["no_current"],
                "certrotor rotate acme-prod",
            ),
            (facts(current_not_after=NOW - DAY), CRIT, ["expired"], "certrotor rotate acme-prod"),
            (facts(current_not_after=NOW), CRIT, ["expired"], "certrotor rotate acme-prod"),
            (facts(remote_state="revoked"), CRIT, ["remote_revoked"], "certrotor rotate acme-prod"),
            (facts(remote_state="missing"), CRIT, ["remote_missing"], "certrotor rotate acme-prod"),
            (
                facts(key_decryptable=False),
                CRIT,
                ["key_undecryptable"],
                "restore the master key file (or CERTROTOR_MASTER_KEY) from your backup, or run `certrotor "
                "credential recover acme-prod --token TOKEN` (a new key pair uploaded with a bootstrap or "
                "management token; the old certificate is revoked)",
            ),
            (
                facts(probe=ProbeResult.failed("invalid_client")),
                CRIT,
                ["probe_failed"],
                "certrotor rotate acme-prod",
            ),
            (
                facts(IN_WINDOW, next_rotation_at=None),
                WARN,
                ["renewal_not_planned"],
                "certrotor rotate acme-prod",
            ),
            (
                facts(IN_WINDOW, next_rotation_at=NOW + 11 * DAY),
                WARN,
                ["renewal_not_planned"],
                "certrotor rotate acme-prod",
            ),
            (facts(IN_WINDOW, next_rotation_at=None, rotation_in_progress=True), OK, [], None),
            (
                facts(IN_WINDOW, next_rotation_at=NOW - DAY),
                WARN,
                ["rotation_overdue"],
                "certrotor rotate acme-prod",
            ),
            (
                facts(IN_WINDOW, next_rotation_at=NOW - dt.timedelta(minutes=5)),
                OK,
                [],
                None,
            ),
            (
                facts(IN_WINDOW, last_error="HTTP 503", failed_attempts=2),
                WARN,
                ["rotation_failed"],
                "certrotor rotate acme-prod",
            ),
            (
                facts(
                    IN_WINDOW,
                    current_not_after=NOW + 1 * DAY,
                    last_error="HTTP 503",
                    failed_attempts=5,
                ),
                CRIT,
                ["rotation_failed"],
                "certrotor rotate acme-prod",
            ),
            (
                facts(current_not_after=None, last_error="HTTP 503", failed_attempts=1),
                CRIT,
                ["no_current", "rotation_failed"],
                "certrotor rotate acme-prod",
            ),
            (
                facts(foreign_certificate_ids=("Qiljyqx_nQC-_BMDF37ghOwZI0TpgaRrThMRNWJTPlU",)),
                WARN,
                ["foreign_certificate"],
                "certrotor revoke acme-prod Qiljyqx_nQC-_BMDF37ghOwZI0TpgaRrThMRNWJTPlU",
            ),
            (
                facts(foreign_certificate_ids=("-bc",)),
                WARN,
                ["foreign_certificate"],
                "certrotor revoke acme-prod -- -bc",
            ),
        ],
    )
    def test_rule_table(
        self, case: HealthFacts, status: HealthStatus, codes: list[str], fix: str | None
    ) -> None:
        """Each rule gives its status, code and fix command; healthy cases give no reasons."""
        report = evaluate_health(case)
        assert report.status is status
        assert [reason.code for reason in report.reasons] == codes
        if fix is not None:
            assert report.reasons[0].fix == fix

    @pytest.mark.parametrize(
        ("case", "status", "codes", "fix"),
        [
            (facts(kind="record"), OK, [], None),
            (
                facts(kind="record", remote_state="missing"),
                CRIT,
                ["record_missing"],
                "certrotor record recreate acme-prod",
            ),
            (
                facts(kind="record", remote_state="revoked"),
                CRIT,
                ["record_replaced"],
                "certrotor rotate acme-prod",
            ),
            (
                facts(kind="record", placeholder_detected=True),
                CRIT,
                ["placeholder"],
                "certrotor rotate acme-prod",
            ),
            (
                facts(kind="record", current_not_after=None, placeholder_detected=True),
                CRIT,
                ["no_current", "placeholder"],
                "certrotor rotate acme-prod",
            ),
        ],
    )
    def test_record_rule_table(
        self, case: HealthFacts, status: HealthStatus, codes: list[str], fix: str | None
    ) -> None:
        """Record credentials: a deleted record, a replaced certificate and the placeholder."""
        report = evaluate_health(case)
        assert report.status is status
        assert [reason.code for reason in report.reasons] == codes
        if fix is not None:
            assert report.reasons[0].fix == fix

    def test_missing_record_uses_the_seed_error_text(self) -> None:
        """A deleted record is reported with seed 004's words and its own script ID."""
        report = evaluate_health(
            facts(kind="record", remote_state="missing", record_script_id="custcertificate_x")
        )
        assert report.reasons[0].message.startswith('Certificate "custcertificate_x" not found')

    def test_worst_status_wins_and_comes_first(self) -> None:
        """With a WARN and a CRIT finding the report is CRIT and lists the CRIT reason first."""
        report = evaluate_health(facts(foreign_certificate_ids=("abc",), remote_state="revoked"))
        assert report.status is CRIT
        assert [reason.status for reason in report.reasons] == [CRIT, WARN]

    def test_failure_message_names_the_error_the_retry_and_the_audit_trail(self) -> None:
        """A failed rotation says what failed, when it retries and where the audit trail is."""
        case = facts(IN_WINDOW, last_error="HTTP 503 from the upload endpoint", failed_attempts=3)
        message = evaluate_health(case).reasons[0].message
        assert "HTTP 503 from the upload endpoint" in message
        assert "3 failed attempts" in message
        assert "Next retry at 2025-06-03 12:00:00 UTC" in message
        assert "certrotor events acme-prod" in message

    def test_names_are_shell_quoted_in_fix_commands(self) -> None:
        """A credential name with a space is quoted so the fix command can be pasted."""
        report = evaluate_health(facts(name="acme prod", remote_state="revoked"))
        assert report.reasons[0].fix == "certrotor rotate 'acme prod'"


class TestCriticalThreshold:
    def test_three_days_for_long_windows(self) -> None:
        """With a 14 day window a failing rotation turns CRIT 3 days before expiry."""
        case = facts(current_not_after=NOW + 10 * DAY, renewal_window_opens_at=NOW - 4 * DAY)
        assert critical_threshold(case) == 3 * DAY

    def test_quarter_of_short_windows(self) -> None:
        """With a 60 s demo window the threshold is 15 s, so one failure does not page anyone."""
        not_after = NOW + dt.timedelta(seconds=50)
        case = facts(
            current_not_after=not_after, renewal_window_opens_at=not_after - dt.timedelta(seconds=60)
        )
        assert critical_threshold(case) == dt.timedelta(seconds=15)
        failed = dataclasses.replace(case, last_error="timeout", failed_attempts=1)
        assert evaluate_health(failed).status is WARN

    def test_three_days_without_a_known_window(self) -> None:
        """When the window is unknown the fixed three days apply."""
        assert critical_threshold(facts(renewal_window_opens_at=None)) == 3 * DAY


class TestSummary:
    def test_record_valid_uses_openair_words(self) -> None:
        """A healthy record credential says OpenAir's sentence with the expiry date."""
        summary = evaluate_health(facts(kind="record")).summary
        assert summary == "Current real-time import certificate is valid until 2025-09-09"

    @pytest.mark.parametrize(
        "case",
        [
            facts(kind="record", current_not_after=None),
            facts(kind="record", current_not_after=NOW - DAY),
            facts(kind="record", remote_state="missing"),
            facts(kind="record", placeholder_detected=True),
        ],
    )
    def test_record_invalid_uses_openair_words(self, case: HealthFacts) -> None:
        """Without a usable certificate a record credential says OpenAir's 'No valid certificate' sentence."""
        assert evaluate_health(case).summary == RECORD_INVALID_TEXT

    def test_m2m_summary_gives_expiry(self) -> None:
        """An M2M credential's summary gives the expiry instant in UTC."""
        assert (
            evaluate_health(HEALTHY).summary == "Current certificate is valid until 2025-09-09 12:00:00 UTC"
        )
        assert evaluate_health(facts(current_not_after=None)).summary == "No valid certificate available"


class TestStatus:
    @pytest.mark.parametrize(
        ("status", "exit_code", "label"), [(OK, 0, "OK"), (WARN, 1, "WARNING"), (CRIT, 2, "CRITICAL")]
    )
    def test_exit_codes_follow_monitoring_plugins(
        self, status: HealthStatus, exit_code: int, label: str
    ) -> None:
        """OK, WARN and CRIT exit 0, 1 and 2 and read OK, WARNING and CRITICAL."""
        assert status.exit_code == exit_code
        assert status.plugin_label == label

    def test_worst(self) -> None:
        """The worst of several statuses wins; no status at all is OK."""
        assert HealthStatus.worst([OK, CRIT, WARN]) is CRIT
        assert HealthStatus.worst([]) is OK

    def test_overall_status_of_several_reports(self) -> None:
        """The fleet's status (process exit code) is the worst credential's."""
        reports: list[HealthReport] = [
            evaluate_health(HEALTHY),
            evaluate_health(facts(IN_WINDOW, next_rotation_at=None)),
        ]
        assert overall_status(reports) is WARN


class TestReportJson:
    def test_to_dict_is_json_ready(self) -> None:
        """The JSON form carries status, exit code, summary, times and reasons with their fixes."""
        data = evaluate_health(facts(remote_state="revoked")).to_dict()
        assert data["status"] == "CRIT"
        assert data["exit_code"] == 2
        assert data["expires_at"] == "2025-09-09T12:00:00+00:00"
        assert data["reasons"][0] == {
            "status": "CRIT",
            "code": "remote_revoked",
            "message": f"The current certificate {HEALTHY.current_certificate_id} was revoked on NetSuite.",
            "fix": "certrotor rotate acme-prod",
        }
