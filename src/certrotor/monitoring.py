"""Monitoring plugin output (Nagios, Icinga, Sensu): summary line, performance data, expiry thresholds; pure.

``certrotor health`` prints :func:`summary_line` first (``CERTROTOR WARN - 3 credentials: 2 OK, 1 WARN,
0 CRIT | ...``), then one block per credential that needs attention. Exit codes follow the plugin
convention: 0 OK, 1 WARN, 2 CRIT, 3 UNKNOWN (the check itself could not run).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from certrotor.health_rules import HealthReason, HealthReport, HealthStatus, overall_status

UNKNOWN_EXIT_CODE = 3
PLUGIN_NAME = "CERTROTOR"
SOONEST_IN_PERFDATA = 5
"""How many of the soonest-expiring certificates get a performance value of their own."""
_DAY_SECONDS = 86400.0


@dataclass(frozen=True, slots=True)
class ExpiryThresholds:
    """``--warn 14d --crit 7d``: WARN or CRIT when the current certificate expires sooner than these."""

    warn: dt.timedelta | None = None
    crit: dt.timedelta | None = None


def days_left(report: HealthReport, now: dt.datetime) -> float | None:
    """Days until the current certificate expires (negative once expired); ``None`` without one."""
    if report.expires_at is None:
        return None
    return (report.expires_at - now).total_seconds() / _DAY_SECONDS


def _days_text(delta: dt.timedelta) -> str:
    days = delta.total_seconds() / _DAY_SECONDS
    return f"{days:g}d" if days == int(days) else f"{days:.2f}d"


def apply_thresholds(report: HealthReport, now: dt.datetime, thresholds: ExpiryThresholds) -> HealthReport:
    """``report`` with one more reason when its certificate expires within a threshold (status raised)."""
    if report.expires_at is None:
        return report
    left = report.expires_at - now
    for status, limit, option in (
        (HealthStatus.CRIT, thresholds.crit, "--crit"),
        (HealthStatus.WARN, thresholds.warn, "--warn"),
    ):
        if limit is not None and left < limit:
            reason = HealthReason(
                status,
                "expiry_threshold",
                f"The current certificate expires in {days_left(report, now):.1f} days "
                f"(under {option} {_days_text(limit)}).",
                f"certrotor rotate {report.name}",
            )
            return dataclasses.replace(
                report,
                status=HealthStatus.worst([report.status, status]),
                reasons=(*report.reasons, reason),
            )
    return report


def _counts(reports: Sequence[HealthReport]) -> dict[HealthStatus, int]:
    return {status: sum(1 for r in reports if r.status is status) for status in HealthStatus}


def perfdata(reports: Sequence[HealthReport], now: dt.datetime, thresholds: ExpiryThresholds) -> str:
    """``'soonest_expiry_days'=12.50;14;7 'expiry_days app1'=12.50;14;7 ... ok=2 warn=1 crit=0``."""
    warn = f"{thresholds.warn.total_seconds() / _DAY_SECONDS:g}" if thresholds.warn else ""
    crit = f"{thresholds.crit.total_seconds() / _DAY_SECONDS:g}" if thresholds.crit else ""
    levels = f";{warn};{crit}".rstrip(";")
    expiring = sorted(
        ((left, r.name) for r in reports if (left := days_left(r, now)) is not None),
        key=lambda pair: pair[0],
    )
    values = []
    if expiring:
        values.append(f"'soonest_expiry_days'={expiring[0][0]:.2f}{levels}")
    values += [f"'expiry_days {name}'={left:.2f}{levels}" for left, name in expiring[:SOONEST_IN_PERFDATA]]
    counts = _counts(reports)
    values += [f"{status.value.lower()}={counts[status]}" for status in HealthStatus]
    return " ".join(values)


def summary_line(reports: Sequence[HealthReport], now: dt.datetime, thresholds: ExpiryThresholds) -> str:
    """``CERTROTOR OK - 2 credentials: 2 OK, 0 WARN, 0 CRIT | <perfdata>``."""
    counts = _counts(reports)
    noun = "credential" if len(reports) == 1 else "credentials"
    tally = ", ".join(f"{counts[status]} {status.value}" for status in HealthStatus)
    status = overall_status(reports).value
    return f"{PLUGIN_NAME} {status} - {len(reports)} {noun}: {tally} | {perfdata(reports, now, thresholds)}"


def unknown_line(problem: str) -> str:
    """The first line when the check could not run (unknown name, database down): exit code 3."""
    return f"{PLUGIN_NAME} UNKNOWN - {problem}"


__all__ = [
    "PLUGIN_NAME",
    "UNKNOWN_EXIT_CODE",
    "ExpiryThresholds",
    "apply_thresholds",
    "days_left",
    "perfdata",
    "summary_line",
    "unknown_line",
]
