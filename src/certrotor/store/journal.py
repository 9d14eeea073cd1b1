"""The rotation journal: one row per rotation recording the step it reached, so a crash resumes it.

A credential has at most one unfinished rotation; finished ones stay as its history.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from certrotor.crypto import utcnow
from certrotor.errors import AlreadyExistsError, InputError, StoreError
from certrotor.store.domain import FINAL_STEPS, Rotation, RotationStep, RotationTrigger, Strategy
from certrotor.store.lookups import (
    CredentialRef,
    VersionRef,
    credential_row,
    lock_credential,
    open_rotation_row,
    rotation_row,
    version_row,
)
from certrotor.store.mapping import aware_utc, to_rotation
from certrotor.store.models import RotationRow


def start(
    session: Session,
    credential: CredentialRef,
    trigger: RotationTrigger,
    strategy: Strategy,
    old_version: VersionRef | None,
) -> Rotation:
    """Open a journal entry at step ``prepare``; refused while another one is unfinished.

    A concurrent start slipping past the check makes the commit raise IntegrityError; the caller
    turns it into :func:`rotation_open`.
    """
    if strategy is Strategy.AUTO:
        raise InputError(
            "A rotation needs a concrete strategy.",
            hint="resolve auto to overlap or replace before starting.",
        )
    owner = lock_credential(session, credential)
    existing = open_rotation_row(session, owner.id)
    if existing is not None:
        raise rotation_open(owner.name, existing.id)
    old_id = None
    if old_version is not None:
        old_id = version_row(session, old_version).id
    now = utcnow()
    row = RotationRow(
        credential_fk=owner.id,
        trigger=trigger,
        strategy=strategy,
        step=RotationStep.PREPARE,
        old_version_fk=old_id,
        started_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    return to_rotation(row)


def rotation_open(name: str, rotation_id: int | None) -> AlreadyExistsError:
    which = f" (#{rotation_id})" if rotation_id is not None else ""
    return AlreadyExistsError(
        f"Credential {name!r} already has an unfinished rotation{which}.",
        hint="resume it (the daemon and `certrotor rotate NAME` do) instead of starting another.",
    )


def advance(
    session: Session,
    rotation_id: int,
    step: RotationStep,
    *,
    new_version_id: str | None,
    old_version_id: str | None,
    retire_after: dt.datetime | None,
    error: str | None,
    strategy: Strategy | None,
) -> Rotation:
    """Record that the rotation reached ``step``; given fields are set, ``None`` keeps them."""
    if step in FINAL_STEPS:
        raise InputError(f"Step {step.value} ends a rotation.", hint="call finish_rotation() instead.")
    row = rotation_row(session, rotation_id)
    if row.finished_at is not None:
        raise StoreError(
            f"Rotation {rotation_id} is already finished ({row.step.value}).",
            hint="start a new rotation.",
        )
    row.step = step
    if new_version_id is not None:
        row.new_version_fk = version_row(session, new_version_id).id
    if old_version_id is not None:
        row.old_version_fk = version_row(session, old_version_id).id
    if retire_after is not None:
        row.retire_after = aware_utc(retire_after)
    if error is not None:
        row.error = error
    if strategy is not None:
        row.strategy = strategy
    row.updated_at = utcnow()
    session.flush()
    return to_rotation(row)


def mark_token_prefetched(session: Session, rotation_id: int) -> Rotation:
    """Stamp when a fresh token was fetched with the old certificate (the first stamp is kept)."""
    row = rotation_row(session, rotation_id)
    if row.token_prefetched_at is None:
        row.token_prefetched_at = utcnow()
        row.updated_at = row.token_prefetched_at
        session.flush()
    return to_rotation(row)


def finish(session: Session, rotation_id: int, ok: bool, error: str | None) -> Rotation:
    """Close the entry as ``done`` or ``failed``; finishing twice changes nothing."""
    row = rotation_row(session, rotation_id)
    if row.finished_at is None:
        now = utcnow()
        row.step = RotationStep.DONE if ok else RotationStep.FAILED
        row.error = error
        row.finished_at = now
        row.updated_at = now
        session.flush()
    return to_rotation(row)


def open_of(session: Session, credential: CredentialRef) -> Rotation | None:
    """The credential's unfinished rotation, to resume after a crash."""
    row = open_rotation_row(session, credential_row(session, credential).id)
    return None if row is None else to_rotation(row)


def get(session: Session, rotation_id: int) -> Rotation:
    return to_rotation(rotation_row(session, rotation_id))


def history(session: Session, credential: CredentialRef, limit: int) -> list[Rotation]:
    """The credential's rotations, newest first."""
    owner = credential_row(session, credential)
    rows = session.scalars(
        select(RotationRow)
        .where(RotationRow.credential_fk == owner.id)
        .order_by(RotationRow.id.desc())
        .limit(limit)
    )
    return [to_rotation(row) for row in rows]
