"""The emulator's one SQLite setup: engine and pragmas, the UTC datetime column type, transactions,
read caches that any commit drops, and writes deferred to one background transaction (write-behind).

Every table of the emulator (``emu_*``) is declared on :class:`Base` and uses :class:`UTCDateTime`.
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Generic, TypeVar

from sqlalchemy import DateTime, Dialect, TypeDecorator, create_engine, event, inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from certrotor.errors import InputError

BUSY_TIMEOUT_SECONDS = 30
_log = logging.getLogger(__name__)
FLUSH_INTERVAL_SECONDS = 0.2
"""Deferred writes (spent assertions, issued tokens, counters) reach the file within this time."""


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out (SQLite keeps no time zone); naive ones are refused."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the emulator state")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        return None if value is None else value.replace(tzinfo=dt.UTC)


class Base(DeclarativeBase):
    """The declarative base of every emulator table: one metadata, created at once."""


def configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    """Pragmas of every connection to an emulator state file."""
    cursor = dbapi_connection.cursor()
    # WAL lets a CLI read while the server writes; the busy timeout rides out short locks.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_SECONDS * 1000}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def add_missing_columns(engine: Engine) -> None:
    """Give a state file made by an older emulator the columns added since (each has a server default)."""
    with engine.begin() as connection:
        inspector = inspect(connection)
        for table in Base.metadata.sorted_tables:
            present = {column["name"] for column in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name in present or column.server_default is None:
                    continue
                kind = column.type.compile(dialect=connection.dialect)
                default = column.server_default.arg  # type: ignore[attr-defined]
                if isinstance(default, str):
                    default_sql = "'" + default.replace("'", "''") + "'"
                else:
                    default_sql = str(default.compile(dialect=connection.dialect))
                connection.execute(
                    text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind} DEFAULT {default_sql}')
                )


class Database:
    """The engine of one state file and its transactions; one lock keeps a check with its write."""

    def __init__(self, engine: Engine, path: Path | None = None) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._lock = threading.RLock()
        self._deferred: list[Callable[[Session], object]] = []
        self._deferred_lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._flusher: threading.Thread | None = None
        # One connection that never writes: its PRAGMA data_version changes whenever any connection
        # (this process's or another's) committed, which is when read caches must be dropped.
        self._watch = None if path is None else sqlite3.connect(path, check_same_thread=False)
        self._watch_lock = threading.Lock()

    @classmethod
    def open(cls, path: Path) -> Database:
        """Open (creating when absent) the SQLite file at ``path`` with every emulator table."""
        if path.is_dir():
            raise InputError(
                f"The emulator state path {path} is a directory.",
                hint="give a file name, e.g. --state emulator.db.",
            )
        if not path.parent.exists():
            raise InputError(
                f"The directory {path.parent} of the emulator state file does not exist.",
                hint="create it first or choose another --state path.",
            )
        engine = create_engine(
            f"sqlite:///{path}",
            connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_SECONDS},
        )
        event.listen(engine, "connect", configure_sqlite)
        try:
            Base.metadata.create_all(engine)
            add_missing_columns(engine)
        except DatabaseError:
            engine.dispose()
            raise InputError(
                f"The file {path} is not an emulator state (not an SQLite database).",
                hint="give a new file name or one made by `certrotor emulator init`.",
            ) from None
        return cls(engine, path)

    def data_version(self) -> int:
        """Changes whenever any connection committed to the file since the last call saw it."""
        if self._watch is None:
            return 0
        with self._watch_lock:
            row = self._watch.execute("PRAGMA data_version").fetchone()
        return int(row[0])

    def defer(self, write: Callable[[Session], object]) -> None:
        """Run ``write`` later in one transaction with the other deferred writes (within 0.2 s)."""
        with self._deferred_lock:
            self._deferred.append(write)
            if self._flusher is None:
                self._flusher = threading.Thread(target=self._flush_loop, name="emulator-flush", daemon=True)
                self._flusher.start()
        self._wake.set()

    def flush(self) -> None:
        """Write every deferred write now, in one transaction."""
        with self._lock:
            with self._deferred_lock:
                writes, self._deferred = self._deferred, []
            if not writes:
                return
            with self._sessions.begin() as session:
                for write in writes:
                    write(session)

    def _flush_loop(self) -> None:
        while not self._closed:
            self._wake.wait()
            self._wake.clear()
            if self._closed:
                return
            time.sleep(FLUSH_INTERVAL_SECONDS)
            try:
                self.flush()
            except Exception:  # the next flush retries nothing: say so and keep serving
                _log.exception("the emulator lost deferred writes (spent assertions, tokens, counters)")

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work commits at the end, or rolls back on an exception."""
        with self._lock, self._sessions.begin() as session:
            yield session

    def close(self) -> None:
        self.flush()
        self._closed = True
        self._wake.set()
        if self._watch is not None:
            self._watch.close()
        self.engine.dispose()


K = TypeVar("K")
V = TypeVar("V")


class ReadCache(Generic[K, V]):
    """Values read from the state file, kept until any connection commits (then read again)."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._version: int | None = None
        self._values: dict[K, V] = {}
        self._lock = threading.Lock()

    def get(self, key: K, load: Callable[[], V], *, version: int | None = None) -> V:
        """The value of ``key``; ``version`` is a :meth:`Database.data_version` the caller just read
        (one check serves every lookup of a request), else it is read here."""
        if version is None:
            version = self._database.data_version()
        with self._lock:
            if version != self._version:
                self._values.clear()
                self._version = version
            if key in self._values:
                return self._values[key]
        value = load()
        with self._lock:
            if self._version == version:
                self._values[key] = value
        return value


__all__ = ["Base", "Database", "ReadCache", "UTCDateTime", "add_missing_columns", "configure_sqlite"]
