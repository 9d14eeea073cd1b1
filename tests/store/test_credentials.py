"""Tests of credentials in the store: validation, batches, changes, removal, the sealed token."""

from __future__ import annotations

import datetime as dt

import pytest

from certrotor.crypto import KeySpec
from certrotor.errors import AlreadyExistsError, InputError, NotFoundError
from certrotor.store import AuthMode, CredentialKind, RotationStep, RotationTrigger, Strategy

from ._factories import make_pair, make_spec

TOKEN = "eyJhbGciOiJQUzI1NiJ9.eyJzdWIiOiIzOzEifQ.c2lnbmF0dXJl"


class TestCredentials:
    def test_add_and_get(self, store) -> None:
        """A credential comes back with its spec and its account flattened in."""
        added = store.add_credential(make_spec("orders", base_url="http://127.0.0.1:8080/", verify_tls=False))
        got = store.get_credential("orders")
        assert got == added
        assert got.account_id == "1234567_SB1"
        assert got.base_url == "http://127.0.0.1:8080"
        assert got.verify_tls is False
        assert (got.entity_id, got.role_id) == (-5, 1000)
        assert got.kind is CredentialKind.M2M
        assert got.key_spec is KeySpec.EC_P256
        assert got.strategy is Strategy.AUTO
        assert got.renew_before_min == dt.timedelta(days=7)
        assert got.renew_before_max == dt.timedelta(days=14)
        assert got.grace == dt.timedelta(days=1)
        assert got.failed_attempts == 0
        assert got.created_at.tzinfo is dt.UTC

    def test_taken_name_is_refused_with_hint(self, store) -> None:
        """A second credential of the same name raises AlreadyExistsError pointing at the list."""
        store.add_credential(make_spec("orders"))
        with pytest.raises(AlreadyExistsError) as caught:
            store.add_credential(make_spec("orders"))
        assert "certrotor credential list" in caught.value.hint

    def test_unknown_name_hint(self, store) -> None:
        """An unknown name raises NotFoundError whose hint names `certrotor credential list`."""
        with pytest.raises(NotFoundError) as caught:
            store.get_credential("nope")
        assert "certrotor credential list" in caught.value.hint
        assert store.find_credential("nope") is None

    def test_list_is_sorted_by_name(self, store) -> None:
        """list_credentials returns live credentials by name."""
        for name in ("zeta", "alpha", "mid"):
            store.add_credential(make_spec(name))
        assert [c.name for c in store.list_credentials()] == ["alpha", "mid", "zeta"]

    @pytest.mark.parametrize(
        "overrides",
        [
            {"name": "bad name"},
            {"name": "-leading-dash"},
            {"name": "x" * 65},
            {"account_id": "bad account!"},
            {"client_id": "  "},
            {"scopes": ()},
            {"scopes": ("restlets", "everything")},
            {"validity_seconds": 0},
            {"validity_seconds": 731 * 86400},
            {"renew_before_min_seconds": -1},
            {"renew_before_min_seconds": 10, "renew_before_max_seconds": 5},
            {"grace_seconds": -1},
            {"kind": CredentialKind.RECORD},
            {"auth_mode": AuthMode.CREDENTIAL},
            {"auth_credential": "other"},
            {"management_token": "   "},
            {"delivery_dir": "relative/dir"},
            {"base_url": "ftp://example.test"},
            {"strategy": "sideways"},
            {"key_spec": "rsa-1024"},
            {"auth_mode": "magic"},
        ],
    )
    def test_invalid_specs_change_nothing(self, store, overrides) -> None:
        """Each invalid spec raises InputError and leaves the store empty."""
        with pytest.raises(InputError):
            store.add_credential(make_spec(**overrides))
        assert store.list_credentials() == []
        assert store.list_accounts() == []

    def test_add_credentials_is_all_or_nothing(self, store) -> None:
        """A batch with one bad spec adds none of them."""
        with pytest.raises(AlreadyExistsError):
            store.add_credentials([make_spec("one"), make_spec("two"), make_spec("one")])
        assert store.list_credentials() == []
        added = store.add_credentials([make_spec(f"c{i}") for i in range(5)])
        assert [c.name for c in added] == [f"c{i}" for i in range(5)]

    def test_scopes_deduplicated_in_order(self, store) -> None:
        """Repeated scopes are kept once, in the given order."""
        got = store.add_credential(make_spec(scopes=("rest_webservices", "restlets", "rest_webservices")))
        assert got.scopes == ("rest_webservices", "restlets")

    def test_update_credential(self, store) -> None:
        """update_credential changes the given fields and validates the whole result."""
        store.add_credential(make_spec("admin"))
        store.add_credential(make_spec("orders"))
        got = store.update_credential(
            "orders",
            role_id=3,
            scopes=["restlets"],
            strategy=Strategy.REPLACE,
            resolved_strategy=Strategy.REPLACE,
            auth_mode=AuthMode.CREDENTIAL,
            auth_credential="admin",
            hook_command="systemctl reload app",
            key_spec=KeySpec.RSA_3072,
        )
        assert (got.role_id, got.scopes, got.strategy) == (3, ("restlets",), Strategy.REPLACE)
        assert got.resolved_strategy is Strategy.REPLACE
        assert got.auth_credential_name == "admin"
        assert got.key_spec is KeySpec.RSA_3072
        assert store.get_credential("orders") == got
        assert got.updated_at >= got.created_at

    def test_update_credential_refuses_bad_changes(self, store) -> None:
        """Unknown fields and invalid results raise InputError and change nothing."""
        before = store.add_credential(make_spec("orders"))
        with pytest.raises(InputError):
            store.update_credential("orders", name="renamed")  # type: ignore[call-arg]
        with pytest.raises(InputError):
            store.update_credential("orders", renew_before_min_seconds=10**9)
        with pytest.raises(InputError):
            store.update_credential("orders", resolved_strategy=Strategy.AUTO)
        with pytest.raises(InputError):
            store.update_credential("orders", resolved_strategy="auto")  # type: ignore[typeddict-item]
        with pytest.raises(InputError):
            store.update_credential("orders", strategy="sideways")  # type: ignore[typeddict-item]
        with pytest.raises(NotFoundError):
            store.update_credential("orders", auth_mode=AuthMode.CREDENTIAL, auth_credential="nope")
        assert store.get_credential("orders") == before

    def test_record_kind(self, store) -> None:
        """A certificate record credential keeps its script ID and name."""
        got = store.add_credential(
            make_spec(
                "openair",
                kind=CredentialKind.RECORD,
                record_script_id="custcertificate_oa_realtime",
                record_name="OpenAir real-time import",
            )
        )
        assert got.kind is CredentialKind.RECORD
        assert got.record_script_id == "custcertificate_oa_realtime"

    def test_management_token_sealed(self, store) -> None:
        """A management token is stored sealed, read back decrypted, and can be forgotten."""
        added = store.add_credential(make_spec("orders", management_token=TOKEN))
        assert added.has_management_token
        assert store.management_token("orders") == TOKEN
        store.set_management_token("orders", TOKEN + "x")
        assert store.management_token(added) == TOKEN + "x"
        assert not store.set_management_token("orders", None).has_management_token
        assert store.management_token("orders") is None
        with pytest.raises(InputError):
            store.set_management_token("orders", " ")

    def test_remove_refused_with_current_version(self, store) -> None:
        """A credential with a current version is only removed with force."""
        credential = store.add_credential(make_spec("orders"))
        version = store.add_version(credential, *make_pair())
        store.activate(credential, version.id)
        with pytest.raises(InputError) as caught:
            store.remove_credential("orders")
        assert "--force" in caught.value.hint
        removed = store.remove_credential("orders", force=True)
        assert removed.next_rotation_at is None
        with pytest.raises(NotFoundError):
            store.get_credential("orders")

    def test_remove_frees_the_name_and_keeps_the_audit_trail(self, store) -> None:
        """A removed credential's name can be reused; its events stay readable by name."""
        first = store.add_credential(make_spec("orders"))
        store.append_event(first, "test", "credential.add", "ok", {})
        store.remove_credential("orders")
        assert store.list_credentials() == []
        second = store.add_credential(make_spec("orders"))
        assert second.id != first.id
        store.append_event(second, "test", "credential.add", "ok", {})
        assert {e.credential_id for e in store.events("orders")} == {first.id, second.id}

    def test_remove_refused_while_others_authenticate_through_it(self, store) -> None:
        """A credential used for other credentials' management calls is not removed silently."""
        store.add_credential(make_spec("admin"))
        store.add_credential(make_spec("orders", auth_mode=AuthMode.CREDENTIAL, auth_credential="admin"))
        with pytest.raises(InputError):
            store.remove_credential("admin")

    def test_remove_with_force_finishes_open_rotation(self, store) -> None:
        """Forced removal closes an unfinished rotation as failed."""
        credential = store.add_credential(make_spec("orders"))
        rotation = store.start_rotation(credential, RotationTrigger.MANUAL, Strategy.OVERLAP, None)
        with pytest.raises(InputError):
            store.remove_credential("orders")
        store.remove_credential("orders", force=True)
        assert store.get_rotation(rotation.id).step is RotationStep.FAILED
