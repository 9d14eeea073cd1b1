"""Bring a database to the newest schema with the Alembic migrations shipped in the package.

Several daemons may start at once against one PostgreSQL database: a transaction-scoped advisory
lock makes them migrate one after another. On SQLite the write transaction itself serialises them.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text

from certrotor.store.engine import writer

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_REVISION = re.compile(r"^revision\s*=\s*[\"']([^\"']+)[\"']", re.MULTILINE)
_DOWN_REVISION = re.compile(r"^down_revision\s*=\s*(?:None|[\"']([^\"']+)[\"'])", re.MULTILINE)
_ADVISORY_LOCK_KEY = 0x63657274726F74  # "certrot": any constant shared by every certrotor process


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic Config built in code (there is no alembic.ini), optionally bound to a connection."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@functools.cache
def head_revision() -> str:
    """The newest revision the package ships, read from the version files (no need to load Alembic).

    The one revision that no other names as its ``down_revision``; the migrations form one line.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in (MIGRATIONS_DIR / "versions").glob("r*.py"):
        source = script.read_text(encoding="utf-8")
        revision, down = _REVISION.search(source), _DOWN_REVISION.search(source)
        if revision is None or down is None:  # pragma: no cover - every shipped script has both
            raise RuntimeError(f"{script.name} names no revision or down_revision")
        revisions.add(revision.group(1))
        if down.group(1) is not None:
            parents.add(down.group(1))
    heads = revisions - parents
    if len(heads) != 1:  # pragma: no cover - the package ships one line of revisions
        raise RuntimeError(f"the shipped migrations have {len(heads)} heads: {sorted(heads)}")
    return heads.pop()


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at (``None`` for a database Alembic never touched)."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database behind ``engine`` to ``revision`` in one transaction."""
    with writer(engine).begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK_KEY})
        if revision == "head" and current_revision(connection) == head_revision():
            return  # the common case: already up to date, no need to load the migration scripts
        from alembic import command  # loaded only when there is something to migrate

        command.upgrade(alembic_config(connection), revision)
