"""What the store records about itself (table ``store_meta``): the master key its secrets are sealed under."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from certrotor.store.models import StoreMetaRow

MASTER_KEY_ID = "master_key_id"


def remember_master_key_id(writer: sessionmaker[Session], reader: sessionmaker[Session], key_id: str) -> str:
    """Record ``key_id`` in a new store; the id recorded first (by this or an earlier open) is returned."""
    try:
        with writer.begin() as session:
            recorded = session.get(StoreMetaRow, MASTER_KEY_ID)
            if recorded is None:
                session.add(StoreMetaRow(name=MASTER_KEY_ID, value=key_id))
                return key_id
            return recorded.value
    except IntegrityError:
        # Another process opened the new store at the same instant and recorded its key first.
        with reader.begin() as session:
            return session.get_one(StoreMetaRow, MASTER_KEY_ID).value


def recorded_master_key_id(session: Session) -> str | None:
    """The master key id the store recorded, or ``None`` before its first open."""
    row = session.get(StoreMetaRow, MASTER_KEY_ID)
    return None if row is None else row.value
