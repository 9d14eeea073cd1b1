"""The one SQLite setup of the emulator's state: pragmas of every connection, foreign keys, UTC datetimes."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import DateTime
from sqlalchemy.exc import IntegrityError

from certrotor.emulator.state import EmulatorState
from certrotor.emulator.state.database import Base, UTCDateTime


def _pragma(state: EmulatorState, name: str) -> object:
    with state.database.engine.connect() as connection:
        return connection.exec_driver_sql(f"PRAGMA {name}").scalar()


class TestPragmas:
    def test_foreign_keys_are_on(self, state: EmulatorState) -> None:
        """Every connection enforces foreign keys."""
        assert _pragma(state, "foreign_keys") == 1

    def test_synchronous_is_normal(self, state: EmulatorState) -> None:
        """Every connection syncs at NORMAL (1), safe with WAL."""
        assert _pragma(state, "synchronous") == 1

    def test_journal_is_wal(self, state: EmulatorState) -> None:
        """The file is in WAL mode, so a CLI can read while the server writes."""
        assert _pragma(state, "journal_mode") == "wal"


class TestForeignKeys:
    def test_integration_of_a_missing_account_is_refused(self, state: EmulatorState) -> None:
        """An insert that names a missing parent row fails and stores nothing."""
        with pytest.raises(IntegrityError, match="FOREIGN KEY"), state.database.engine.begin() as connection:
            connection.exec_driver_sql(
                "INSERT INTO emu_integration (account_pk, client_id, application_id, name, redirect_uris)"
                " VALUES (999, 'c', 'A', 'n', '[]')"
            )
        with state.database.engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT count(*) FROM emu_integration").scalar() == 0


class TestSchema:
    def test_every_datetime_column_is_utc(self) -> None:
        """Every datetime column of every emulator table, certificate records' too, has the one UTC type."""
        kinds = {
            f"{table.name}.{column.name}": type(column.type)
            for table in Base.metadata.sorted_tables
            for column in table.columns
            if isinstance(column.type, DateTime | UTCDateTime)
        }
        assert set(kinds.values()) == {UTCDateTime}
        assert {"emu_certificate_record.created_at", "emu_record_import.sent_at"} <= set(kinds)

    def test_naive_datetime_is_refused(self, state: EmulatorState) -> None:
        """A naive datetime never reaches the file: the write fails and nothing is kept."""
        naive = dt.datetime(2030, 1, 1, 12, 0)
        with pytest.raises(ValueError, match="naive datetime"):
            state.grants.consume_assertion("k", expires_at=naive, now=naive.replace(tzinfo=dt.UTC))
        now = dt.datetime(2030, 1, 1, 12, 0, tzinfo=dt.UTC)
        assert state.grants.consume_assertion("k", expires_at=now, now=now)
