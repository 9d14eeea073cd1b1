"""Tests of the Store API on a real SQLite file and a real PostgreSQL database."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from certrotor.crypto import KeySpec, fingerprint_sha256, keys_match, utcnow
from certrotor.errors import (
    AlreadyExistsError,
    ConfigError,
    InputError,
    MasterKeyError,
    NotFoundError,
    StoreError,
    TamperedDataError,
)
from certrotor.keyvault import MasterKey
from certrotor.store import (
    AuthMode,
    CredentialKind,
    RotationStep,
    RotationTrigger,
    Store,
    Strategy,
    VersionState,
)

from ._factories import make_pair, make_spec

TOKEN = "eyJhbGciOiJQUzI1NiJ9.eyJzdWIiOiIzOzEifQ.c2lnbmF0dXJl"


class TestOpen:
    def test_creates_parent_directory_and_private_file(self, tmp_path, master_key) -> None:
        """Opening a SQLite URL creates its directory (0700) and database file (0600)."""
        path = tmp_path / "deep" / "data" / "certrotor.db"
        with Store.open(f"sqlite:///{path}", master_key):
            pass
        assert path.stat().st_mode & 0o777 == 0o600
        assert path.parent.stat().st_mode & 0o777 == 0o700

    def test_from_settings(self, tmp_path, monkeypatch) -> None:
        """Store.from_settings opens <data_dir>/certrotor.db with <data_dir>/master.key."""
        from certrotor.config import Settings

        for name in ("CERTROTOR_MASTER_KEY", "CERTROTOR_DATABASE_URL", "CERTROTOR_MASTER_KEY_FILE"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("CERTROTOR_CONFIG", str(tmp_path / "absent.toml"))
        settings = Settings(data_dir=tmp_path / "data")
        with Store.from_settings(settings) as store:
            store.add_credential(make_spec())
        assert (tmp_path / "data" / "certrotor.db").is_file()
        assert (tmp_path / "data" / "master.key").stat().st_mode & 0o777 == 0o600
        with Store.from_settings(settings) as store:
            assert store.get_credential("orders").name == "orders"

    def test_reopen_keeps_data(self, store_url, master_key) -> None:
        """Data survives closing and reopening the store."""
        with Store.open(store_url, master_key) as first:
            first.add_credential(make_spec("kept"))
        with Store.open(store_url, master_key) as second:
            assert second.get_credential("kept").name == "kept"

    def test_other_master_key_is_refused_at_open(self, store_url, master_key) -> None:
        """A store created under one master key refuses another one before sealing anything."""
        Store.open(store_url, master_key).close()
        with pytest.raises(MasterKeyError) as caught:
            Store.open(store_url, MasterKey.generate())
        assert master_key.key_id in caught.value.message

    def test_other_master_key_allowed_without_check(self, store_url, master_key) -> None:
        """With check_master_key=False the store opens, and decrypting then fails clearly."""
        with Store.open(store_url, master_key) as first:
            credential = first.add_credential(make_spec())
            version = first.add_version(credential, *make_pair())
        with Store.open(store_url, MasterKey.generate(), check_master_key=False) as second:
            assert second.get_credential("orders").name == "orders"
            with pytest.raises(MasterKeyError) as caught:
                second.load_private_key(version.id)
            assert not isinstance(caught.value, TamperedDataError)

    @pytest.mark.parametrize(
        "url", ["not a url", "mysql://u@h/db", "postgresql+psycopg2://u@h/db", "sqlite://"]
    )
    def test_unusable_urls_are_refused(self, url, master_key) -> None:
        """Unparsable, unsupported and in-memory URLs raise a StoreError or ConfigError with a hint."""
        with pytest.raises((ConfigError, StoreError)) as caught:
            Store.open(url, master_key)
        assert caught.value.hint

    def test_unreachable_server_is_a_clear_error(self, master_key) -> None:
        """A PostgreSQL URL nobody listens on raises StoreError without the password."""
        url = "postgresql+psycopg://user:hunter2secret@127.0.0.1:1/db?connect_timeout=2"
        with pytest.raises(StoreError) as caught:
            Store.open(url, master_key)
        assert "hunter2secret" not in str(caught.value)
        assert "CERTROTOR_DATABASE_URL" in caught.value.hint

    def test_database_failure_is_a_store_error(self, sqlite_url, master_key) -> None:
        """A driver failure during a call (here: a table gone) surfaces as StoreError with a hint."""
        with Store.open(sqlite_url, master_key) as store:
            store.add_credential(make_spec())
            with store._engine.begin() as connection:
                connection.exec_driver_sql("DROP TABLE rotations")
            with pytest.raises(StoreError) as caught:
                store.open_rotation("orders")
            assert caught.value.hint

    def test_url_hides_the_password(self, tmp_path, master_key) -> None:
        """Store.url and repr mask a password and never show the master key."""
        with Store.open(f"sqlite:///{tmp_path}/db.sqlite", master_key) as store:
            assert master_key.to_base64url() not in repr(store)
            assert master_key.key_id in repr(store)
        from certrotor.store.engine import parse_url, redacted

        assert "s3cret" not in redacted(parse_url("postgresql+psycopg://u:s3cret@h/db"))

    def test_postgresql_url_without_driver_uses_psycopg(self) -> None:
        """postgresql:// is read as postgresql+psycopg:// (psycopg 3)."""
        from certrotor.store.engine import parse_url

        assert parse_url("postgresql://u@h/db").drivername == "postgresql+psycopg"


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
        store.record_event(first, "test", "credential.add", "ok", {})
        store.remove_credential("orders")
        assert store.list_credentials() == []
        second = store.add_credential(make_spec("orders"))
        assert second.id != first.id
        store.record_event(second, "test", "credential.add", "ok", {})
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


class TestVersions:
    def test_add_and_load_private_key(self, store) -> None:
        """A version keeps the certificate; its key decrypts to the same key."""
        credential = store.add_credential(make_spec())
        key, certificate = make_pair()
        version = store.add_version(credential, key, certificate)
        assert version.state is VersionState.PENDING
        assert version.fingerprint_sha256 == fingerprint_sha256(certificate)
        assert version.algorithm == "ES256"
        assert version.not_after == certificate.not_valid_after_utc
        assert version.certificate == certificate
        loaded = store.load_private_key(version.id)
        assert keys_match(loaded, certificate)
        assert store.get_version(version) == version

    def test_key_and_certificate_must_match(self, store) -> None:
        """A key that does not belong to the certificate is refused."""
        credential = store.add_credential(make_spec())
        key, _ = make_pair()
        _, certificate = make_pair()
        with pytest.raises(InputError):
            store.add_version(credential, key, certificate)
        assert store.versions(credential) == []

    def test_duplicate_certificate_refused(self, store) -> None:
        """The same certificate cannot be stored twice."""
        credential = store.add_credential(make_spec())
        key, certificate = make_pair()
        store.add_version(credential, key, certificate)
        with pytest.raises(AlreadyExistsError):
            store.add_version(credential, key, certificate)

    def test_cannot_add_as_current(self, store) -> None:
        """current is only reached through activate()."""
        credential = store.add_credential(make_spec())
        with pytest.raises(InputError):
            store.add_version(credential, *make_pair(), VersionState.CURRENT)

    def test_activate_swaps_current_and_previous(self, store) -> None:
        """activate makes the new version current and the old one previous, atomically."""
        credential = store.add_credential(make_spec())
        first = store.add_version(credential, *make_pair())
        store.activate(credential, first.id)
        second = store.add_version(credential, *make_pair())
        activated = store.activate(credential, second.id)
        assert activated.state is VersionState.CURRENT
        assert activated.activated_at is not None
        assert store.get_version(first.id).state is VersionState.PREVIOUS
        assert store.current_version("orders") == activated
        assert store.activate(credential, second.id) == activated

    def test_activate_refuses_foreign_and_dead_versions(self, store) -> None:
        """A version of another credential, or a revoked one, cannot become current."""
        orders = store.add_credential(make_spec("orders"))
        billing = store.add_credential(make_spec("billing"))
        foreign = store.add_version(billing, *make_pair())
        with pytest.raises(InputError):
            store.activate(orders, foreign.id)
        revoked = store.add_version(orders, *make_pair())
        store.set_version_state(revoked.id, VersionState.REVOKED)
        with pytest.raises(InputError):
            store.activate(orders, revoked.id)
        assert store.current_version(orders) is None

    def test_set_version_state_stamps_revocation(self, store) -> None:
        """Revoking stamps revoked_at; current is refused outside activate()."""
        credential = store.add_credential(make_spec())
        version = store.add_version(credential, *make_pair())
        revoked = store.set_version_state(version.id, VersionState.REVOKED)
        assert revoked.revoked_at is not None
        with pytest.raises(InputError):
            store.set_version_state(version.id, VersionState.CURRENT)
        moment = utcnow().replace(microsecond=0)
        failed = store.set_version_state(version, VersionState.FAILED, revoked_at=moment)
        assert (failed.state, failed.revoked_at) == (VersionState.FAILED, moment)

    def test_remote_certificate_id(self, store) -> None:
        """The remote ID (which may start with '-') is recorded once, with its state."""
        credential = store.add_credential(make_spec())
        version = store.add_version(credential, *make_pair())
        uploaded = store.set_remote_certificate_id(version.id, "-Abc_123", state=VersionState.UPLOADED)
        assert (uploaded.certificate_id, uploaded.state) == ("-Abc_123", VersionState.UPLOADED)
        assert store.set_remote_certificate_id(version.id, "-Abc_123") == uploaded
        with pytest.raises(StoreError):
            store.set_remote_certificate_id(version.id, "other")
        assert store.version_by_certificate_id(credential, "-Abc_123") == uploaded
        assert store.version_by_certificate_id(credential, "unknown") is None

    def test_remote_certificate_id_unique_per_credential(self, store) -> None:
        """Two versions of one credential cannot claim the same remote certificate."""
        credential = store.add_credential(make_spec())
        first = store.add_version(credential, *make_pair())
        second = store.add_version(credential, *make_pair())
        store.set_remote_certificate_id(first.id, "cert-1")
        with pytest.raises(AlreadyExistsError):
            store.set_remote_certificate_id(second.id, "cert-1")

    def test_lookups(self, store) -> None:
        """versions (with state filter) and version_by_fingerprint find the right rows."""
        credential = store.add_credential(make_spec())
        first = store.add_version(credential, *make_pair())
        second = store.add_version(credential, *make_pair(), VersionState.UPLOADED)
        assert [v.id for v in store.versions(credential)] == [first.id, second.id]
        assert store.versions("orders", states=[VersionState.UPLOADED]) == [second]
        upper = ":".join(second.fingerprint_sha256[i : i + 2].upper() for i in range(0, 64, 2))
        assert store.version_by_fingerprint(upper) == second
        assert store.version_by_fingerprint("0" * 64) is None
        with pytest.raises(InputError):
            store.version_by_fingerprint("abc")
        with pytest.raises(NotFoundError):
            store.get_version("no-such-version")

    def test_tampered_key_row_is_refused(self, store) -> None:
        """A sealed key copied onto another version's row fails with TamperedDataError."""
        credential = store.add_credential(make_spec())
        first = store.add_version(credential, *make_pair())
        second = store.add_version(credential, *make_pair())
        from sqlalchemy import update

        from certrotor.store.models import CertificateVersionRow

        with store._writer.begin() as session:
            sealed = session.get(CertificateVersionRow, first.id).key_sealed
            session.execute(
                update(CertificateVersionRow)
                .where(CertificateVersionRow.id == second.id)
                .values(key_sealed=sealed)
            )
        assert store.load_private_key(first.id)
        with pytest.raises(TamperedDataError):
            store.load_private_key(second.id)


class TestJournal:
    def test_rotation_lifecycle(self, store) -> None:
        """start, advance with fields, open_rotation, finish: every step is persisted."""
        credential = store.add_credential(make_spec())
        old = store.add_version(credential, *make_pair())
        store.activate(credential, old.id)
        rotation = store.start_rotation(credential, RotationTrigger.SCHEDULE, Strategy.OVERLAP, old)
        assert (rotation.step, rotation.old_version_id, rotation.is_open) == (
            RotationStep.PREPARE,
            old.id,
            True,
        )
        new = store.add_version(credential, *make_pair())
        retire_after = utcnow().replace(microsecond=0) + dt.timedelta(days=1)
        store.advance_rotation(rotation.id, RotationStep.UPLOAD, new_version_id=new.id)
        advanced = store.advance_rotation(rotation.id, RotationStep.RETIRE, retire_after=retire_after)
        assert advanced.new_version_id == new.id
        assert advanced.retire_after == retire_after
        assert store.open_rotation("orders") == advanced
        finished = store.finish_rotation(rotation.id, ok=True)
        assert finished.step is RotationStep.DONE
        assert finished.finished_at is not None
        assert store.open_rotation("orders") is None
        assert store.finish_rotation(rotation.id, ok=False, error="late") == finished
        assert store.rotations(credential) == [finished]

    def test_only_one_open_rotation(self, store) -> None:
        """A second rotation cannot start while one is unfinished."""
        credential = store.add_credential(make_spec())
        first = store.start_rotation(credential, RotationTrigger.MANUAL, Strategy.REPLACE, None)
        with pytest.raises(AlreadyExistsError) as caught:
            store.start_rotation(credential, RotationTrigger.MANUAL, Strategy.REPLACE, None)
        assert "resume" in caught.value.hint
        store.finish_rotation(first.id, ok=False, error="remote refused")
        second = store.start_rotation(credential, RotationTrigger.RECOVERY, Strategy.OVERLAP, None)
        assert [r.id for r in store.rotations(credential)] == [second.id, first.id]
        assert store.get_rotation(first.id).error == "remote refused"

    def test_refusals(self, store) -> None:
        """auto is not a rotation strategy, final steps need finish_rotation, finished stays finished."""
        credential = store.add_credential(make_spec())
        with pytest.raises(InputError):
            store.start_rotation(credential, RotationTrigger.MANUAL, Strategy.AUTO, None)
        rotation = store.start_rotation(credential, RotationTrigger.MANUAL, Strategy.OVERLAP, None)
        with pytest.raises(InputError):
            store.advance_rotation(rotation.id, RotationStep.DONE)
        store.finish_rotation(rotation.id, ok=True)
        with pytest.raises(StoreError):
            store.advance_rotation(rotation.id, RotationStep.VERIFY)
        with pytest.raises(NotFoundError):
            store.get_rotation(10_000)


class TestSchedule:
    def test_set_schedule_and_due(self, store) -> None:
        """Due credentials are those planned at or before now, soonest first."""
        now = utcnow()
        for name, offset in (("late", -60), ("later", -10), ("future", 3600)):
            store.add_credential(make_spec(name))
            store.set_schedule(name, now + dt.timedelta(seconds=offset), 0, None)
        store.add_credential(make_spec("unplanned"))
        assert [c.name for c in store.due_credentials(now)] == ["late", "later"]
        assert [c.name for c in store.due_credentials(now, limit=1)] == ["late"]

    def test_failure_bookkeeping(self, store) -> None:
        """set_schedule records failed attempts, last error and last rotation time."""
        store.add_credential(make_spec())
        moment = utcnow().replace(microsecond=0)
        got = store.set_schedule("orders", moment, 3, "upload refused", last_rotation_at=moment)
        assert (got.failed_attempts, got.last_error, got.last_rotation_at) == (
            3,
            "upload refused",
            moment,
        )
        with pytest.raises(InputError):
            store.set_schedule("orders", moment, -1, None)

    def test_removed_credentials_are_never_due(self, store) -> None:
        """A removed credential leaves the due list."""
        now = utcnow()
        store.add_credential(make_spec())
        store.set_schedule("orders", now - dt.timedelta(seconds=1), 0, None)
        store.remove_credential("orders")
        assert store.due_credentials(now) == []

    def test_timestamps_are_aware_utc(self, store) -> None:
        """Datetimes come back timezone-aware in UTC whatever zone they went in with."""
        store.add_credential(make_spec())
        tokyo = dt.timezone(dt.timedelta(hours=9))
        planned = dt.datetime(2030, 1, 1, 9, 0, tzinfo=tokyo)
        got = store.set_schedule("orders", planned, 0, None)
        assert got.next_rotation_at == planned
        assert got.next_rotation_at.utcoffset() == dt.timedelta(0)

    def test_naive_datetimes_are_refused(self, store) -> None:
        """A naive datetime never reaches the database."""
        store.add_credential(make_spec())
        with pytest.raises(InputError, match="naive"):
            store.set_schedule("orders", dt.datetime(2030, 1, 1), 0, None)


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
