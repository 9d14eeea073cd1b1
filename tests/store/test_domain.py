"""Tests that the records and objects the store hands out never show a secret."""

from __future__ import annotations

import pytest

from certrotor.crypto import private_key_to_pem
from certrotor.errors import MasterKeyError
from certrotor.keyvault import MasterKey
from certrotor.store import Store

from ._factories import make_pair, make_spec

TOKEN = "eyJhbGciOiJQUzI1NiJ9.eyJzdWIiOiIzOzEifQ.bWFuYWdlbWVudC10b2tlbg"
HOOK = "deploy --password=hook-secret-value"


class TestReprs:
    def test_spec_repr_hides_token_and_hook(self) -> None:
        """A CredentialSpec's repr shows neither the bootstrap token nor the hook command."""
        text = repr(make_spec(management_token=TOKEN, hook_command=HOOK))
        assert TOKEN not in text
        assert "hook-secret-value" not in text

    def test_credential_repr_hides_token_and_hook(self, store) -> None:
        """A Credential says whether it has a token, never the token, and hides the hook."""
        credential = store.add_credential(make_spec(management_token=TOKEN, hook_command=HOOK))
        text = repr(credential)
        assert "has_management_token=True" in text
        assert TOKEN not in text
        assert "hook-secret-value" not in text
        assert credential.hook_command == HOOK

    def test_version_carries_no_key(self, store) -> None:
        """A CertificateVersion has no key field, and its repr shows no PEM at all."""
        credential = store.add_credential(make_spec())
        key, certificate = make_pair()
        version = store.add_version(credential, key, certificate)
        text = repr(version)
        assert "BEGIN" not in text
        assert private_key_to_pem(key).decode() not in text
        assert not any("key" in name and "sealed" in name for name in version.__slots__)

    def test_events_repr_without_secrets(self, store) -> None:
        """An Event built from a detail holding a token shows only [redacted]."""
        event = store.append_event(None, "cli", "login", "ok", {"access_token": TOKEN})
        assert TOKEN not in repr(event)

    def test_store_repr_and_wrong_key_error_hide_the_master_key(self, store_url) -> None:
        """Neither the store's repr nor a wrong-key error shows either master key."""
        right, wrong = MasterKey.generate(), MasterKey.generate()
        with Store.open(store_url, right) as store:
            credential = store.add_credential(make_spec())
            version = store.add_version(credential, *make_pair())
            assert right.to_base64url() not in repr(store)
        with (
            Store.open(store_url, wrong, check_master_key=False) as store,
            pytest.raises(MasterKeyError) as caught,
        ):
            store.load_private_key(version.id)
        for text in (str(caught.value), repr(caught.value)):
            assert right.to_base64url() not in text
            assert wrong.to_base64url() not in text
