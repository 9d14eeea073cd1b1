"""Scheduling and leases: when each credential rotates next, and who holds it meanwhile.

A lease (owner, expiry) on the credential row keeps two daemons or a daemon and a CLI call from
rotating the same credential at once. Owners are named ``host:pid:random`` (:func:`default_owner`)
so that the lease of a killed local process can be recognised and taken over at once.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import uuid
from typing import Any

from sqlalchemy import Select, and_, or_, select, update
from sqlalchemy.orm import Session

from certrotor.crypto import utcnow
from certrotor.errors import CredentialBusyError, InputError, LeaseLostError
from certrotor.logging import get_logger
from certrotor.store.domain import Credential, RecordMode
from certrotor.store.lookups import CredentialRef, credential_row, lock_credential
from certrotor.store.mapping import aware_utc, to_credential
from certrotor.store.models import CredentialRow

log = get_logger(__name__)


# ----------------------------------------------------------------- owners


def default_owner() -> str:
    """A lease owner name: ``host:pid:random``, so a lease of a dead local process can be recognised."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def lease_holder_is_dead(owner: str) -> bool:
    """Whether ``owner`` (see :func:`default_owner`) is a process of this host that no longer runs.

    Only a definite "no such process" counts: another host's owner, an unparsable name or a
    process we may not signal are all treated as alive, so a live holder is never overtaken.
    """
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def check_owner(owner: str) -> None:
    if not owner.strip() or len(owner) > 128:
        raise InputError("A lease owner must be 1 to 128 characters.", hint="e.g. host:pid:random suffix.")


# ----------------------------------------------------------------- schedule


def set_schedule(
    session: Session,
    credential: CredentialRef,
    next_rotation_at: dt.datetime | None,
    failed_attempts: int,
    last_error: str | None,
    *,
    last_rotation_at: dt.datetime | None,
) -> Credential:
    """Plan the next rotation and record the outcome of the last attempt."""
    if failed_attempts < 0:
        raise InputError("failed_attempts cannot be negative.", hint="pass 0 after a success.")
    row = credential_row(session, credential)
    row.next_rotation_at = None if next_rotation_at is None else aware_utc(next_rotation_at)
    row.failed_attempts = failed_attempts
    row.last_error = last_error
    if last_rotation_at is not None:
        row.last_rotation_at = aware_utc(last_rotation_at)
    session.flush()
    return to_credential(row)


def due(session: Session, now: dt.datetime, limit: int) -> list[Credential]:
    """Credentials due at ``now`` that nobody holds a live lease on, soonest first."""
    rows = session.scalars(due_query(aware_utc(now)).limit(limit))
    return [to_credential(row) for row in rows.unique()]


def due_query(now: dt.datetime) -> Select[CredentialRow]:
    """The due credentials, soonest first: the selection ``ix_credentials_due`` serves."""
    return (
        select(CredentialRow)
        .where(*_due_conditions(now))
        .order_by(CredentialRow.next_rotation_at, CredentialRow.id)
    )


def _due_conditions(now: dt.datetime) -> tuple[Any, ...]:
    return (
        CredentialRow.removed_at.is_(None),
        CredentialRow.next_rotation_at.is_not(None),
        CredentialRow.next_rotation_at <= now,
        # A watched (monitor) record is never written: never due, whatever its schedule says.
        or_(CredentialRow.record_mode.is_(None), CredentialRow.record_mode != RecordMode.MONITOR),
        *_lease_free(now),
    )


def _lease_free(now: dt.datetime) -> tuple[Any, ...]:
    return (
        or_(
            CredentialRow.lease_owner.is_(None),
            and_(CredentialRow.lease_expires_at.is_not(None), CredentialRow.lease_expires_at <= now),
        ),
    )


# ----------------------------------------------------------------- leases


def claim_due(
    session: Session, now: dt.datetime, owner: str, lease_seconds: float, limit: int
) -> list[Credential]:
    """Lease up to ``limit`` due credentials to ``owner``; no two callers get the same one.

    PostgreSQL: ``SELECT ... FOR UPDATE SKIP LOCKED`` then the lease, in one transaction, so
    concurrent daemons pass each other's rows by. SQLite: one guarded ``UPDATE``.
    """
    check_owner(owner)
    now = aware_utc(now)
    expires = now + dt.timedelta(seconds=lease_seconds)
    if session.get_bind().dialect.name == "postgresql":
        ids = list(
            session.scalars(
                select(CredentialRow.id)
                .where(*_due_conditions(now))
                .order_by(CredentialRow.next_rotation_at, CredentialRow.id)
                .limit(limit)
                .with_for_update(skip_locked=True, of=CredentialRow)
            )
        )
        if not ids:
            return []
        target = CredentialRow.id.in_(ids)
    else:
        target = CredentialRow.id.in_(
            select(CredentialRow.id)
            .where(*_due_conditions(now))
            .order_by(CredentialRow.next_rotation_at, CredentialRow.id)
            .limit(limit)
            .scalar_subquery()
        )
    claimed = list(
        session.scalars(
            update(CredentialRow)
            .where(target, *_lease_free(now))
            .values(lease_owner=owner, lease_expires_at=expires)
            .returning(CredentialRow.id)
            .execution_options(synchronize_session=False)
        )
    )
    if not claimed:
        return []
    rows = session.scalars(
        select(CredentialRow)
        .where(CredentialRow.id.in_(claimed))
        .order_by(CredentialRow.next_rotation_at, CredentialRow.id)
        .execution_options(populate_existing=True)
    )
    return [to_credential(row) for row in rows.unique()]


def claim(
    session: Session,
    credential: CredentialRef,
    owner: str,
    lease_seconds: float,
    *,
    now: dt.datetime | None,
    take_over_dead: bool = False,
) -> Credential:
    """Lease one credential, due or not: free, expired or already ``owner``'s leases are taken.

    With ``take_over_dead`` the lease of a process of this host that no longer runs is taken too
    (decided under the row lock, so a live rival that claimed meanwhile keeps its lease); any
    other holder raises CredentialBusyError.
    """
    check_owner(owner)
    moment = utcnow() if now is None else aware_utc(now)
    row = lock_credential(session, credential)
    holder = row.lease_owner
    free = holder is None or holder == owner
    if not free and row.lease_expires_at is not None and row.lease_expires_at <= moment:
        free = True
    if not free and take_over_dead and holder is not None and lease_holder_is_dead(holder):
        log.warning("taking over the lease of a dead process", credential=row.name, holder=holder)
        free = True
    if not free:
        until = row.lease_expires_at.isoformat() if row.lease_expires_at else "unknown"
        raise CredentialBusyError(f"Credential {row.name!r} is held by {holder} until {until}.")
    row.lease_owner = owner
    row.lease_expires_at = moment + dt.timedelta(seconds=lease_seconds)
    session.flush()
    return to_credential(row)


def renew(
    session: Session,
    credential: CredentialRef,
    owner: str,
    lease_seconds: float,
    *,
    now: dt.datetime | None,
) -> Credential:
    """Extend ``owner``'s lease; LeaseLostError if someone else holds it or none does.

    A lease past its expiry that nobody else claimed is still ours: renewing it is safe.
    """
    moment = utcnow() if now is None else aware_utc(now)
    row = credential_row(session, credential)
    renewed = session.execute(
        update(CredentialRow)
        .where(CredentialRow.id == row.id, CredentialRow.lease_owner == owner)
        .values(lease_expires_at=moment + dt.timedelta(seconds=lease_seconds))
        .execution_options(synchronize_session=False)
    )
    if renewed.rowcount != 1:  # type: ignore[attr-defined]
        raise LeaseLostError(f"The lease of {owner} on credential {row.name!r} was lost.")
    session.refresh(row)
    return to_credential(row)


def release(session: Session, credential: CredentialRef, owner: str) -> bool:
    """Give up ``owner``'s lease; ``False`` if it did not hold one (nothing changes then)."""
    row = credential_row(session, credential)
    released = session.execute(
        update(CredentialRow)
        .where(CredentialRow.id == row.id, CredentialRow.lease_owner == owner)
        .values(lease_owner=None, lease_expires_at=None)
        .execution_options(synchronize_session=False)
    )
    return bool(released.rowcount == 1)  # type: ignore[attr-defined]
