"""Bring a database to the newest schema with the Alembic migrations shipped in the package.

Several daemons may start at once against one PostgreSQL database: a transaction-scoped advisory
lock makes them migrate one after another. On SQLite the write transaction itself serialises them.
"""

from __future__ import annotations

import functools
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

from certrotor.store.engine import writer

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_ADVISORY_LOCK_KEY = 0x63657274726F74  # "certrot": any constant shared by every certrotor process


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic Config built in code (there is no alembic.ini), optionally bound to a connection."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@functools.cache
def head_revision() -> str:
    """The newest revision the package ships."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships revisions
        raise RuntimeError("no migrations found in the certrotor package")
    return head


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database behind ``engine`` to ``revision`` in one transaction."""
    with writer(engine).begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK_KEY})
        if revision == "head" and current_revision(connection) == head_revision():
            return  # the common case: already up to date, no need to load the migration scripts
        command.upgrade(alembic_config(connection), revision)
