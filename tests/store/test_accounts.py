"""Tests of accounts in the store: shared by credentials, changed for all of them at once."""

from __future__ import annotations

import pytest

from certrotor.errors import InputError, NotFoundError

from ._factories import make_spec


class TestAccounts:
    def test_account_shared_and_conflicts_refused(self, store) -> None:
        """Credentials of one account share it; a different explicit base URL is refused."""
        store.add_credential(make_spec("a", base_url="http://127.0.0.1:9000"))
        b = store.add_credential(make_spec("b"))
        assert b.base_url == "http://127.0.0.1:9000"
        with pytest.raises(InputError):
            store.add_credential(make_spec("c", base_url="http://127.0.0.1:9001"))
        with pytest.raises(InputError):
            store.add_credential(make_spec("d", verify_tls=False))
        assert [a.account_id for a in store.list_accounts()] == ["1234567_SB1"]

    def test_update_account(self, store) -> None:
        """update_account changes base URL and TLS checking for every credential of the account."""
        store.add_credential(make_spec("a"))
        store.update_account("1234567_SB1", base_url="https://example.test/", verify_tls=False)
        got = store.get_credential("a")
        assert (got.base_url, got.verify_tls) == ("https://example.test", False)
        store.update_account("1234567_SB1", base_url=None)
        assert store.get_account("1234567_SB1").base_url is None
        with pytest.raises(NotFoundError):
            store.get_account("999")
