"""Delivery directories: one per credential, never a world-writable parent, and modes certrotor owns only."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from certrotor.emulator.testing import RunningEmulator

from ._support import CliResult, files_in, store_snapshot
from .conftest import Cli
from .test_remote import add_credential


def _add(cli: Cli, emulator: RunningEmulator, name: str, *extra: str) -> CliResult:
    """``credential add NAME`` for the emulator's tenant, without asserting the outcome."""
    tenant = emulator.tenant
    return cli(
        "credential", "add", name, "--account", tenant.account_id, "--client-id", tenant.client_id,
        "--entity", str(tenant.entity_id), "--role", str(tenant.role_id), "--base-url", emulator.base_url,
        *extra,
    )  # fmt: skip


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


class TestOneDirectoryPerCredential:
    def test_add_and_set_refuse_a_directory_another_credential_delivers_into(
        self, cli: Cli, emulator: RunningEmulator, cli_env: dict[str, str], tmp_path: Path
    ) -> None:
        """A second credential on app1's --deliver-to, by add or set: one line each, nothing changes."""
        shared = tmp_path / "consumers" / "orders"
        add_credential(cli, emulator, "app1", extra=("--deliver-to", str(shared))).assert_ok()
        add_credential(cli, emulator, "app2").assert_ok()
        data_dir = Path(cli_env["CERTROTOR_DATA_DIR"])
        before = store_snapshot(data_dir)
        message = (
            f"error: Credential 'app1' already delivers into {shared}. Fix: give each credential its own "
            "directory (--deliver-to); a second one would overwrite its key.pem."
        )

        added = _add(cli, emulator, "app3", "--deliver-to", str(shared) + "/")
        moved = cli("credential", "set", "app2", "--deliver-to", str(shared), "--grace", "2d")

        added.assert_one_line_error(message)
        moved.assert_one_line_error(message)
        assert store_snapshot(data_dir) == before


class TestDirectoryModes:
    def test_a_world_writable_parent_is_refused(
        self, cli: Cli, emulator: RunningEmulator, cli_env: dict[str, str], tmp_path: Path
    ) -> None:
        """--deliver-to under a 0777 directory: refused in one line; nothing stored, nothing created."""
        open_to_all = tmp_path / "open"
        open_to_all.mkdir()
        os.chmod(open_to_all, 0o777)
        data_dir = Path(cli_env["CERTROTOR_DATA_DIR"])
        add_credential(cli, emulator, "app1").assert_ok()
        before = store_snapshot(data_dir)

        result = _add(cli, emulator, "app2", "--deliver-to", str(open_to_all / "app2"))

        result.assert_one_line_error(
            f"error: Refusing to deliver into {open_to_all / 'app2'}: {open_to_all} is writable by everyone "
            "(mode 0777), so others could replace the key. Fix: choose a delivery directory whose parents "
            "only its owner may write to (--deliver-to), or remove the write bit for others yourself."
        )
        assert store_snapshot(data_dir) == before
        assert files_in(open_to_all) == {}
        assert list(open_to_all.iterdir()) == []

    def test_an_existing_directory_keeps_its_mode_and_missing_ones_are_0700_under_umask_0(
        self, cli: Cli, emulator: RunningEmulator, tmp_path: Path
    ) -> None:
        """An existing 0755 delivery directory stays 0755; under umask 000 new directories are 0700."""
        existing = tmp_path / "ssl-private"
        existing.mkdir()
        os.chmod(existing, 0o755)
        created = tmp_path / "new-parent" / "app2"
        add_credential(cli, emulator, "app1", extra=("--deliver-to", str(existing))).assert_ok()
        add_credential(cli, emulator, "app2", extra=("--deliver-to", str(created))).assert_ok()

        previous_umask = os.umask(0)
        try:
            cli("rotate", "app1").assert_ok()
            cli("rotate", "app2").assert_ok()
        finally:
            os.umask(previous_umask)

        assert _mode(existing) == 0o755
        assert _mode(existing / "key.pem") == 0o600
        assert (_mode(created.parent), _mode(created)) == (0o700, 0o700)
        assert _mode(created / "key.pem") == 0o600
