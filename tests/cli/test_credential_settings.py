"""``certrotor credential show|set``: settings change as asked, bad values change nothing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from certrotor.emulator.testing import RunningEmulator

from ._support import store_snapshot
from .conftest import Cli
from .test_remote import add_credential


class TestCredentialShow:
    def test_show_lists_settings_and_versions_without_secrets(
        self, cli: Cli, emulator: RunningEmulator
    ) -> None:
        """`show --json` names every version and says a token is stored, never what it is."""
        add_credential(cli, emulator, "app1")
        cli("upload", "app1").assert_ok()
        shown = cli("credential", "show", "app1", "--json").assert_ok()
        data = shown.json()
        assert data["has_management_token"] is True
        assert [v["state"] for v in data["versions"]] == ["current"]
        assert emulator.tenant.admin_token not in shown.stdout
        assert "PRIVATE KEY" not in shown.stdout

    def test_show_unknown_credential_is_one_line(self, cli: Cli) -> None:
        """An unknown name gets the store's error and its fix."""
        cli("credential", "show", "nope").assert_one_line_error()


class TestCredentialSet:
    def test_set_changes_the_strategy_and_the_next_rotation_uses_it(
        self, cli: Cli, emulator: RunningEmulator
    ) -> None:
        """`set --strategy replace --grace 0s`, then `rotate` revokes the old certificate first."""
        add_credential(cli, emulator, "app1")
        first = cli("upload", "app1", "--json").assert_ok().json()["certificate_id"]
        cli("credential", "set", "app1", "--strategy", "replace", "--grace", "0s").assert_ok()
        assert cli("credential", "show", "app1", "--json").json()["strategy"] == "replace"
        cli("rotate", "app1").assert_ok()
        listed = {c["certificate_id"]: c["revoked"] for c in cli("list", "app1", "--json").json()}
        assert listed[first] is True
        assert list(listed.values()).count(False) == 1

    def test_set_renewal_window_replans_the_planned_rotation_at_once(
        self, cli: Cli, emulator: RunningEmulator, cli_env: dict[str, str]
    ) -> None:
        """`set --renew-min 60d --renew-max 90d` moves the planned rotation into the new window, says so."""
        add_credential(cli, emulator, "app1")
        cli("upload", "app1").assert_ok()
        before = cli("credential", "show", "app1", "--json").assert_ok().json()
        not_after = dt.datetime.fromisoformat(before["versions"][0]["not_after"])
        remote_before = emulator.certificates()

        result = cli("credential", "set", "app1", "--renew-min", "60d", "--renew-max", "90d").assert_ok()

        after = cli("credential", "show", "app1", "--json").assert_ok().json()
        planned = dt.datetime.fromisoformat(after["next_rotation_at"])
        assert not_after - dt.timedelta(days=90) <= planned <= not_after - dt.timedelta(days=60)
        assert result.stdout == (
            "Updated app1: renew_before_max_seconds, renew_before_min_seconds.\n"
            f"Next rotation re-planned for {planned.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S} UTC.\n"
        )
        assert after["versions"] == before["versions"]
        assert emulator.certificates() == remote_before

    def test_set_base_url_moves_the_account(self, cli: Cli, emulator: RunningEmulator) -> None:
        """A new base URL is where the next calls go."""
        add_credential(cli, emulator, "app1")
        cli("credential", "set", "app1", "--base-url", "http://127.0.0.1:9").assert_ok()
        assert cli("credential", "show", "app1", "--json").json()["base_url"] == "http://127.0.0.1:9"

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (("--strategy", "bogus"), "error: Unknown strategy 'bogus'."),
            (("--renew-min", "soon"), None),
            (("--validity-days", "731"), None),
            (("--key", "rsa-2048"), "error: Unknown key type 'rsa-2048'."),
            (("--base-url", "notaurl"), "error: Invalid base URL 'notaurl'."),
            ((), "error: Nothing to change."),
        ],
    )
    def test_bad_values_change_nothing(
        self, cli: Cli, emulator: RunningEmulator, tmp_path: Path, args: tuple[str, ...], message: str | None
    ) -> None:
        """Each bad value is one line with the fix, and the store is as it was."""
        add_credential(cli, emulator, "app1")
        before = store_snapshot(tmp_path / "data")
        line = cli("credential", "set", "app1", *args).assert_one_line_error()
        if message is not None:
            assert line.startswith(message)
        assert store_snapshot(tmp_path / "data") == before
