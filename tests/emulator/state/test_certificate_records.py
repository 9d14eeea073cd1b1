"""Certificate records in the state file: the same strictness as every other table (UTC, foreign keys)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.exc import IntegrityError, StatementError

from certrotor.emulator.records import ImportOutcome, placeholder_file
from certrotor.emulator.state import EmulatorState
from certrotor.emulator.tenant import DemoTenant
from certrotor.protocol.records import record_script_id

NOW = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
NAIVE = NOW.replace(tzinfo=None)


def _outcome(sent_at: dt.datetime) -> ImportOutcome:
    return ImportOutcome(
        url="http://127.0.0.1:9/netsuite.pl",
        query="action=synchronize",
        signature="c2ln",
        fingerprint_sha256="f" * 64,
        status_code=200,
        answer="ok",
        sent_at=sent_at,
    )


class TestNaiveDatetimes:
    def test_record_created_with_a_naive_time_is_refused(
        self, state: EmulatorState, demo: DemoTenant
    ) -> None:
        """Creating a record at a naive time fails and stores no record."""
        with pytest.raises(StatementError, match="naive datetime"):
            state.records.create(demo.account_id, "_naive", "Naive", placeholder_file(), now=NAIVE)
        assert state.records.all(demo.account_id) == []

    def test_file_replaced_at_a_naive_time_is_refused(self, state: EmulatorState, demo: DemoTenant) -> None:
        """Replacing a record's file at a naive time fails and keeps the record as it was."""
        created = state.records.create(demo.account_id, "_kept", "Kept", placeholder_file(), now=NOW)
        with pytest.raises(StatementError, match="naive datetime"):
            state.records.replace_file(demo.account_id, created.script_id, placeholder_file(), now=NAIVE)
        assert state.records.get(demo.account_id, created.script_id).updated_at == NOW

    def test_import_sent_at_a_naive_time_is_refused(self, state: EmulatorState, demo: DemoTenant) -> None:
        """An import request logged with a naive time fails and is not logged."""
        with pytest.raises(StatementError, match="naive datetime"):
            state.records.log_import(demo.account_id, record_script_id("_x"), _outcome(NAIVE))
        assert state.records.imports() == []

    def test_times_come_back_aware_utc(self, state: EmulatorState, demo: DemoTenant) -> None:
        """An aware time in another zone comes back as the same instant in UTC."""
        plus_two = NOW.astimezone(dt.timezone(dt.timedelta(hours=2)))
        created = state.records.create(demo.account_id, "_zoned", "Zoned", placeholder_file(), now=plus_two)
        stored = state.records.get(demo.account_id, created.script_id)
        assert (stored.created_at, stored.created_at.tzinfo) == (NOW, dt.UTC)


class TestForeignKeys:
    def test_record_of_a_missing_account_is_refused(self, state: EmulatorState, demo: DemoTenant) -> None:
        """A record may only belong to an account of the emulator."""
        with pytest.raises(IntegrityError, match="FOREIGN KEY"):
            state.records.create("NOSUCHACCOUNT", "_orphan", "Orphan", placeholder_file(), now=NOW)
        assert state.records.all() == []

    def test_bundle_in_a_missing_account_is_refused(self, state: EmulatorState, demo: DemoTenant) -> None:
        """The OpenAir bundle cannot be installed in an account the emulator does not have."""
        with pytest.raises(IntegrityError, match="FOREIGN KEY"):
            state.records.install_bundle("NOSUCHACCOUNT", now=NOW)
        assert state.records.install_bundle(demo.account_id, now=NOW)

    def test_import_of_a_missing_account_is_refused(self, state: EmulatorState, demo: DemoTenant) -> None:
        """An import request is logged only for an account of the emulator."""
        with pytest.raises(IntegrityError, match="FOREIGN KEY"):
            state.records.log_import("NOSUCHACCOUNT", record_script_id("_x"), _outcome(NOW))
        state.records.log_import(demo.account_id, record_script_id("_x"), _outcome(NOW))
        assert [sent["account_id"] for sent in state.records.imports()] == [demo.account_id]
