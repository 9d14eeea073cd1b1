"""Health rules: from the facts about one credential to OK, WARN or CRIT with reasons and fixes; pure.

The service gathers :class:`HealthFacts` (store, server list, optional token probe); this module only
judges them, so every rule is a row in a table test. The worst reason wins; exit codes follow the
monitoring plugin convention (0 OK, 1 WARNING, 2 CRITICAL).

Rules (each yields one reason):

==============================================  ======================================
no current certificate                          CRIT
current certificate expired                     CRIT
current revoked / missing remotely (record      CRIT
  missing: ``Certificate "<id>" not found``),
  or refused by the token endpoint
no management access works (fix: login/token)  CRIT
NetSuite could not be checked (network, 5xx)    WARN: a failed remote check is never OK
no observation for two observe intervals        WARN
current private key cannot be decrypted         CRIT
token probe failed                              CRIT
record still holds the bundled placeholder      CRIT
last rotation failed                            WARN; CRIT without a current certificate or
                                                when expiry is near (:func:`critical_threshold`)
inside the renewal window, nothing planned      WARN
planned rotation overdue (daemon not running?)  WARN
certificate on NetSuite unknown to this store   WARN (one reason per certificate)
account marked insecure (TLS off, plain http)   WARN
==============================================  ======================================
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

CredentialKind = Literal["m2m", "record"]
RecordModeName = Literal["rotate", "monitor"]
"""A record credential's mode: certrotor writes the record, or only watches it (see ``_watched_reasons``)."""
RemoteState = Literal["active", "revoked", "missing", "refused", "unknown"]
"""What the server says about the current certificate; ``unknown`` when it was not asked (or could
not be: then the facts carry the error). ``refused``: the token endpoint refused it (``invalid_client``:
revoked, unknown ``kid`` or expired), which is as much a fact as the list saying so.

For a record credential, ``missing`` means the certificate record itself is gone and ``revoked``
that the record no longer holds the current certificate (it was replaced outside certrotor).
"""

CRITICAL_BEFORE_EXPIRY = dt.timedelta(days=3)
CRITICAL_WINDOW_FRACTION = 0.25
OVERDUE_TOLERANCE = dt.timedelta(minutes=15)
OVERDUE_WINDOW_FRACTION = 0.25
DEFAULT_RECORD_SCRIPT_ID = "custcertificate_oa_realtime"

RECORD_VALID_TEXT = "Current real-time import certificate is valid until {date}"
RECORD_INVALID_TEXT = "No valid certificate available for real-time import"
"""OpenAir's own health check words (seed 004)."""


class HealthStatus(enum.Enum):
    """A credential's health, ordered OK < WARN < CRIT."""

    OK = "OK"
    WARN = "WARN"
    CRIT = "CRIT"

    @property
    def exit_code(self) -> int:
        """0, 1 or 2, as monitoring plugins (Nagios, Icinga, Sensu) expect."""
        return _SEVERITY[self]

    @property
    def plugin_label(self) -> str:
        """The monitoring plugin word: OK, WARNING or CRITICAL."""
        return {"OK": "OK", "WARN": "WARNING", "CRIT": "CRITICAL"}[self.value]

    @classmethod
    def worst(cls, statuses: Iterable[HealthStatus]) -> HealthStatus:
        """The most severe of ``statuses``; OK when there are none."""
        return max(statuses, key=_SEVERITY.__getitem__, default=cls.OK)


_SEVERITY = {HealthStatus.OK: 0, HealthStatus.WARN: 1, HealthStatus.CRIT: 2}


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """Outcome of ``--probe``: whether the current certificate obtained a real access token."""

    ok: bool
    error: str | None = None

    @classmethod
    def succeeded(cls) -> ProbeResult:
        return cls(ok=True)

    @classmethod
    def failed(cls, error: str) -> ProbeResult:
        return cls(ok=False, error=error)


@dataclass(frozen=True, slots=True)
class HealthFacts:
    """Everything the rules look at for one credential, gathered by the health service."""

    name: str
    now: dt.datetime
    kind: CredentialKind = "m2m"
    current_not_after: dt.datetime | None = None
    """Expiry of the current certificate version; ``None`` when there is no current version."""
    current_certificate_id: str | None = None
    renewal_window_opens_at: dt.datetime | None = None
    next_rotation_at: dt.datetime | None = None
    rotation_in_progress: bool = False
    """A rotation is journaled and not finished (pending or running)."""
    last_error: str | None = None
    failed_attempts: int = 0
    remote_state: RemoteState = "unknown"
    key_decryptable: bool = True
    foreign_certificate_ids: tuple[str, ...] = ()
    pending_adoption_ids: tuple[str, ...] = ()
    """Unknown certificates on NetSuite that may be this store's unrecorded upload of a pending version."""
    probe: ProbeResult | None = None
    """``None`` when no probe was asked for."""
    placeholder_detected: bool = False
    record_script_id: str | None = None
    mode: RecordModeName | None = None
    """A record credential's mode; ``monitor``: the current certificate is the record's own."""
    watch_warn_at: dt.datetime | None = None
    """``monitor``: from then on the record's owner is late replacing it (WARN)."""
    remote_error: str | None = None
    """Why NetSuite could not be checked (network, 5xx, timeout); ``None`` when it was, or not asked."""
    management_fix: str | None = None
    """Set when no way to authenticate management calls works: the command that repairs it."""
    token_fix: str | None = None
    """Set when the current certificate expired and no management access works without it (no token,
    no other certificate): the command that gives one, since a rotation cannot authenticate."""
    observed_at: dt.datetime | None = None
    """When the remote facts were gathered (``None``: never observed)."""
    stale_after: dt.timedelta | None = None
    """An observation older than this is WARN (two observe intervals); ``None``: no such rule."""
    insecure_base_url: str | None = None
    """Set when the account is marked insecure (``--insecure``): its base URL, or ``(derived)``."""

    @property
    def has_current(self) -> bool:
        return self.current_not_after is not None

    @property
    def rotation_failed(self) -> bool:
        return self.failed_attempts > 0 or self.last_error is not None


@dataclass(frozen=True, slots=True)
class HealthReason:
    """One finding: its status, a machine code, a sentence for people and the command that fixes it."""

    status: HealthStatus
    code: str
    message: str
    fix: str

    def to_dict(self) -> dict[str, str]:
        return {"status": self.status.value, "code": self.code, "message": self.message, "fix": self.fix}


@dataclass(frozen=True, slots=True)
class HealthReport:
    """The verdict for one credential: the worst reason's status, a summary line and all reasons."""

    name: str
    kind: CredentialKind
    status: HealthStatus
    summary: str
    reasons: tuple[HealthReason, ...] = field(default_factory=tuple)
    expires_at: dt.datetime | None = None
    next_rotation_at: dt.datetime | None = None
    mode: RecordModeName | None = None
    """A record credential's mode (``rotate`` or ``monitor``); ``None`` for M2M."""
    observed_at: dt.datetime | None = None
    """When NetSuite was last asked about this credential; ``None`` when never (or ``--offline``)."""
    observation_age: dt.timedelta | None = None
    """How old the remote facts are at the time of the report."""

    @property
    def exit_code(self) -> int:
        return self.status.exit_code

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for ``certrotor health --json``."""
        return {
            "name": self.name,
            "kind": self.kind,
            "mode": self.mode,
            "status": self.status.value,
            "exit_code": self.exit_code,
            "summary": self.summary,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "next_rotation_at": self.next_rotation_at.isoformat() if self.next_rotation_at else None,
            "observed_at": self.observed_at.isoformat() if self.observed_at else None,
            "observation_age_seconds": (
                round(self.observation_age.total_seconds(), 3) if self.observation_age is not None else None
            ),
            "reasons": [reason.to_dict() for reason in self.reasons],
        }


def overall_status(reports: Iterable[HealthReport]) -> HealthStatus:
    """The status of several credentials together (the process exit code): the worst one."""
    return HealthStatus.worst(report.status for report in reports)


def _window_length(facts: HealthFacts) -> dt.timedelta | None:
    if facts.current_not_after is None or facts.renewal_window_opens_at is None:
        return None
    return max(facts.current_not_after - facts.renewal_window_opens_at, dt.timedelta(0))


def critical_threshold(facts: HealthFacts) -> dt.timedelta:
    """How close to expiry a failing rotation turns CRIT: 3 days, or a quarter of the window if smaller.

    The smaller of the two keeps short-lived (demo) certificates from turning CRIT on their first
    failed attempt, while a two-year certificate is CRIT three days before expiry at the latest.
    """
    window = _window_length(facts)
    if window is None:
        return CRITICAL_BEFORE_EXPIRY
    return min(CRITICAL_BEFORE_EXPIRY, window * CRITICAL_WINDOW_FRACTION)


def overdue_tolerance(facts: HealthFacts) -> dt.timedelta:
    """How late a planned rotation may start before health warns: 15 min or a quarter of the window."""
    window = _window_length(facts)
    if window is None:
        return OVERDUE_TOLERANCE
    return min(OVERDUE_TOLERANCE, window * OVERDUE_WINDOW_FRACTION)


@functools.lru_cache(maxsize=4096)
def _command(*words: str) -> str:
    parts = ["certrotor", *words]
    return " ".join(shlex.quote(part) for part in parts)


def _revoke_command(name: str, certificate_id: str) -> str:
    # Certificate IDs may begin with "-"; "--" ends the options so the CLI reads it as an argument.
    if certificate_id.startswith("-"):
        return _command("revoke", name, "--", certificate_id)
    return _command("revoke", name, certificate_id)


def _when(moment: dt.datetime) -> str:
    return f"{moment.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S} UTC"


def _certificate_label(facts: HealthFacts) -> str:
    return f"certificate {facts.current_certificate_id}" if facts.current_certificate_id else "certificate"


def _is_valid(facts: HealthFacts) -> bool:
    return (
        facts.current_not_after is not None
        and facts.current_not_after > facts.now
        and facts.remote_state not in ("revoked", "missing", "refused")
        and not facts.placeholder_detected
    )


def _summary(facts: HealthFacts) -> str:
    valid = _is_valid(facts)
    if facts.kind == "record":
        if valid and facts.current_not_after is not None:
            return RECORD_VALID_TEXT.format(date=f"{facts.current_not_after.astimezone(dt.UTC):%Y-%m-%d}")
        return RECORD_INVALID_TEXT
    if valid and facts.current_not_after is not None:
        return f"Current certificate is valid until {_when(facts.current_not_after)}"
    return "No valid certificate available"


def _current_reasons(facts: HealthFacts) -> list[HealthReason]:
    """Rules about the current certificate itself: presence, expiry, remote state, key."""
    rotate = _command("rotate", facts.name)
    # A rotation repairs a dead certificate only while some management access works.
    repair = facts.management_fix or rotate
    crit = HealthStatus.CRIT
    if facts.current_not_after is None:
        return [HealthReason(crit, "no_current", "There is no current certificate.", rotate)]
    reasons: list[HealthReason] = []
    label = _certificate_label(facts)
    if facts.current_not_after <= facts.now:
        message = f"The current {label} expired at {_when(facts.current_not_after)}."
        fix = rotate
        if facts.kind == "m2m" and (facts.token_fix or facts.management_fix):
            # `rotate` would fail: its management calls would authenticate with this certificate.
            message = message[:-1] + (
                ": management calls cannot authenticate with an expired certificate, and no token or "
                "other certificate is set up for them."
            )
            fix = facts.management_fix or facts.token_fix or rotate
        reasons.append(HealthReason(crit, "expired", message, fix))
    if facts.kind == "record":
        script_id = facts.record_script_id or DEFAULT_RECORD_SCRIPT_ID
        if facts.remote_state == "missing":
            # Seed 004's own error text, so that people searching for it find this fix.
            message = f'Certificate "{script_id}" not found: the certificate record was deleted in NetSuite.'
            reasons.append(
                HealthReason(crit, "record_missing", message, _command("record", "recreate", facts.name))
            )
        elif facts.remote_state == "revoked":
            message = f'Certificate record "{script_id}" no longer holds the current certificate.'
            reasons.append(HealthReason(crit, "record_replaced", message, rotate))
    elif facts.remote_state == "revoked":
        message = f"The current {label} was revoked on NetSuite."
        reasons.append(HealthReason(crit, "remote_revoked", message, repair))
    elif facts.remote_state == "missing":
        message = f"The current {label} is missing on NetSuite (deleted outside certrotor)."
        reasons.append(HealthReason(crit, "remote_missing", message, repair))
    elif facts.remote_state == "refused":
        message = (
            f"The current {label} is revoked (or missing) on NetSuite: the token endpoint refused it."
        )
        reasons.append(HealthReason(crit, "remote_refused", message, repair))
    if not facts.key_decryptable:
        message = (
            "The current private key cannot be decrypted: it is sealed under another master key "
            "(lost or replaced), so no rotation can use it."
        )
        fix = (
            "restore the master key file (or CERTROTOR_MASTER_KEY) from your backup, or run "
            f"`{_command('credential', 'recover', facts.name)} --token TOKEN` (a new key pair uploaded "
            "with a bootstrap or management token; the old certificate is revoked)"
        )
        reasons.append(HealthReason(crit, "key_undecryptable", message, fix))
    return reasons


def _rotation_reasons(facts: HealthFacts) -> list[HealthReason]:
    """Rules about renewal: a failing rotation, an open window with nothing planned, an overdue plan."""
    rotate = _command("rotate", facts.name)
    not_after = facts.current_not_after
    if facts.rotation_failed:
        near_expiry = not_after is None or not_after - facts.now <= critical_threshold(facts)
        attempts = f" ({facts.failed_attempts} failed attempts)" if facts.failed_attempts > 1 else ""
        detail = f": {facts.last_error}" if facts.last_error else ""
        retry = f" Next retry at {_when(facts.next_rotation_at)}." if facts.next_rotation_at else ""
        message = (
            f"The last rotation failed{attempts}{detail}.{retry} "
            f"See `{_command('events', facts.name)}` for the details."
        )
        status = HealthStatus.CRIT if near_expiry else HealthStatus.WARN
        return [HealthReason(status, "rotation_failed", message, rotate)]
    if not_after is None or not_after <= facts.now or facts.rotation_in_progress:
        return []
    window_open = facts.renewal_window_opens_at is not None and facts.renewal_window_opens_at <= facts.now
    planned = facts.next_rotation_at is not None and facts.next_rotation_at < not_after
    if window_open and not planned:
        message = (
            f"The renewal window is open (certificate expires at {_when(not_after)}) "
            "but no rotation is planned."
        )
        return [HealthReason(HealthStatus.WARN, "renewal_not_planned", message, rotate)]
    if facts.next_rotation_at is not None and facts.next_rotation_at + overdue_tolerance(facts) < facts.now:
        message = (
            f"The rotation planned for {_when(facts.next_rotation_at)} has not started: "
            f"is `{_command('daemon')}` running?"
        )
        return [HealthReason(HealthStatus.WARN, "rotation_overdue", message, rotate)]
    return []


def _remote_check_reasons(facts: HealthFacts) -> list[HealthReason]:
    """A remote check that failed is never OK: no access is CRIT, anything else WARN; stale is WARN."""
    reasons: list[HealthReason] = []
    if facts.management_fix is not None:
        message = (
            "None of the ways to authenticate certificate management on NetSuite works (the current and "
            "previous certificates, other credentials of the integration and the stored tokens "
            "were tried): nothing can be rotated until one does."
        )
        reasons.append(
            HealthReason(HealthStatus.CRIT, "no_management_access", message, facts.management_fix)
        )
    if facts.remote_error is not None:
        message = f"NetSuite could not be checked: {facts.remote_error.rstrip('.')}."
        fix = f"check the network and NetSuite's status, then `{_command('health', facts.name)}`"
        reasons.append(HealthReason(HealthStatus.WARN, "remote_unchecked", message, fix))
    stale = facts.stale_after
    if stale is not None and (facts.observed_at is None or facts.now - facts.observed_at > stale):
        seen = f"since {_when(facts.observed_at)}" if facts.observed_at else "ever"
        message = f"Nobody observed this credential on NetSuite {seen}: is `{_command('daemon')}` running?"
        fix = f"start `{_command('daemon')}`, or check live with `{_command('health', facts.name)}`"
        reasons.append(HealthReason(HealthStatus.WARN, "observation_stale", message, fix))
    return reasons


def _other_reasons(facts: HealthFacts) -> list[HealthReason]:
    """Probe, placeholder record and foreign certificates."""
    reasons: list[HealthReason] = []
    rotate = facts.management_fix or _command("rotate", facts.name)
    if facts.probe is not None and not facts.probe.ok:
        error = facts.probe.error or "unknown error"
        message = f"No access token could be obtained with the current certificate: {error}."
        reasons.append(HealthReason(HealthStatus.CRIT, "probe_failed", message, rotate))
    if facts.placeholder_detected:
        script_id = facts.record_script_id or DEFAULT_RECORD_SCRIPT_ID
        message = (
            f'Certificate record "{script_id}" still holds the bundled placeholder certificate, '
            "which is not valid."
        )
        reasons.append(HealthReason(HealthStatus.CRIT, "placeholder", message, rotate))
    for certificate_id in facts.foreign_certificate_ids:
        message = (
            f"Certificate {certificate_id} on NetSuite is unknown to this store "
            "(uploaded outside certrotor?); revoke it if nothing uses it."
        )
        reasons.append(
            HealthReason(
                HealthStatus.WARN, "foreign_certificate", message, _revoke_command(facts.name, certificate_id)
            )
        )
    for certificate_id in facts.pending_adoption_ids:
        message = (
            f"Certificate {certificate_id} on NetSuite matches a pending version of this store: an "
            "interrupted rotation uploaded it without recording it (pending adoption); the next "
            "rotation adopts it."
        )
        reasons.append(HealthReason(HealthStatus.WARN, "pending_adoption", message, rotate))
    if facts.insecure_base_url is not None:
        message = (
            f"The account is marked insecure (base URL {facts.insecure_base_url}): TLS verification is "
            "off and plain http:// is allowed, for a test server only."
        )
        fix = _command("credential", "set", facts.name, "--secure")
        reasons.append(HealthReason(HealthStatus.WARN, "insecure_transport", message, fix))
    return reasons


_OPENAIR_FIX = (
    "generate a new real-time import certificate in OpenAir (Administration > NetSuite Connector > Tips)"
)


def _watched_reasons(facts: HealthFacts) -> list[HealthReason]:
    """``monitor`` mode: the record as NetSuite holds it, which another system rotates (never certrotor)."""
    script_id = facts.record_script_id or DEFAULT_RECORD_SCRIPT_ID
    crit, warn = HealthStatus.CRIT, HealthStatus.WARN
    if facts.remote_state == "missing":
        message = f'Certificate "{script_id}" not found: the certificate record was deleted in NetSuite.'
        fix = f"{_command('record', 'recreate', facts.name)}, then {_OPENAIR_FIX}"
        return [HealthReason(crit, "record_missing", message, fix)]
    if facts.current_not_after is None:
        # A read that failed is never OK: no way in is CRIT with the repair, anything else WARN.
        failed_check = _remote_check_reasons(facts)
        if failed_check:
            return failed_check
        message = f'Certificate record "{script_id}" was not read, so its certificate is unknown.'
        return [HealthReason(warn, "record_unread", message, _command("health", facts.name))]
    if facts.placeholder_detected:
        message = (
            f'Certificate record "{script_id}" still holds the bundled placeholder certificate, '
            "which is not valid."
        )
        return [HealthReason(crit, "placeholder", message, _OPENAIR_FIX)]
    left = facts.current_not_after - facts.now
    if left <= dt.timedelta(0):
        message = f'The certificate in record "{script_id}" expired at {_when(facts.current_not_after)}.'
        return [HealthReason(crit, "record_expired", message, _OPENAIR_FIX)]
    late = facts.watch_warn_at is not None and facts.watch_warn_at <= facts.now
    if left <= CRITICAL_BEFORE_EXPIRY or late:
        message = (
            f'The certificate in record "{script_id}" expires at {_when(facts.current_not_after)} and '
            "has not been replaced (OpenAir's connector replaces it one to two weeks before)."
        )
        status = crit if left <= CRITICAL_BEFORE_EXPIRY else warn
        return [HealthReason(status, "record_not_replaced", message, _OPENAIR_FIX)]
    return []


def evaluate_health(facts: HealthFacts) -> HealthReport:
    """Judge one credential: every rule that applies gives a reason, most severe first; the worst wins."""
    if facts.mode == "monitor":
        reasons = _watched_reasons(facts)
    else:
        reasons = [
            *_current_reasons(facts),
            *_rotation_reasons(facts),
            *_remote_check_reasons(facts),
            *_other_reasons(facts),
        ]
    # A stable sort keeps the rule order among reasons of equal severity.
    reasons.sort(key=lambda reason: -reason.status.exit_code)
    return HealthReport(
        name=facts.name,
        kind=facts.kind,
        status=HealthStatus.worst(reason.status for reason in reasons),
        summary=_summary(facts),
        reasons=tuple(reasons),
        expires_at=facts.current_not_after,
        next_rotation_at=facts.next_rotation_at,
        mode=facts.mode,
        observed_at=facts.observed_at,
        observation_age=(facts.now - facts.observed_at) if facts.observed_at is not None else None,
    )
