"""Health of each credential: local facts read in bulk from the store, remote facts from a live
observation (concurrent, shared per integration) or from stored observations young enough; judged
by :mod:`certrotor.health_rules`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from certrotor.errors import NotFoundError
from certrotor.health_rules import (
    HealthFacts,
    HealthReport,
    HealthStatus,
    ProbeResult,
    RemoteState,
    evaluate_health,
)
from certrotor.scheduling import RenewalWindow
from certrotor.services.management_auth import repair_command
from certrotor.services.observation import DEFAULT_OBSERVE_INTERVAL, ObserveLimits, observe, subject_of
from certrotor.services.runtime import Runtime
from certrotor.store import Credential, CredentialKind
from certrotor.store import observations as stored
from certrotor.store.observations import HealthSnapshot, Observation

DEFAULT_STALE_AFTER = 2 * DEFAULT_OBSERVE_INTERVAL
"""A credential nobody observed for two observe intervals is WARN."""

DEAD_CODES = frozenset({"remote_revoked", "remote_missing", "remote_refused", "expired"})
"""Reasons meaning the current certificate no longer works on NetSuite: an emergency rotation's cue."""
RECORD_DEAD_CODES = frozenset({"record_replaced", "expired"})


def _token_fix(runtime: Runtime, snapshot: HealthSnapshot, now: dt.datetime) -> str | None:
    """For an expired current M2M certificate: the repairing command when no management access works
    without it (looked at only then: the chain is read from the store, nothing is asked of NetSuite)."""
    current, credential = snapshot.current, snapshot.credential
    if credential.kind is CredentialKind.RECORD or current is None or current.not_after > now:
        return None
    if any(True for _ in runtime.access.candidates(credential)):
        return None
    return repair_command(credential.name)


def _facts(
    snapshot: HealthSnapshot,
    observation: Observation | None,
    *,
    now: dt.datetime,
    stale_after: dt.timedelta | None,
    token_fix: str | None = None,
) -> HealthFacts:
    credential, current = snapshot.credential, snapshot.current
    window_opens = None
    if current is not None:
        window = RenewalWindow(credential.renew_before_min, credential.renew_before_max)
        window_opens, _ = window.bounds(current.not_before, current.not_after)
    if observation is not None and observation.certificate_id != subject_of(current):
        observation = None  # facts about another certificate (rotated since): not about this one
    probe = None
    if observation is not None and observation.probe_ok is not None:
        probe = ProbeResult(ok=observation.probe_ok, error=observation.probe_error)
    # Only an observation can go stale: a store nobody ever observed has local facts alone.
    stale_rule = stale_after if observation is not None else None
    watched_not_after = watch_warn_at = None
    if credential.watches_only and observation is not None:
        # A watched record's certificate is the record's own: certrotor keeps no version of it.
        watched_not_after = observation.certificate_not_after
        if watched_not_after is not None:
            watch_warn_at = watched_not_after - credential.renew_before_min
    return HealthFacts(
        name=credential.name,
        now=now,
        kind="record" if credential.kind is CredentialKind.RECORD else "m2m",
        current_not_after=current.not_after if current else watched_not_after,
        current_certificate_id=current.certificate_id if current else None,
        renewal_window_opens_at=window_opens,
        next_rotation_at=credential.next_rotation_at,
        rotation_in_progress=snapshot.rotation_open,
        last_error=credential.last_error,
        failed_attempts=credential.failed_attempts,
        remote_state=cast(RemoteState, observation.remote_state) if observation else "unknown",
        key_decryptable=snapshot.key_decryptable,
        foreign_certificate_ids=observation.foreign_certificate_ids if observation else (),
        pending_adoption_ids=observation.pending_adoption_ids if observation else (),
        probe=probe,
        placeholder_detected=observation.placeholder if observation else False,
        record_script_id=credential.record_script_id,
        mode=credential.record_mode.value if credential.record_mode else None,
        watch_warn_at=watch_warn_at,
        remote_error=observation.error if observation else None,
        management_fix=observation.management_fix if observation else None,
        token_fix=token_fix,
        observed_at=observation.observed_at if observation else None,
        stale_after=stale_rule,
        insecure_base_url=None if credential.verify_tls else (credential.base_url or "(derived)"),
    )


@dataclass(frozen=True, slots=True)
class FleetHealth:
    """One health run: the reports, and the snapshots judged with the observations used (one read)."""

    reports: list[HealthReport]
    snapshots: list[HealthSnapshot]
    observations: dict[str, Observation | None]


def check_all(
    runtime: Runtime,
    names: list[str] | None = None,
    *,
    remote: bool = True,
    probe: bool = False,
    max_age: dt.timedelta | None = None,
    stale_after: dt.timedelta | None = DEFAULT_STALE_AFTER,
    limits: ObserveLimits | None = None,
    observer: str = "health",
    on_checked: Callable[[str], None] | None = None,
) -> list[HealthReport]:
    """Judge each named (or every) credential (see :func:`check_fleet`)."""
    return check_fleet(
        runtime,
        names,
        remote=remote,
        probe=probe,
        max_age=max_age,
        stale_after=stale_after,
        limits=limits,
        observer=observer,
        on_checked=on_checked,
    ).reports


def check_fleet(
    runtime: Runtime,
    names: list[str] | None = None,
    *,
    remote: bool = True,
    probe: bool = False,
    max_age: dt.timedelta | None = None,
    stale_after: dt.timedelta | None = DEFAULT_STALE_AFTER,
    limits: ObserveLimits | None = None,
    observer: str = "health",
    on_checked: Callable[[str], None] | None = None,
) -> FleetHealth:
    """Judge each named (or every) credential.

    ``remote``: ask NetSuite now (concurrently, one list per integration), except for credentials
    whose stored observation is younger than ``max_age``; every live answer is stored. Without
    ``remote`` the stored observations are the remote facts, and one older than ``stale_after`` is WARN.
    ``on_checked(name)`` is called once per credential as its remote facts are in (at once for those
    answered from the store, as its check finishes for one checked live): a front end's progress.
    """
    store = runtime.store
    snapshots = stored.snapshots(store, names)
    if names is not None:
        found = {s.credential.name for s in snapshots}
        for name in names:
            if name not in found:
                store.get_credential(name)  # raises NotFoundError with the fix
                raise NotFoundError(f"No credential named {name!r} in the store.")
    now = runtime.now()
    observations = {s.credential.name: s.observation for s in snapshots}
    rule = stale_after
    live: list[Credential] = []
    if remote:
        live = [
            s.credential
            for s in snapshots
            if probe or max_age is None or not _fresh(s, now, max_age)
        ]
    if on_checked is not None:
        checked_live = {credential.name for credential in live}
        for name in (s.credential.name for s in snapshots if s.credential.name not in checked_live):
            on_checked(name)
    if remote:
        observations.update(
            observe(runtime, live, probe=probe, limits=limits, observer=observer, on_checked=on_checked)
        )
        rule = None if max_age is None else stale_after
        now = runtime.now()
    reports = [
        evaluate_health(
            _facts(
                s,
                observations.get(s.credential.name),
                now=now,
                stale_after=rule,
                token_fix=_token_fix(runtime, s, now),
            )
        )
        for s in snapshots
    ]
    return FleetHealth(reports, snapshots, observations)


def _fresh(snapshot: HealthSnapshot, now: dt.datetime, max_age: dt.timedelta) -> bool:
    observation = snapshot.observation
    return (
        observation is not None
        and observation.certificate_id == subject_of(snapshot.current)
        and now - observation.observed_at <= max_age
    )


def check_credential(
    runtime: Runtime, credential: Credential, *, remote: bool = True, probe: bool = False
) -> HealthReport:
    """Judge one credential (live unless ``remote`` is off)."""
    return check_all(runtime, [credential.name], remote=remote, probe=probe)[0]


def emergency_reason(credential: Credential, report: HealthReport) -> str | None:
    """Why ``credential`` needs an emergency rotation now, or ``None``.

    Its current certificate is revoked, missing or expired on NetSuite (or refused by the token
    endpoint), and some management access works (else nothing could be uploaded: health names
    the repairing command instead).
    """
    codes = {reason.code for reason in report.reasons}
    if "no_management_access" in codes or report.status is not HealthStatus.CRIT:
        return None
    if credential.kind is CredentialKind.RECORD:
        if getattr(credential, "watches_only", False):
            return None  # a watched record is rotated by the system that owns it
        dead = codes & RECORD_DEAD_CODES
    else:
        dead = codes & DEAD_CODES
    if not dead:
        return None
    return "; ".join(reason.message for reason in report.reasons if reason.code in dead)


__all__ = [
    "DEAD_CODES",
    "DEFAULT_STALE_AFTER",
    "FleetHealth",
    "check_all",
    "check_credential",
    "check_fleet",
    "emergency_reason",
]
