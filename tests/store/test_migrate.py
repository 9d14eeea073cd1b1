"""Tests of the Alembic migrations shipped in the package, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import DBAPIError

from certrotor.keyvault import MasterKey
from certrotor.store import Store
from certrotor.store.migrate import (
    MIGRATIONS_DIR,
    alembic_config,
    current_revision,
    head_revision,
    upgrade,
)
from certrotor.store.models import Base

TABLES = {
    "accounts",
    "credentials",
    "certificate_versions",
    "rotations",
    "events",
    "store_meta",
    "web_users",
    "web_onboardings",
    "alert_states",
    "broker_keys",
    "observations",
    "alembic_version",
}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest) -> str:
    """A URL of a database with no tables at all."""
    fixture = "sqlite_url" if request.param == "sqlite" else "fresh_postgres_url"
    url: str = request.getfixturevalue(fixture)
    return url


class TestMigrations:
    def test_shipped_inside_the_package(self) -> None:
        """env.py and the versions live in the package, so an installed wheel can migrate."""
        assert (MIGRATIONS_DIR / "env.py").is_file()
        assert list((MIGRATIONS_DIR / "versions").glob("r*.py"))
        assert head_revision() == "0009"

    def test_open_migrates_an_empty_database_to_head(self, empty_url, master_key) -> None:
        """Store.open creates every table and records the head revision."""
        with Store.open(empty_url, master_key) as store, store._engine.connect() as connection:
            assert current_revision(connection) == head_revision()
            assert set(inspect(connection).get_table_names()) == TABLES

    def test_models_match_the_migrations(self, empty_url, master_key) -> None:
        """Autogenerate finds no difference between the ORM models and the migrated schema."""
        with Store.open(empty_url, master_key) as store, store._engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        assert differences == []

    def test_downgrade_and_upgrade_again(self, empty_url, master_key) -> None:
        """The migration can be reverted to an empty schema and applied again."""
        Store.open(empty_url, master_key).close()
        engine = create_engine(empty_url)
        try:
            with engine.begin() as connection:
                command.downgrade(alembic_config(connection), "base")
                assert set(inspect(connection).get_table_names()) == {"alembic_version"}
            upgrade(engine)
            with engine.connect() as connection:
                assert set(inspect(connection).get_table_names()) == TABLES
        finally:
            engine.dispose()

    def test_concurrent_first_opens(self, empty_url) -> None:
        """Several processes' first opens at once migrate once and all succeed."""
        master_key = MasterKey.generate()
        errors: list[BaseException] = []
        start = threading.Barrier(4)

        def open_once() -> None:
            try:
                start.wait(timeout=30)
                Store.open(empty_url, master_key).close()
            except BaseException as exc:  # reported below, with the test's assertion
                errors.append(exc)

        threads = [threading.Thread(target=open_once) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert errors == []

    def test_check_constraints_guard_enum_columns(self, store) -> None:
        """The database itself refuses a state outside the allowed values."""
        from ._factories import make_spec

        store.add_credential(make_spec())
        with pytest.raises(DBAPIError), store._engine.begin() as connection:
            connection.execute(text("UPDATE credentials SET strategy = 'sideways'"))
        assert store.get_credential("orders").strategy.value == "auto"


class TestSQLiteSettings:
    def test_writes_take_the_write_lock_up_front(self, sqlite_url, master_key) -> None:
        """Writes begin IMMEDIATE (no "database is locked" half-way), reads a plain BEGIN."""
        from sqlalchemy import event

        from ._factories import make_spec

        with Store.open(sqlite_url, master_key) as store:
            begins: list[str] = []

            def capture(_conn, _cursor, statement, *_args) -> None:
                if statement.startswith("BEGIN"):
                    begins.append(statement)

            event.listen(store._engine, "before_cursor_execute", capture)
            store.add_credential(make_spec())
            store.get_credential("orders")
        assert begins == ["BEGIN IMMEDIATE", "BEGIN"]

    def test_pragmas(self, sqlite_url, master_key) -> None:
        """SQLite runs in WAL mode with foreign keys, a busy timeout and full sync."""
        with Store.open(sqlite_url, master_key) as store, store._engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
            assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2

    def test_foreign_keys_enforced(self, sqlite_url, master_key) -> None:
        """A row pointing at a missing credential is refused."""
        insert = text(
            "INSERT INTO events (credential_fk, at, actor, action, outcome, detail) "
            "VALUES (999, '2030-01-01 00:00:00', 'a', 'b', 'ok', '{}')"
        )
        with (
            Store.open(sqlite_url, master_key) as store,
            pytest.raises(DBAPIError),
            store._engine.begin() as connection,
        ):
            connection.execute(insert)
