"""Tests of the audit log: redaction of secrets, listing, and append-only enforcement."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from certrotor.errors import InputError, NotFoundError
from certrotor.store import EventOutcome, Store
from certrotor.store.events import REDACTED, is_secret_name, scrub_detail

from ._factories import make_spec

PEM_KEY = "\n".join(
    [
        "-----BEGIN PRIVATE KEY-----",
        "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg",
        "-----END PRIVATE KEY-----",
    ]
)
JWT = "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJjbGllbnQifQ.c2lnbmF0dXJlLXZhbHVl"


class _Colour(enum.Enum):
    RED = "red"


class TestScrubDetail:
    @pytest.mark.parametrize(
        "name",
        [
            "private_key",
            "key",
            "privateKey",
            "master-key",
            "access_token",
            "accessToken",
            "management_token",
            "token",
            "client_secret",
            "assertion",
            "client_assertion",
            "password",
            "Authorization",
        ],
    )
    def test_secret_names_are_redacted(self, name) -> None:
        """A field named like a key, token, secret or assertion is stored as [redacted]."""
        assert is_secret_name(name)
        assert scrub_detail({name: "value"}) == {name: REDACTED}

    @pytest.mark.parametrize(
        "name", ["key_spec", "key_id", "certificate_id", "fingerprint", "keys_match_count", "monkey"]
    )
    def test_harmless_names_are_kept(self, name) -> None:
        """Names that merely mention a key (key_spec, key_id) keep their values."""
        assert not is_secret_name(name)
        assert scrub_detail({name: "value"}) == {name: "value"}

    @pytest.mark.parametrize("value", [PEM_KEY, JWT, f"Bearer {JWT}", b"\x00raw key bytes"])
    def test_secret_values_are_redacted_whatever_the_name(self, value) -> None:
        """PEM private keys, JWTs and raw bytes are redacted under any field name."""
        assert scrub_detail({"message": value}) == {"message": REDACTED}

    def test_nested_structures(self) -> None:
        """Redaction reaches into nested dicts and lists."""
        detail = {"steps": [{"name": "verify", "access_token": "x"}, JWT], "ok": True}
        assert scrub_detail(detail) == {
            "steps": [{"name": "verify", "access_token": REDACTED}, REDACTED],
            "ok": True,
        }

    def test_values_become_json(self) -> None:
        """Datetimes, durations, enums, UUIDs, paths, tuples and sets become JSON values."""
        moment = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
        identifier = uuid.UUID(int=1)
        detail = {
            "at": moment,
            "after": dt.timedelta(minutes=1),
            "colour": _Colour.RED,
            "id": identifier,
            "path": Path("/tmp/x"),
            "pair": (1, 2),
            "set": {"b", "a"},
            "none": None,
            "ratio": 0.5,
        }
        assert scrub_detail(detail) == {
            "at": "2030-01-02T03:04:05+00:00",
            "after": 60.0,
            "colour": "red",
            "id": str(identifier),
            "path": "/tmp/x",
            "pair": [1, 2],
            "set": ["a", "b"],
            "none": None,
            "ratio": 0.5,
        }

    def test_unknown_types_are_refused(self) -> None:
        """A value that is not plain data raises InputError instead of storing its repr."""
        with pytest.raises(InputError):
            scrub_detail({"thing": object()})

    def test_deep_nesting_is_refused(self) -> None:
        """Pathologically nested details are refused."""
        detail: dict[str, object] = {}
        cursor = detail
        for _ in range(20):
            cursor["inner"] = {}
            cursor = cursor["inner"]  # type: ignore[assignment]
        with pytest.raises(InputError):
            scrub_detail(detail)


class TestEventLog:
    def test_record_and_list(self, store) -> None:
        """Events come back newest first with their credential name and scrubbed detail."""
        credential = store.add_credential(make_spec())
        first = store.record_event(credential, "daemon:host:1", "rotation.start", EventOutcome.INFO, {})
        second = store.record_event(
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
        store.record_event("orders", "cli", "credential.add", "ok")
        global_event = store.record_event(None, "daemon", "daemon.start", "info", {"pid": 1})
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
            store.record_event(None, actor, action, outcome)
        assert store.events() == []

    def test_unknown_credential(self, store) -> None:
        """Events of an unknown credential raise NotFoundError."""
        with pytest.raises(NotFoundError):
            store.events("nope")
        with pytest.raises(NotFoundError):
            store.record_event("nope", "cli", "x", "ok")

    def test_removed_credentials_can_still_be_audited(self, store) -> None:
        """An event about a credential removed a moment ago is recorded against its row."""
        credential = store.add_credential(make_spec())
        store.remove_credential("orders")
        by_record = store.record_event(credential, "cli", "credential.remove", "ok")
        by_name = store.record_event("orders", "cli", "credential.remove", "info")
        assert by_record.credential_id == by_name.credential_id == credential.id
        replacement = store.add_credential(make_spec())
        assert store.record_event("orders", "cli", "x", "ok").credential_id == replacement.id

    def test_api_offers_no_way_to_change_events(self) -> None:
        """The Store has no public method that updates or deletes events."""
        names = {name for name in dir(Store) if "event" in name and not name.startswith("_")}
        assert names == {"record_event", "events"}


class TestAppendOnly:
    def test_update_refused_by_the_database(self, store) -> None:
        """A raw UPDATE of an event fails in the database, and the row is unchanged."""
        event = store.record_event(None, "cli", "x", "ok", {"n": 1})
        with pytest.raises(DBAPIError, match="append-only"), store._engine.begin() as connection:
            connection.execute(text("UPDATE events SET actor = 'forger'"))
        assert store.events() == [event]

    def test_delete_refused_by_the_database(self, store) -> None:
        """A raw DELETE of an event fails in the database, and the row stays."""
        event = store.record_event(None, "cli", "x", "ok")
        with pytest.raises(DBAPIError, match="append-only"), store._engine.begin() as connection:
            connection.execute(text("DELETE FROM events"))
        assert store.events() == [event]

    @pytest.mark.postgres
    def test_truncate_refused_on_postgresql(self, clean_postgres_url, master_key) -> None:
        """On PostgreSQL even TRUNCATE of the audit log is refused."""
        with Store.open(clean_postgres_url, master_key) as store:
            store.record_event(None, "cli", "x", "ok")
            with pytest.raises(DBAPIError, match="append-only"), store._engine.begin() as connection:
                connection.execute(text("TRUNCATE events"))
            assert len(store.events()) == 1
