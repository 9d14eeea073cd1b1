"""Fixtures for the store tests: a real SQLite file per test, and a real PostgreSQL per session.

``store`` is parametrised over both backends; PostgreSQL cases carry the ``postgres`` mark and are
skipped only when no PostgreSQL binaries exist on the machine.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from psycopg import sql

from certrotor.keyvault import MasterKey
from certrotor.store import Store
from support.postgres import PostgresServer, PostgresUnavailableError, find_bin_dir, start_postgres

_database_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One throw-away PostgreSQL server for the whole test session."""
    if find_bin_dir() is None:
        pytest.skip("PostgreSQL binaries not installed (run `make system-deps`)")
    try:
        server = start_postgres()
    except PostgresUnavailableError as exc:  # pragma: no cover - find_bin_dir said they exist
        pytest.skip(str(exc))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> str:
    """A SQLAlchemy URL of a migrated database shared by the session (postgresql+psycopg://...)."""
    url = postgres_server.create_database("certrotor_session")
    Store.open(url, MasterKey.generate()).close()
    return url


@pytest.fixture
def clean_postgres_url(postgres_server: PostgresServer, postgres_url: str) -> str:
    """The session database with every store table emptied (much faster than a new database)."""
    with postgres_server.connect("certrotor_session") as connection:
        tables = [
            row[0]
            for row in connection.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename <> 'alembic_version'"
            )
        ]
        # The replica role skips triggers: the one keeping events append-only, and the foreign
        # key checks, so rows can go in any order. DELETE beats TRUNCATE on tables this small.
        connection.execute("SET session_replication_role = replica")
        for table in tables:
            connection.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(table)))
    return postgres_url


@pytest.fixture
def fresh_postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A SQLAlchemy URL of an empty database of this test alone, dropped afterwards."""
    name = f"certrotor_t{next(_database_numbers)}"
    url = postgres_server.create_database(name)
    yield url
    postgres_server.drop_database(name)


@pytest.fixture
def sqlite_url(tmp_path: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path}/state/certrotor.db"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest) -> str:
    """A URL of an empty store, once on SQLite and once on PostgreSQL."""
    fixture = "sqlite_url" if request.param == "sqlite" else "clean_postgres_url"
    url: str = request.getfixturevalue(fixture)
    return url


@pytest.fixture
def master_key() -> MasterKey:
    return MasterKey.generate()


@pytest.fixture
def store(store_url: str, master_key: MasterKey) -> Iterator[Store]:
    opened = Store.open(store_url, master_key)
    try:
        yield opened
    finally:
        opened.close()
