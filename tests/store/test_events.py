"""Tests of event details: secrets redacted, values made JSON, odd shapes refused."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from pathlib import Path

import pytest

from certrotor.errors import InputError
from certrotor.store.events import REDACTED, is_secret_name, scrub_detail

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
