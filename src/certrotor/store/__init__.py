"""The local store: credentials, certificate versions (keys sealed at rest), rotation journal, audit.

SQLite by default, PostgreSQL for several daemons; migrated with Alembic when opened.
"""

from __future__ import annotations

from certrotor.store.domain import (
    Account,
    AuthMode,
    CertificateVersion,
    Credential,
    CredentialKind,
    CredentialSpec,
    Event,
    EventOutcome,
    Rotation,
    RotationStep,
    RotationTrigger,
    Strategy,
    VersionState,
)
from certrotor.store.repository import CredentialChanges, CredentialRef, Store, VersionRef

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
    "EventOutcome",
    "Rotation",
    "RotationStep",
    "RotationTrigger",
    "Store",
    "Strategy",
    "VersionRef",
    "VersionState",
]
