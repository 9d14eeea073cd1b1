"""Tests of the Store facade: opening, master key checks, database failures, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from certrotor.errors import ConfigError, MasterKeyError, StoreError, TamperedDataError
from certrotor.keyvault import MasterKey
from certrotor.store import Store

from ._factories import make_pair, make_spec


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
