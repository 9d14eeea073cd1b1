"""The audit trail: append-only events of who did what to which credential, and with what outcome.

Details are scrubbed of secrets before they are stored (:mod:`certrotor.store.events`); the
database refuses to change or delete an event once written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, aliased

from certrotor.crypto import utcnow
from certrotor.errors import InputError, NotFoundError
from certrotor.store.domain import Credential, Event, EventOutcome
from certrotor.store.events import scrub_detail
from certrotor.store.lookups import LIST_HINT, CredentialRef
from certrotor.store.mapping import to_event
from certrotor.store.models import CredentialRow, EventRow


@dataclass(frozen=True, slots=True)
class EventDraft:
    """An event not written yet: it goes into the transaction of the journal write it belongs to."""

    credential: CredentialRef | None
    actor: str
    action: str
    outcome: EventOutcome | str
    detail: Mapping[str, Any] = field(default_factory=dict)


def append_drafts(session: Session, drafts: Iterable[EventDraft]) -> list[Event]:
    """Append the drafted events in order, in the caller's transaction."""
    return [
        append(session, draft.credential, draft.actor, draft.action, draft.outcome, draft.detail)
        for draft in drafts
    ]


def append(
    session: Session,
    credential: CredentialRef | None,
    actor: str,
    action: str,
    outcome: EventOutcome | str,
    detail: Mapping[str, Any] | None,
) -> Event:
    """Append one event; secrets in ``detail`` are redacted before they are stored."""
    if not actor.strip() or len(actor) > 128:
        raise InputError("An event actor must be 1 to 128 characters.", hint="e.g. cli:alice.")
    if not action.strip() or len(action) > 64:
        raise InputError("An event action must be 1 to 64 characters.", hint="e.g. rotation.upload.")
    try:
        checked_outcome = EventOutcome(outcome)
    except ValueError:
        raise InputError(
            f"Unknown event outcome {outcome!r}.",
            hint=f"use one of: {', '.join(o.value for o in EventOutcome)}.",
        ) from None
    clean = scrub_detail(detail or {})
    credential_id = None
    if credential is not None:
        credential_id = _audited_credential_id(session, credential)
    row = EventRow(
        credential_fk=credential_id,
        at=utcnow(),
        actor=actor,
        action=action,
        outcome=checked_outcome,
        detail=clean,
    )
    session.add(row)
    session.flush()
    name = None
    if credential_id is not None:
        name = session.scalar(select(CredentialRow.name).where(CredentialRow.id == credential_id))
    return to_event(row, name)


def newest(session: Session, credential: CredentialRef | None, limit: int) -> list[Event]:
    """Events, newest first: of one credential (removed ones of that name included) or of all."""
    named = aliased(CredentialRow)
    query: Select[EventRow, str | None] = select(EventRow, named.name).outerjoin(
        named, named.id == EventRow.credential_fk
    )
    if credential is not None:
        query = query.where(EventRow.credential_fk.in_(_credential_ids(session, credential)))
    rows = session.execute(query.order_by(EventRow.id.desc()).limit(limit))
    return [to_event(row, name) for row, name in rows]


def _audited_credential_id(session: Session, ref: CredentialRef) -> int:
    """The row an event is about: removed credentials too, so their removal can be audited."""
    if isinstance(ref, Credential):
        if session.get(CredentialRow, ref.id) is None:
            raise NotFoundError(f"No credential named {ref.name!r}.", hint=LIST_HINT)
        return ref.id
    credential_id = session.scalar(
        select(CredentialRow.id)
        .where(CredentialRow.name == ref)
        .order_by(CredentialRow.removed_at.is_not(None), CredentialRow.id.desc())
        .limit(1)
    )
    if credential_id is None:
        raise NotFoundError(f"No credential named {ref!r}.", hint=LIST_HINT)
    return credential_id


def _credential_ids(session: Session, ref: CredentialRef) -> list[int]:
    """Every row that ever carried the name (a name freed by removal may be reused)."""
    if isinstance(ref, Credential):
        return [ref.id]
    ids = list(session.scalars(select(CredentialRow.id).where(CredentialRow.name == ref)))
    if not ids:
        raise NotFoundError(f"No credential named {ref!r}.", hint=LIST_HINT)
    return ids
