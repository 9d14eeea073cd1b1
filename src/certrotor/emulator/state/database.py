"""The emulator's one SQLite setup: engine and pragmas, the UTC datetime column type, transactions.

Every table of the emulator (``emu_*``) is declared on :class:`Base` and uses :class:`UTCDateTime`.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Dialect, TypeDecorator, create_engine, event, inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from certrotor.errors import InputError

BUSY_TIMEOUT_SECONDS = 30


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

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._lock = threading.RLock()

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
        return cls(engine)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work commits at the end, or rolls back on an exception."""
        with self._lock, self._sessions.begin() as session:
            yield session

    def close(self) -> None:
        self.engine.dispose()


__all__ = ["Base", "Database", "UTCDateTime", "add_missing_columns", "configure_sqlite"]
