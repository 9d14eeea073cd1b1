"""A store on a full disk, a read-only file system or without privileges: the error names the real cause.

The SQLite cases mount a small tmpfs of their own (root only, skipped elsewhere); the PostgreSQL case
connects as a role that may not touch certrotor's tables.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from support.postgres import PostgresServer

from ._support import store_snapshot
from .conftest import Cli


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs mounted for this test alone."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(mount_point)],
        capture_output=True,
        check=False,
    )
    if os.geteuid() != 0 or mounted.returncode != 0:
        pytest.skip("mounting a small tmpfs needs root")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _add(cli: Cli, name: str) -> None:
    cli(
        "credential", "add", name, "--account", "1234567", "--client-id", "c0ffee", "--entity", "-5",
        "--role", "3", "--base-url", "http://127.0.0.1:9",
    ).assert_ok()  # fmt: skip


def _fill(directory: Path) -> Path:
    """Write until the file system has no byte left."""
    filler = directory / "filler"
    with filler.open("wb") as handle, contextlib.suppress(OSError):
        while True:
            handle.write(b"\0" * 65536)
            handle.flush()
    return filler


class TestSqliteStore:
    def test_a_full_disk_is_named(self, cli: Cli, small_disk: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """A write on a full disk: 'no space left on the device' and the fix; the store is unchanged."""
        data_dir = small_disk / "data"
        monkeypatch.setenv("CERTROTOR_DATA_DIR", str(data_dir))
        _add(cli, "app1")
        before = store_snapshot(data_dir)
        filler = _fill(small_disk)

        result = cli("credential", "set", "app1", "--grace", "3d")

        database = data_dir / "certrotor.db"
        result.assert_one_line_error(
            f"error: The database sqlite:///{database} failed: no space left on the device (database or "
            f"disk is full). Fix: free space on the file system holding {data_dir}, then run the "
            "command again; nothing was changed."
        )
        filler.unlink()
        assert store_snapshot(data_dir) == before
        assert cli("credential", "show", "app1", "--json").assert_ok().json()["grace"] == "1d"

    def test_a_read_only_file_system_is_named(
        self, cli: Cli, small_disk: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A store on a file system remounted read-only: 'read-only file system' and the fix."""
        data_dir = small_disk / "data"
        monkeypatch.setenv("CERTROTOR_DATA_DIR", str(data_dir))
        _add(cli, "app1")
        before = store_snapshot(data_dir)
        subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)

        result = cli("credential", "set", "app1", "--grace", "3d")

        database = data_dir / "certrotor.db"
        result.assert_one_line_error(
            f"error: The database sqlite:///{database} failed: read-only file system (attempt to write a "
            f"readonly database). Fix: remount the file system holding {data_dir} read-write or move the "
            "store (CERTROTOR_DATA_DIR); nothing was changed."
        )
        assert store_snapshot(data_dir) == before


@pytest.mark.postgres
class TestPostgresStore:
    def test_missing_privileges_are_named(
        self, cli: Cli, shared_postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        """A role without privileges on the tables: 'permission denied' and the GRANT fix, nothing changed."""
        owner_url = shared_postgres.create_database("certrotor_privileges")
        monkeypatch.setenv("CERTROTOR_DATABASE_URL", owner_url)
        _add(cli, "app1")
        with shared_postgres.connect("certrotor_privileges") as connection:
            connection.execute("DROP ROLE IF EXISTS certrotor_reader")
            connection.execute("CREATE ROLE certrotor_reader LOGIN")
            connection.execute("GRANT CONNECT ON DATABASE certrotor_privileges TO certrotor_reader")
            connection.commit()
        reader_url = make_url(owner_url).set(username="certrotor_reader").render_as_string(False)
        monkeypatch.setenv("CERTROTOR_DATABASE_URL", reader_url)

        result = cli("credential", "list")

        line = result.assert_one_line_error()
        assert ": permission denied (permission denied for table " in line, line
        assert line.endswith(
            "Fix: grant the database user certrotor connects as the privileges on its tables; "
            "nothing was changed."
        ), line
        monkeypatch.setenv("CERTROTOR_DATABASE_URL", owner_url)
        assert [c["name"] for c in cli("credential", "list", "--json").assert_ok().json()] == ["app1"]
