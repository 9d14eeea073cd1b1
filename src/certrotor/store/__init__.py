"""The local store: credentials, certificate versions (keys sealed at rest), rotation journal, leases, audit.

SQLite by default, PostgreSQL for several daemons; migrated with Alembic when opened. :class:`Store`
is the one facade; each concern has its module (``accounts``, ``credentials``, ``versions``,
``journal``, ``leases``, ``audit``; ``mapping`` turns rows into the records of ``domain``).
"""

from __future__ import annotations

from certrotor.store.audit import EventDraft
from certrotor.store.credentials import CredentialChanges
from certrotor.store.domain import (
    Account,
    AuthMode,
    CertificateVersion,
    Credential,
    CredentialKind,
    CredentialSpec,
    Event,
    EventOutcome,
    RecordMode,
    Rotation,
    RotationStep,
    RotationTrigger,
    Strategy,
    VersionState,
)
from certrotor.store.leases import default_owner, lease_holder_is_dead
from certrotor.store.lookups import CredentialRef, VersionRef
from certrotor.store.repository import Store
from certrotor.store.writes import JournalWrite

__all__ = [
    "Account",
    "AuthMode",
    "CertificateVersion",
    "Credential",
    "CredentialChanges",
    "CredentialKind",
    "CredentialRef",
    "CredentialSpec",
    "Event",
    "EventDraft",
    "EventOutcome",
    "JournalWrite",
    "RecordMode",
    "Rotation",
    "RotationStep",
    "RotationTrigger",
    "Store",
    "Strategy",
    "VersionRef",
    "VersionState",
    "default_owner",
    "lease_holder_is_dead",
]
