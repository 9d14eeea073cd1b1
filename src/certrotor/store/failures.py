"""Database failures as one readable StoreError: the driver's first line, never the password."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, OperationalError

from certrotor.errors import StoreError
from certrotor.store.engine import redacted


@contextmanager
def unavailable_as_store_error(url: URL) -> Iterator[None]:
    """A lost server or a broken database file during the block becomes a StoreError."""
    try:
        yield
    except OperationalError as exc:
        raise StoreError(
            f"The database {redacted(url)} failed ({short_reason(exc, url)}).",
            hint="check that the database is reachable and intact; the transaction was rolled back.",
        ) from None


def short_reason(exc: DBAPIError, url: URL) -> str:
    """The first line of the driver's complaint, without the password if it echoes it."""
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else type(exc).__name__
    if url.password:
        reason = reason.replace(str(url.password), "***")
    return reason[:200]
