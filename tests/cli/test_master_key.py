"""The master key: never silently replaced, shown by id, exported, rotated (surviving SIGKILL), and a
credential recovered with a token after the key is lost."""

from __future__ import annotations

import os
import signal
import stat
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from certrotor.emulator.testing import RunningEmulator
from certrotor.errors import MasterKeyError
from certrotor.keyvault import MasterKey
from certrotor.services.master_key import FAULT_POINTS
from certrotor.store.sealed import sealed_rows

from ._support import SecretWatch, cli_environment, run_process, store_snapshot
from .conftest import Cli
from .test_remote import add_credential


def _key_file(cli_env: dict[str, str]) -> Path:
    return Path(cli_env["CERTROTOR_DATA_DIR"]) / "master.key"


def _opening_keys(data_dir: Path, keys: dict[str, MasterKey]) -> list[set[str]]:
    """For every sealed secret of the store, the names of the keys that open it."""
    engine = create_engine(f"sqlite:///{data_dir / 'certrotor.db'}")
    try:
        with Session(engine) as session:
            found = []
            for sealed, row in sealed_rows(session):
                openers = set()
                for name, key in keys.items():
                    try:
                        key.open_sealed(getattr(row, sealed.column), aad=sealed.aad(row))
                    except MasterKeyError:
                        continue
                    openers.add(name)
                found.append(openers)
            return found
    finally:
        engine.dispose()


class TestLostMasterKey:
    def test_a_store_with_secrets_never_gets_a_new_key(
        self, cli: Cli, emulator: RunningEmulator, cli_env: dict[str, str]
    ) -> None:
        """Key file gone, secrets sealed: one line naming the file and the restore; no key made."""
        add_credential(cli, emulator, "app1")
        cli("upload", "app1").assert_ok()
        key_file = _key_file(cli_env)
        lost_id = MasterKey.from_file(key_file, create=False).key_id
        key_file.unlink()
        data_dir = Path(cli_env["CERTROTOR_DATA_DIR"])
        before = store_snapshot(data_dir)

        result = cli("token", "app1")

        result.assert_one_line_error(
            f"error: The master key file {key_file} is missing, but this store holds secrets sealed under "
            f"master key {lost_id}; no new key was made, since it could not open them. Fix: restore the key "
            f"file to {key_file} from your backup (mode 0600), or set CERTROTOR_MASTER_KEY to the key "
            "`certrotor master-key export` wrote; without a backup, `certrotor credential recover NAME "
            "--token TOKEN` gives each credential a new key pair."
        )
        assert not key_file.exists()
        assert store_snapshot(data_dir) == before

    def test_a_store_with_nothing_sealed_gets_a_new_key(self, cli: Cli, cli_env: dict[str, str]) -> None:
        """Nothing sealed yet: a lost key file is simply made again, and the store takes the new key."""
        cli("credential", "list").assert_ok()
        key_file = _key_file(cli_env)
        first = MasterKey.from_file(key_file, create=False).key_id
        key_file.unlink()

        cli("credential", "list").assert_ok()

        second = MasterKey.from_file(key_file, create=False).key_id
        assert second != first
        assert cli("master-key", "show-id", "--json").assert_ok().json()["recorded_key_id"] == second

    def test_recover_uploads_a_new_key_pair_with_a_token_and_revokes_the_old_certificate(
        self, cli: Cli, emulator: RunningEmulator, cli_env: dict[str, str], secret_watch: SecretWatch
    ) -> None:
        """Lost key: `credential recover` makes app1 healthy with a token; the old certificate is revoked."""
        add_credential(cli, emulator, "app1")
        cli("upload", "app1").assert_ok()
        old_id = cli("credential", "show", "app1", "--json").json()["versions"][0]["certificate_id"]
        _key_file(cli_env).unlink()
        token = emulator.tenant.admin_token

        recovered = cli("credential", "recover", "app1", "--token", token).assert_ok()

        shown = cli("credential", "show", "app1", "--json").assert_ok().json()
        states = {v["certificate_id"]: v["state"] for v in shown["versions"]}
        new_id = next(cid for cid, state in states.items() if state == "current")
        assert states[old_id] == "revoked"
        remote = {c["certificate_id"]: c["revoked"] for c in emulator.certificates()}
        assert remote == {old_id: True, new_id: False}
        assert f"Revoked the old certificates: {old_id}." in recovered.stdout
        secret_watch.add(cli("token", "app1", "--json").assert_ok().json()["access_token"])
        assert cli("health", "app1").exit_code == 0

    def test_health_names_the_real_recovery_for_an_undecryptable_key(
        self, cli: Cli, emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Under another master key health is CRIT, and its fix is the restore or `credential recover`."""
        monkeypatch.setenv("CERTROTOR_MASTER_KEY", MasterKey.generate().to_base64url())
        add_credential(cli, emulator, "app1")
        cli("upload", "app1").assert_ok()
        monkeypatch.setenv("CERTROTOR_MASTER_KEY", MasterKey.generate().to_base64url())

        report = cli("health", "app1", "--json").json()["credentials"][0]

        reasons = {reason["code"]: reason for reason in report["reasons"]}
        assert reasons["key_undecryptable"]["fix"] == (
            "restore the master key file (or CERTROTOR_MASTER_KEY) from your backup, or run `certrotor "
            "credential recover app1 --token TOKEN` (a new key pair uploaded with a bootstrap or management "
            "token; the old certificate is revoked)"
        )


class TestMasterKeyCommands:
    def test_show_id_and_export(self, cli: Cli, cli_env: dict[str, str], tmp_path: Path) -> None:
        """show-id prints the key's id only; export writes it 0600 with a warning, never over a file."""
        cli("credential", "list").assert_ok()
        key = MasterKey.from_file(_key_file(cli_env), create=False)
        backup = tmp_path / "backup.key"

        shown = cli("master-key", "show-id").assert_ok()
        exported = cli("master-key", "export", backup).assert_ok()
        again = cli("master-key", "export", backup)

        assert shown.stdout.startswith(key.key_id + " (")
        assert key.to_base64url() not in shown.stdout + exported.stdout + exported.stderr
        assert MasterKey.from_file(backup, create=False) == key
        assert stat.S_IMODE(backup.stat().st_mode) == 0o600
        assert exported.stderr.startswith(f"warning: {backup} now holds master key {key.key_id} in clear")
        again.assert_one_line_error(
            f"error: {backup} already exists. Fix: choose a new file name; an export never overwrites."
        )

    def test_rotate_reseals_every_secret_under_a_new_key(
        self, cli: Cli, emulator: RunningEmulator, cli_env: dict[str, str], secret_watch: SecretWatch
    ) -> None:
        """Every sealed secret opens with the new key only; the token still works afterwards."""
        add_credential(cli, emulator, "app1")
        cli("upload", "app1").assert_ok()
        data_dir = Path(cli_env["CERTROTOR_DATA_DIR"])
        old = MasterKey.from_file(_key_file(cli_env), create=False)

        result = cli("master-key", "rotate", "--json").assert_ok().json()

        new = MasterKey.from_file(_key_file(cli_env), create=False)
        assert (result["old_key_id"], result["new_key_id"], result["resealed"]) == (old.key_id, new.key_id, 2)
        assert _opening_keys(data_dir, {"old": old, "new": new}) == [{"new"}, {"new"}]
        secret_watch.add(cli("token", "app1", "--json").assert_ok().json()["access_token"])


class TestRotateSurvivesSigkill:
    @pytest.mark.parametrize("fault", FAULT_POINTS)
    def test_every_secret_opens_under_exactly_one_key_and_the_next_command_settles(
        self,
        fault: str,
        cli: Cli,
        emulator: RunningEmulator,
        cli_env: dict[str, str],
        tmp_path: Path,
        secret_watch: SecretWatch,
    ) -> None:
        """SIGKILL at each fault point of `rotate`: each secret opens under one key; then all works."""
        add_credential(cli, emulator, "app1")
        cli("upload", "app1").assert_ok()
        data_dir = Path(cli_env["CERTROTOR_DATA_DIR"])
        key_file = _key_file(cli_env)
        old = MasterKey.from_file(key_file, create=False)
        env = cli_environment(data_dir, Path(cli_env["CERTROTOR_CONFIG"])) | {"CERTROTOR_FAULT_POINT": fault}

        crashed = run_process(["master-key", "rotate"], env=env, cwd=tmp_path)

        assert crashed.exit_code == -signal.SIGKILL, crashed
        pending = key_file.with_name("master.key.new")
        keys = {"old": old} | (
            {"new": MasterKey.from_file(pending, create=False)} if pending.exists() else {}
        )
        if fault == "after:master-key-replaced":
            keys = {"old": old, "new": MasterKey.from_file(key_file, create=False)}
        openers = _opening_keys(data_dir, keys)
        assert len(openers) == 2
        assert all(len(names) == 1 for names in openers), openers
        assert len({name for names in openers for name in names}) == 1

        secret_watch.add(cli("token", "app1", "--json").assert_ok().json()["access_token"])
        assert not pending.exists()
        settled = MasterKey.from_file(key_file, create=False)
        assert _opening_keys(data_dir, {"settled": settled}) == [{"settled"}, {"settled"}]
        assert os.stat(key_file).st_mode & 0o077 == 0
