"""Finding rows within a session by what callers hold: a credential or its name, a version or its id.

Every miss is a NotFoundError saying where to look; removed credentials are found only where an
audit needs them (:mod:`certrotor.store.audit`).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from certrotor.errors import NotFoundError
from certrotor.store.domain import CertificateVersion, Credential, VersionState
from certrotor.store.models import CertificateVersionRow, CredentialRow, RotationRow

CredentialRef = Credential | str
"""A credential, or its name."""
VersionRef = CertificateVersion | str
"""A certificate version, or its id."""

LIST_HINT = "see the names with `certrotor credential list`."


def live_row(session: Session, name: str) -> CredentialRow | None:
    """The credential of that name that is not removed, or ``None``."""
    return session.scalar(
        select(CredentialRow).where(CredentialRow.name == name, CredentialRow.removed_at.is_(None))
    )


def credential_row(session: Session, ref: CredentialRef) -> CredentialRow:
    """The live credential row ``ref`` names; a removed one counts as missing."""
    if isinstance(ref, Credential):
        row = session.get(CredentialRow, ref.id)
        name = ref.name
        if row is not None and row.removed_at is not None:
            row = None
    else:
        row = live_row(session, ref)
        name = ref
    if row is None:
        raise NotFoundError(f"No credential named {name!r}.", hint=LIST_HINT)
    return row


def lock_credential(session: Session, ref: CredentialRef) -> CredentialRow:
    """The credential row, locked until commit on PostgreSQL (SQLite holds the write lock)."""
    row = credential_row(session, ref)
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(CredentialRow.id).where(CredentialRow.id == row.id).with_for_update())
        # What was read before the lock may be stale: read it again under the lock.
        session.refresh(row)
    return row


def version_row(session: Session, ref: VersionRef) -> CertificateVersionRow:
    version_id = ref.id if isinstance(ref, CertificateVersion) else ref
    row = session.get(CertificateVersionRow, version_id)
    if row is None:
        raise NotFoundError(
            f"No certificate version {version_id!r}.",
            hint="list versions with `certrotor list NAME`.",
        )
    return row


def current_version_row(session: Session, credential_id: int) -> CertificateVersionRow | None:
    return session.scalar(
        select(CertificateVersionRow).where(
            CertificateVersionRow.credential_fk == credential_id,
            CertificateVersionRow.state == VersionState.CURRENT,
        )
    )


def rotation_row(session: Session, rotation_id: int) -> RotationRow:
    row = session.get(RotationRow, rotation_id)
    if row is None:
        raise NotFoundError(f"No rotation {rotation_id}.", hint="see rotations with `certrotor events NAME`.")
    return row


def open_rotation_row(session: Session, credential_id: int) -> RotationRow | None:
    """The credential's unfinished rotation (there is at most one)."""
    return session.scalar(
        select(RotationRow).where(
            RotationRow.credential_fk == credential_id, RotationRow.finished_at.is_(None)
        )
    )
