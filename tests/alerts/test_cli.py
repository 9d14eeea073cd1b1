"""``certrotor alerts test`` as a user types it: one working and one failing channel, and bad settings."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from cli._support import CliResult, run_in_process

from ._receivers import WebhookReceiver, closed_port


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Only this test's settings: a data directory and the config file in tmp_path."""
    for name in [name for name in os.environ if name.startswith("CERTROTOR_")]:
        monkeypatch.delenv(name)
    path = tmp_path / "config.toml"
    monkeypatch.setenv("CERTROTOR_CONFIG", str(path))
    monkeypatch.setenv("CERTROTOR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    return path


def certrotor(*args: str) -> CliResult:
    return run_in_process(list(args))


class TestAlertsTest:
    def test_one_channel_works_one_fails(self, config_file: Path, receiver: WebhookReceiver) -> None:
        """Both channels are tried; the output says which worked and how to fix the other; exit 1."""
        port = closed_port()
        config_file.write_text(
            f'[[alerts]]\ntype = "webhook"\nname = "team-hook"\nurl = "{receiver.url}/hook"\n'
            f'secret = "hook-secret"\n\n'
            f'[[alerts]]\ntype = "email"\nname = "ops-mail"\nhost = "127.0.0.1"\nport = {port}\n'
            f'username = "certrotor"\npassword = "smtp-password"\n'
            f'from = "certrotor@example.com"\nto = "ops@example.com"\n'
        )
        result = certrotor("alerts", "test")
        assert result.stdout.splitlines() == [
            f"OK      team-hook  {receiver.url}",
            f"FAILED  ops-mail   Alert channel ops-mail (smtp://127.0.0.1:{port}) cannot be reached "
            "(Connection refused). Fix: check host, port and security of this [[alerts]] table, "
            "and the network.",
        ]
        result.assert_one_line_error(
            "error: 1 of 2 alert channels failed: ops-mail. Fix: correct each failed channel as its "
            "line says, then run `certrotor alerts test` again."
        )
        (request,) = receiver.requests
        assert request.json()["event"] == "test"
        assert request.json()["text"].startswith("certrotor: certrotor-test test alert")
        for secret in ("hook-secret", "smtp-password"):
            assert secret not in result.stdout + result.stderr

    def test_the_environment_webhook_alone_works(
        self, config_file: Path, receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """CERTROTOR_ALERT_WEBHOOK_URL with no config file: one channel, it works, exit 0."""
        monkeypatch.setenv("CERTROTOR_ALERT_WEBHOOK_URL", receiver.url + "/T/B/token-in-path")
        result = certrotor("alerts", "test", "--json").assert_ok()
        assert result.json() == [
            {"channel": "webhook", "target": receiver.url, "ok": True, "error": None, "fix": None}
        ]
        assert receiver.requests[0].path == "/T/B/token-in-path"
        assert "token-in-path" not in result.stdout

    def test_no_channel_is_a_one_line_error(self, config_file: Path) -> None:
        """Nothing configured: says how to configure a channel."""
        certrotor("alerts", "test").assert_one_line_error(
            "error: No alert channel is configured. Fix: set CERTROTOR_ALERT_WEBHOOK_URL, or add "
            "[[alerts]] tables to the config file (CERTROTOR_CONFIG); see the README's Alerts section."
        )

    def test_a_bad_table_is_a_one_line_error_naming_the_key(self, config_file: Path) -> None:
        """A misspelt key: one line naming the table and the key, not the value; exit 1."""
        config_file.write_text('[[alerts]]\ntype = "webhook"\nulr = "https://x.example/?token=abc"\n')
        line = certrotor("alerts", "test").assert_one_line_error()
        assert "[[alerts]] table 1 (type 'webhook'): unknown key 'ulr'" in line
        assert "token=abc" not in line

    def test_json_output_lists_failures_with_their_fix(self, config_file: Path) -> None:
        """--json gives channel, target, ok, error and fix for each channel."""
        config_file.write_text(f'[[alerts]]\ntype = "webhook"\nurl = "http://127.0.0.1:{closed_port()}/x"\n')
        result = certrotor("alerts", "test", "--json")
        assert result.exit_code == 1
        (entry,) = json.loads(result.stdout)
        assert entry["ok"] is False
        assert "cannot be reached" in entry["error"]
        assert entry["fix"]
