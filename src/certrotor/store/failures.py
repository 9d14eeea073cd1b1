"""Database failures as one readable StoreError: the real cause (no space left, read-only file system,
permission denied) named from the OS or server error where there is one, never the password."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, OperationalError

from certrotor.errors import StoreError
from certrotor.store.engine import redacted, sqlite_path

_FULL, _READ_ONLY, _DENIED = "no space left on the device", "read-only file system", "permission denied"

_PG_CAUSES = {"53100": _FULL, "25006": _READ_ONLY, "42501": _DENIED}
"""SQLSTATE: disk_full, read_only_sql_transaction, insufficient_privilege."""


@contextmanager
def unavailable_as_store_error(url: URL) -> Iterator[None]:
    """A lost server, a broken database file, a full or read-only disk or a refused privilege during
    the block becomes a StoreError naming the cause; integrity errors pass through for the caller."""
    try:
        yield
    except DBAPIError as exc:
        cause = storage_cause(exc, url)
        if cause is None and not isinstance(exc, OperationalError):
            raise
        raise failure_error(exc, url, f"The database {redacted(url)} failed", cause) from None


def failure_error(
    exc: DBAPIError, url: URL, what: str, cause: str | None, hint: str | None = None
) -> StoreError:
    """``what`` with the cause (or the driver's first line) and the fix that goes with the cause."""
    if cause is None:
        return StoreError(
            f"{what} ({short_reason(exc, url)}).",
            hint=hint or "check that the database is reachable and intact; the transaction was rolled back.",
        )
    return StoreError(f"{what}: {cause} ({short_reason(exc, url)}).", hint=_cause_hint(cause, url))


def storage_cause(exc: DBAPIError, url: URL) -> str | None:
    """No space left, read-only file system or permission denied, when that is what went wrong."""
    original = exc.orig
    sqlstate = getattr(original, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate in _PG_CAUSES:
        return _PG_CAUSES[sqlstate]
    name = str(getattr(original, "sqlite_errorname", "") or "")
    text = str(original).lower()
    if "no space left" in text or "disk is full" in text or name == "SQLITE_FULL":
        return _FULL
    if url.get_backend_name() == "sqlite" and (
        name.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_IOERR", "SQLITE_PERM"))
        or "readonly" in text
        or "unable to open" in text
        or "disk i/o error" in text
    ):
        return _sqlite_file_cause(url)
    if "permission denied" in text:
        return _DENIED
    return None


def _sqlite_file_cause(url: URL) -> str | None:
    """Ask the OS why the SQLite file (or its directory, for the journal) cannot be written."""
    path = sqlite_path(url)
    if path is None:
        return None
    directory = path.parent if path.parent.exists() else Path(os.path.dirname(path) or ".")
    try:
        info = os.statvfs(directory)
    except OSError as exc:
        return _DENIED if exc.errno in (errno.EACCES, errno.EPERM) else None
    if info.f_flag & os.ST_RDONLY:
        return _READ_ONLY
    if info.f_bavail == 0 or info.f_favail == 0:
        return _FULL
    for target in (path, directory):
        if target.exists() and not os.access(target, os.W_OK):
            return _DENIED
    return None


def _cause_hint(cause: str, url: URL) -> str:
    path = sqlite_path(url) if url.get_backend_name() == "sqlite" else None
    where = f"the file system holding {path.parent}" if path is not None else "the database server's disk"
    if cause == _FULL:
        return f"free space on {where}, then run the command again; nothing was changed."
    if cause == _READ_ONLY:
        if path is not None:
            return f"remount {where} read-write or move the store (CERTROTOR_DATA_DIR); nothing was changed."
        return "point CERTROTOR_DATABASE_URL at the primary server, not a read-only replica."
    if path is not None:
        return f"let the user running certrotor read and write {path} and its directory; nothing was changed."
    return "grant the database user certrotor connects as the privileges on its tables; nothing was changed."


def short_reason(exc: DBAPIError, url: URL) -> str:
    """The first line of the driver's complaint, without the password if it echoes it."""
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else type(exc).__name__
    if url.password:
        reason = reason.replace(str(url.password), "***")
    return reason[:200]
