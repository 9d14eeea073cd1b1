"""The alerting part of the store: per credential, the last status alerted and when.

Every change is a compare-and-set, so that when several daemons share one database and see the
same transition, exactly one of them wins the right to send the alert.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from certrotor.crypto import utcnow
from certrotor.errors import NotFoundError
from certrotor.health_rules import HealthStatus
from certrotor.store.models import AlertStateRow, CredentialRow

if TYPE_CHECKING:
    from certrotor.store import Store


@dataclass(frozen=True, slots=True)
class AlertState:
    """What was last alerted about one credential."""

    credential: str
    status: HealthStatus | None
    """The last status alerted; ``None`` before the first observation."""
    notified_at: dt.datetime | None
    rotation_failure_notified_at: dt.datetime | None


def _credential_id(session: Session, name: str) -> int:
    credential_id = session.scalar(
        select(CredentialRow.id).where(CredentialRow.name == name, CredentialRow.removed_at.is_(None))
    )
    if credential_id is None:
        raise NotFoundError(
            f"No credential named {name!r} in the store.",
            hint="see the names with `certrotor credential list`.",
        )
    return credential_id


def alert_state(store: Store, credential: str) -> AlertState | None:
    """The alert state of ``credential``, or ``None`` when nothing was ever recorded for it."""
    with store._read() as session:
        credential_id = _credential_id(session, credential)
        row = session.get(AlertStateRow, credential_id)
        if row is None:
            return None
        return AlertState(
            credential=credential,
            status=HealthStatus(row.status) if row.status is not None else None,
            notified_at=row.notified_at,
            rotation_failure_notified_at=row.rotation_failure_notified_at,
        )


def _status_is(expected: HealthStatus | None) -> ColumnElement[bool]:
    if expected is None:
        return AlertStateRow.status.is_(None)
    return AlertStateRow.status == expected.value


def _insert(store: Store, credential: str, **values: object) -> bool:
    """A first row for ``credential``; ``False`` when another process inserted it first."""
    try:
        with store._write() as session:
            credential_id = _credential_id(session, credential)
            if session.get(AlertStateRow, credential_id) is not None:
                return False
            session.add(AlertStateRow(credential_fk=credential_id, updated_at=utcnow(), **values))
    except IntegrityError:
        return False
    return True


def record_status(
    store: Store, credential: str, *, expected: HealthStatus | None, status: HealthStatus, at: dt.datetime
) -> bool:
    """Move the last alerted status from ``expected`` to ``status``; ``False`` if it was not ``expected``.

    Only the caller that gets ``True`` sends the alert for this transition.
    """
    with store._write() as session:
        credential_id = _credential_id(session, credential)
        changed = session.execute(
            update(AlertStateRow)
            .where(AlertStateRow.credential_fk == credential_id, _status_is(expected))
            .values(status=status.value, notified_at=at, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if changed.rowcount == 1:  # type: ignore[attr-defined]
            return True
    if expected is not None:
        return False
    return _insert(store, credential, status=status.value, notified_at=at)


def claim_reminder(
    store: Store, credential: str, *, status: HealthStatus, due_before: dt.datetime, at: dt.datetime
) -> bool:
    """Take the reminder for a credential still at ``status`` last alerted before ``due_before``."""
    with store._write() as session:
        credential_id = _credential_id(session, credential)
        changed = session.execute(
            update(AlertStateRow)
            .where(
                AlertStateRow.credential_fk == credential_id,
                AlertStateRow.status == status.value,
                AlertStateRow.notified_at <= due_before,
            )
            .values(notified_at=at, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        return bool(changed.rowcount == 1)  # type: ignore[attr-defined]


def claim_rotation_failure(
    store: Store, credential: str, *, due_before: dt.datetime, at: dt.datetime
) -> bool:
    """Take the alert for a failed rotation: the first, or a repeat last alerted before ``due_before``."""
    with store._write() as session:
        credential_id = _credential_id(session, credential)
        field = AlertStateRow.rotation_failure_notified_at
        changed = session.execute(
            update(AlertStateRow)
            .where(AlertStateRow.credential_fk == credential_id, field.is_(None) | (field <= due_before))
            .values(rotation_failure_notified_at=at, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if changed.rowcount == 1:  # type: ignore[attr-defined]
            return True
        if session.get(AlertStateRow, credential_id) is not None:
            return False
    return _insert(store, credential, rotation_failure_notified_at=at)


def clear_rotation_failure(store: Store, credential: str) -> bool:
    """A rotation succeeded: the next failure is news again. ``True`` if a failure was on record."""
    with store._write() as session:
        credential_id = _credential_id(session, credential)
        changed = session.execute(
            update(AlertStateRow)
            .where(
                AlertStateRow.credential_fk == credential_id,
                AlertStateRow.rotation_failure_notified_at.is_not(None),
            )
            .values(rotation_failure_notified_at=None, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        return bool(changed.rowcount == 1)  # type: ignore[attr-defined]
