"""What a kind of credential plugs into the rotation engine: its ``Steps``, and what the engine lends them.

The engine owns the journal (claim, prepare, activate, the hook, the grace period, outcomes); a
``Steps`` object does what differs between kinds: where the new certificate goes (upload), how it
is proved there (verify), which files consumers get (deliver), what retiring the old one means
(retire), how a version is named, and what the remote side says for health.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from certrotor.delivery import DeliveredPaths
from certrotor.health_rules import CredentialKind, ProbeResult, RemoteState
from certrotor.services.reconcile import ReconcileReport
from certrotor.store import CertificateVersion, Credential, EventOutcome, JournalWrite, Rotation

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class VersionName:
    """How the audit trail, outcomes and hooks name a version: ``certificate_id`` or ``fingerprint``."""

    field: str
    value: str | None

    def detail(self) -> dict[str, object]:
        return {self.field: self.value}


@dataclass(frozen=True, slots=True)
class Delivered:
    """Files written for consumers, and what the hook gets besides their paths."""

    paths: DeliveredPaths
    hook_env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RemoteFacts:
    """What the remote side says about a credential, for its health; ``unknown`` when not asked or unsure."""

    state: RemoteState = "unknown"
    foreign_certificate_ids: tuple[str, ...] = ()
    pending_adoption_ids: tuple[str, ...] = ()
    """Unknown certificates that may be a pending version's unrecorded upload (see reconcile)."""
    placeholder: bool = False
    probe: ProbeResult | None = None
    certificate_not_before: dt.datetime | None = None
    """A watched record: its certificate's validity as NetSuite holds it (no local version exists)."""
    certificate_not_after: dt.datetime | None = None
    error: str | None = None
    """Why the remote side could not be checked (network, 5xx, timeout): WARN, never OK."""
    management_fix: str | None = None
    """No management access worked: the command that repairs it (CRIT)."""


class StepJournal(Protocol):
    """What the engine lends the steps during one rotation.

    The engine's journal writes carry what a step drafted and noted: a step's own facts (an upload's
    certificate ID, a revocation) and events go into the transaction that also moves the journal on,
    so a rotation commits about once a step. What must be on record before a remote effect that no
    journal write precedes is written with :meth:`flush` or :meth:`write`.
    """

    @property
    def rotation(self) -> Rotation:
        """The journal row as last read (the engine re-reads it with every journal write)."""
        ...

    def event(self, action: str, outcome: EventOutcome, **detail: object) -> None:
        """Append to the audit trail, tagged with this rotation: written with the next journal write
        (at the latest the one before the next remote effect, or the end of the rotation)."""
        ...

    def note(self, record: Callable[[JournalWrite], object]) -> None:
        """Record a fact with the next journal write (only while the lease is ours: a fact left
        unwritten is found again on the remote side by whoever resumes)."""
        ...

    def write(self, record: Callable[[JournalWrite], T]) -> T:
        """Record now, in one transaction with what is drafted and noted, the lease checked first."""
        ...

    def flush(self) -> None:
        """Write what is drafted and noted now (before a remote effect that no checkpoint precedes)."""
        ...

    def checkpoint(self) -> None:
        """Before a remote effect: stop if asked (between steps), and make sure the lease is still ours."""
        ...


class Steps(Protocol):
    """One kind of credential's part of a rotation; bound to one credential and runtime."""

    kind: CredentialKind
    """``m2m`` or ``record``: the kind as health reports it."""
    credential: Credential

    def check_rotatable(self) -> None:
        """Raise when certrotor does not rotate this credential (a watched record), with the fix."""
        ...

    def upload(self, journal: StepJournal, version: CertificateVersion) -> bool:
        """Put ``version`` where it must go, noting what the remote side answered for the journal
        write that ends the step; ``False`` when the journal changed and the step runs again."""
        ...

    def verify(self, journal: StepJournal, version: CertificateVersion) -> None:
        """Prove the remote side holds and honours ``version``; raises (the engine defers or fails)."""
        ...

    def deliver(self, version: CertificateVersion) -> Delivered:
        """Write the files consumers read; the engine runs the hook afterwards."""
        ...

    def retire(self, journal: StepJournal, old: CertificateVersion) -> bool:
        """Make ``old`` stop working once its grace is over, noting it revoked for the next journal
        write; ``False`` when nothing was left to do."""
        ...

    def describe(self, version: CertificateVersion) -> VersionName:
        """How to name ``version`` in events, outcomes and the hook's environment."""
        ...

    def grace_note(self, until: dt.datetime) -> str:
        """The outcome's message while the previous version waits out its grace period."""
        ...

    def observe(self, current: CertificateVersion | None, *, remote: bool, probe: bool) -> RemoteFacts:
        """With ``remote`` ask the remote side, with ``probe`` obtain a token; never raises."""
        ...

    def reconcile(self) -> ReconcileReport | None:
        """Compare with the remote side, adopt what the store lost; ``None``: nothing to compare."""
        ...


__all__ = ["Delivered", "RemoteFacts", "StepJournal", "Steps", "VersionName"]
