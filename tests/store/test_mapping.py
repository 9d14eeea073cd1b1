"""Tests that what the store hands out is detached from its sessions: frozen, usable after close."""

from __future__ import annotations

import dataclasses

import pytest

from certrotor.store import Store

from ._factories import make_pair, make_spec


class TestRecordsAreDetached:
    def test_records_are_frozen(self, store) -> None:
        """Returned records cannot be modified."""
        credential = store.add_credential(make_spec())
        with pytest.raises(dataclasses.FrozenInstanceError):
            credential.name = "other"  # type: ignore[misc]

    def test_records_outlive_the_store(self, store_url, master_key) -> None:
        """Records stay usable after the store is closed (no lazy loading)."""
        with Store.open(store_url, master_key) as opened:
            credential = opened.add_credential(make_spec())
            version = opened.add_version(credential, *make_pair())
        assert credential.account_id == "1234567_SB1"
        assert version.certificate.not_valid_after_utc == version.not_after
