"""Tests of the audit trail: appending and listing events, and append-only enforcement."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from certrotor.errors import InputError, NotFoundError
from certrotor.store import EventOutcome, Store
from certrotor.store.events import REDACTED

from ._factories import make_spec


class TestEventLog:
    def test_record_and_list(self, store) -> None:
        """Events come back newest first with their credential name and scrubbed detail."""
        credential = store.add_credential(make_spec())
        first = store.append_event(credential, "daemon:host:1", "rotation.start", EventOutcome.INFO, {})
        second = store.append_event(
            "orders", "daemon:host:1", "rotation.upload", "ok", {"certificate_id": "-x", "token": "t"}
        )
        assert second.credential_name == "orders"
        assert second.detail == {"certificate_id": "-x", "token": REDACTED}
        assert second.at.tzinfo is dt.UTC
        assert store.events("orders") == [second, first]
        assert store.events(credential, limit=1) == [second]

    def test_global_events(self, store) -> None:
        """Events without a credential are listed with everything."""
        store.add_credential(make_spec())
        store.append_event("orders", "cli", "credential.add", "ok")
        global_event = store.append_event(None, "daemon", "daemon.start", "info", {"pid": 1})
        assert global_event.credential_id is None
        assert [e.action for e in store.events()] == ["daemon.start", "credential.add"]
        assert store.events("orders")[0].action == "credential.add"

    @pytest.mark.parametrize(
        ("actor", "action", "outcome"),
        [("", "x", "ok"), ("a" * 129, "x", "ok"), ("cli", "", "ok"), ("cli", "x", "bogus")],
    )
    def test_bad_events_are_refused(self, store, actor, action, outcome) -> None:
        """Empty or oversized actor and action, and unknown outcomes, raise InputError."""
        with pytest.raises(InputError):
            store.append_event(None, actor, action, outcome)
        assert store.events() == []

    def test_unknown_credential(self, store) -> None:
        """Events of an unknown credential raise NotFoundError."""
        with pytest.raises(NotFoundError):
            store.events("nope")
        with pytest.raises(NotFoundError):
            store.append_event("nope", "cli", "x", "ok")

    def test_removed_credentials_can_still_be_audited(self, store) -> None:
        """An event about a credential removed a moment ago is recorded against its row."""
        credential = store.add_credential(make_spec())
        store.remove_credential("orders")
        by_record = store.append_event(credential, "cli", "credential.remove", "ok")
        by_name = store.append_event("orders", "cli", "credential.remove", "info")
        assert by_record.credential_id == by_name.credential_id == credential.id
        replacement = store.add_credential(make_spec())
        assert store.append_event("orders", "cli", "x", "ok").credential_id == replacement.id

    def test_api_offers_no_way_to_change_events(self) -> None:
        """The Store has no public method that updates or deletes events: it only appends and reads."""
        names = {name for name in dir(Store) if "event" in name and not name.startswith("_")}
        assert names == {"append_event", "append_events", "events"}


class TestAppendOnly:
    def test_update_refused_by_the_database(self, store) -> None:
        """A raw UPDATE of an event fails in the database, and the row is unchanged."""
        event = store.append_event(None, "cli", "x", "ok", {"n": 1})
        with pytest.raises(DBAPIError, match="append-only"), store._engine.begin() as connection:
            connection.execute(text("UPDATE events SET actor = 'forger'"))
        assert store.events() == [event]

    def test_delete_refused_by_the_database(self, store) -> None:
        """A raw DELETE of an event fails in the database, and the row stays."""
        event = store.append_event(None, "cli", "x", "ok")
        with pytest.raises(DBAPIError, match="append-only"), store._engine.begin() as connection:
            connection.execute(text("DELETE FROM events"))
        assert store.events() == [event]

    @pytest.mark.postgres
    def test_truncate_refused_on_postgresql(self, clean_postgres_url, master_key) -> None:
        """On PostgreSQL even TRUNCATE of the audit log is refused."""
        with Store.open(clean_postgres_url, master_key) as store:
            store.append_event(None, "cli", "x", "ok")
            with pytest.raises(DBAPIError, match="append-only"), store._engine.begin() as connection:
                connection.execute(text("TRUNCATE events"))
            assert len(store.events()) == 1
