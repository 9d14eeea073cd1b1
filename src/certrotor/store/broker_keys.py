"""The token broker's part of the store: application keys (SHA-256 hashes only) and what each may reach.

A key is a high-entropy random string made by :mod:`certrotor.broker.keys`; the store never sees
it, only its SHA-256, which is enough to recognise it on every request and useless to anyone
reading the database. :class:`StoreChanges` tells the broker cheaply whether anything changed.
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from certrotor.crypto import utcnow
from certrotor.errors import AlreadyExistsError, InputError, NotFoundError
from certrotor.store.engine import sqlite_path
from certrotor.store.models import BrokerKeyRow, CredentialRow

_APP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_LIST_HINT = "see the applications with `certrotor broker key list`."


@dataclass(frozen=True, slots=True, kw_only=True)
class BrokerKey:
    """An application's broker key as stored: its hash, never the key."""

    id: int
    app: str
    key_sha256: str
    key_prefix: str
    credentials: tuple[str, ...]
    created_at: dt.datetime
    revoked_at: dt.datetime | None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


def check_app_name(app: str) -> str:
    """1 to 64 letters, digits, ``.``, ``_`` or ``-``, starting with a letter or digit."""
    if not _APP_NAME.fullmatch(app):
        raise InputError(
            f"Invalid application name {app!r}.",
            hint="use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit.",
        )
    return app


def add(
    session: Session, app: str, credentials: Sequence[str], *, key_sha256: str, key_prefix: str
) -> BrokerKey:
    """Record a new key for ``app`` reaching ``credentials`` (each must exist); one live key per app."""
    check_app_name(app)
    if not _SHA256_HEX.fullmatch(key_sha256):
        raise InputError("A broker key hash must be 64 lower-case hex digits.", hint="hash with SHA-256.")
    names = tuple(dict.fromkeys(name.strip() for name in credentials))
    if not names or not all(names):
        raise InputError(
            "An application key must reach at least one credential.",
            hint="name each with --credential NAME.",
        )
    live = set(
        session.scalars(
            select(CredentialRow.name).where(
                CredentialRow.name.in_(names), CredentialRow.removed_at.is_(None)
            )
        )
    )
    missing = [name for name in names if name not in live]
    if missing:
        raise NotFoundError(
            f"No credential named {', '.join(repr(name) for name in missing)}.",
            hint="see the names with `certrotor credential list`.",
        )
    taken = session.scalar(
        select(BrokerKeyRow.id).where(BrokerKeyRow.app == app, BrokerKeyRow.revoked_at.is_(None))
    )
    if taken is not None:
        raise _app_taken(app)
    row = BrokerKeyRow(
        app=app,
        key_sha256=key_sha256,
        key_prefix=key_prefix,
        credentials=list(names),
        created_at=utcnow(),
    )
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        # Another process added a key for the same application at the same moment.
        raise _app_taken(app) from None
    return _broker_key(row)


def listed(session: Session, *, include_revoked: bool = False) -> list[BrokerKey]:
    """Every live key (and the revoked ones on request), by application name."""
    query = select(BrokerKeyRow).order_by(BrokerKeyRow.app, BrokerKeyRow.id)
    if not include_revoked:
        query = query.where(BrokerKeyRow.revoked_at.is_(None))
    return [_broker_key(row) for row in session.scalars(query)]


def revoke(session: Session, app: str) -> BrokerKey:
    """Revoke ``app``'s live key; the broker refuses it from its next request on."""
    row = session.scalar(
        select(BrokerKeyRow).where(BrokerKeyRow.app == app, BrokerKeyRow.revoked_at.is_(None))
    )
    if row is None:
        raise NotFoundError(f"No live broker key for the application {app!r}.", hint=_LIST_HINT)
    row.revoked_at = utcnow()
    session.flush()
    return _broker_key(row)


def _app_taken(app: str) -> AlreadyExistsError:
    return AlreadyExistsError(
        f"The application {app!r} already has a live broker key.",
        hint=f"revoke it first with `certrotor broker key revoke {app}`, or choose another name.",
    )


def _broker_key(row: BrokerKeyRow) -> BrokerKey:
    return BrokerKey(
        id=row.id,
        app=row.app,
        key_sha256=row.key_sha256,
        key_prefix=row.key_prefix,
        credentials=tuple(row.credentials),
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


class StoreChanges:
    """A number that changes whenever another connection commits to the store, read in microseconds.

    On SQLite it is ``PRAGMA data_version`` on a private read-only connection: exact, so the broker
    notices a rotation or a revoked key with its very next request. Other databases have no such
    cheap signal: there the number changes every ``poll_seconds``, so the broker re-reads at most
    that long after a change.
    """

    def __init__(self, database_url: str, *, poll_seconds: float = 0.25) -> None:
        self._poll_seconds = poll_seconds
        self._connection: sqlite3.Connection | None = None
        url = make_url(database_url)
        path = sqlite_path(url) if url.get_backend_name() == "sqlite" else None
        if path is not None:
            self._connection = sqlite3.connect(
                f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False
            )

    def value(self) -> int:
        if self._connection is None:
            return int(time.monotonic() / self._poll_seconds)
        row = self._connection.execute("PRAGMA data_version").fetchone()
        return int(row[0])

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
