"""SQLAlchemy engines for the store: SQLite (WAL, foreign keys, busy timeout) or PostgreSQL (psycopg 3).

SQLite transactions are begun by us, not by the sqlite3 module (which starts them lazily and
silently commits around DDL): reads use ``BEGIN``, writes ``BEGIN IMMEDIATE`` so that a
read-then-write transaction never fails half-way with "database is locked" (see :func:`writer`).
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from certrotor.errors import ConfigError

SQLITE_BUSY_TIMEOUT_MS = 30_000
_WRITE_OPTION = "certrotor_write"


def parse_url(url: str | URL) -> URL:
    """Parse a database URL, turning SQLAlchemy's complaints into a ConfigError with the fix."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(
            "The database URL cannot be parsed.",
            hint="set CERTROTOR_DATABASE_URL to sqlite:///PATH or postgresql+psycopg://USER@HOST/DB.",
        ) from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigError(
            f"Unsupported database {parsed.get_backend_name()!r}.",
            hint="use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB.",
        )
    if parsed.get_backend_name() == "postgresql":
        if "+" not in parsed.drivername:
            # A bare postgresql:// means psycopg 3 here, not SQLAlchemy's default psycopg2.
            parsed = parsed.set(drivername="postgresql+psycopg")
        elif parsed.get_driver_name() != "psycopg":
            raise ConfigError(
                f"Unsupported PostgreSQL driver {parsed.get_driver_name()!r}.",
                hint="use the psycopg 3 driver: postgresql+psycopg://USER@HOST/DB.",
            )
    return parsed


def redacted(url: URL) -> str:
    """The URL as text with any password masked."""
    return url.render_as_string(hide_password=True)


def sqlite_path(url: URL) -> Path | None:
    """The database file of a SQLite URL, or ``None`` for an in-memory database."""
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def prepare_sqlite_file(path: Path) -> None:
    """Create the parent directory (0700) and an empty database file (0600) if missing.

    SQLite gives its ``-wal`` and ``-shm`` files the database file's mode, so they stay private too.
    """
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return
        os.close(descriptor)


def create_store_engine(url: URL) -> Engine:
    """An engine configured for the store's needs on either backend."""
    try:
        if url.get_backend_name() == "sqlite":
            engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
            _configure_sqlite(engine)
            return engine
        return create_engine(url, pool_pre_ping=True)
    except NoSuchModuleError:
        raise ConfigError(
            f"No database driver for {url.drivername!r}.",
            hint="use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB.",
        ) from None


def writer(engine: Engine) -> Engine:
    """The same engine, marked so that its SQLite transactions take the write lock up front."""
    return engine.execution_options(**{_WRITE_OPTION: True})


def _switch_to_wal(cursor: Any) -> None:
    """Turn on WAL, waiting out other processes that open the same new file at the same moment.

    Switching the journal mode needs an exclusive lock, and SQLite answers "database is locked"
    at once instead of calling the busy handler; once the file is in WAL mode this is a no-op.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to SQLAlchemy's "begin" event below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            _switch_to_wal(cursor)
            cursor.execute("PRAGMA foreign_keys = ON")
            # FULL, not NORMAL: a committed "key prepared" must survive a power cut before upload.
            cursor.execute("PRAGMA synchronous = FULL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get(_WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
