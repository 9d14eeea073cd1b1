"""Alert settings from the TOML file's [[alerts]] tables and from CERTROTOR_ALERT_WEBHOOK_URL."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from certrotor.alerts import (
    CommandChannel,
    EmailAlertSettings,
    EmailChannel,
    WebhookAlertSettings,
    WebhookChannel,
    configured_channels,
)
from certrotor.config import Settings, load_settings

CONFIG = """
alert_reminder_interval = "90m"

[[alerts]]
type = "webhook"
url = "https://hooks.example.com/services/T0/B0/path-token"
secret = "hook-secret"

[[alerts]]
type = "email"
name = "ops-mail"
host = "mail.example.com"
security = "tls"
username = "certrotor"
password = "smtp-password"
from = "certrotor@example.com"
to = ["ops@example.com"]

[[alerts]]
type = "command"
command = ["/usr/local/bin/page", "--team", "infra"]
"""


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config file named by CERTROTOR_CONFIG, and no other CERTROTOR_* variable."""
    for name in [name for name in os.environ if name.startswith("CERTROTOR_")]:
        monkeypatch.delenv(name)
    path = tmp_path / "config.toml"
    monkeypatch.setenv("CERTROTOR_CONFIG", str(path))
    monkeypatch.setenv("CERTROTOR_DATA_DIR", str(tmp_path / "data"))
    return path


class TestFromToml:
    def test_each_table_becomes_a_channel_in_order(self, config_file: Path) -> None:
        """Three tables give a webhook, an e-mail and a command channel, named by type or by name."""
        config_file.write_text(CONFIG)
        settings = load_settings()
        channels = configured_channels(settings)
        assert [type(channel) for channel in channels] == [WebhookChannel, EmailChannel, CommandChannel]
        assert [channel.name for channel in channels] == ["webhook", "ops-mail", "command"]
        assert [channel.target for channel in channels] == [
            "https://hooks.example.com",
            "smtps://mail.example.com:465",
            "command page",
        ]
        assert settings.alert_reminder_interval == dt.timedelta(minutes=90)

    def test_secrets_stay_out_of_reprs(self, config_file: Path) -> None:
        """The SMTP password, the webhook secret and the webhook URL's path never show in reprs."""
        config_file.write_text(CONFIG)
        settings = load_settings()
        text = f"{settings!r} {settings} {configured_channels(settings)!r}"
        for secret in ("smtp-password", "hook-secret", "path-token"):
            assert secret not in text

    def test_defaults_without_alerts(self, config_file: Path) -> None:
        """No tables: no channel; reminders every 6 hours."""
        settings = load_settings()
        assert configured_channels(settings) == []
        assert settings.alert_reminder_interval == dt.timedelta(hours=6)

    def test_email_ports_follow_security(self) -> None:
        """587 for STARTTLS, 465 for TLS, 25 without, unless a port is given."""
        base = {"type": "email", "host": "m", "from": "a@b.c", "to": "d@e.f"}
        ports = [
            EmailAlertSettings.model_validate({**base, "security": security}).resolved_port
            for security in ("starttls", "tls", "none")
        ]
        assert ports == [587, 465, 25]


class TestFromEnvironment:
    def test_the_webhook_url_alone_is_a_channel(
        self, config_file: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """CERTROTOR_ALERT_WEBHOOK_URL, with no config file, configures one unsigned webhook."""
        monkeypatch.setenv("CERTROTOR_ALERT_WEBHOOK_URL", "https://hooks.slack.com/services/T/B/xyz")
        (channel,) = configured_channels(load_settings())
        assert isinstance(channel, WebhookChannel)
        assert channel.name == "webhook"
        assert channel.target == "https://hooks.slack.com"

    def test_the_env_webhook_joins_the_tables_once(
        self, config_file: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A table and the variable with another URL give two webhooks; the same URL counts once."""
        config_file.write_text('[[alerts]]\ntype = "webhook"\nurl = "https://a.example/x"\n')
        monkeypatch.setenv("CERTROTOR_ALERT_WEBHOOK_URL", "https://b.example/y")
        assert [c.name for c in configured_channels(load_settings())] == ["webhook", "webhook-2"]
        monkeypatch.setenv("CERTROTOR_ALERT_WEBHOOK_URL", "https://a.example/x")
        assert [c.name for c in configured_channels(load_settings())] == ["webhook"]

    def test_the_reminder_interval_reads_durations(
        self, config_file: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """CERTROTOR_ALERT_REMINDER_INTERVAL=1d12h is a day and a half."""
        monkeypatch.setenv("CERTROTOR_ALERT_REMINDER_INTERVAL", "1d12h")
        assert load_settings().alert_reminder_interval == dt.timedelta(days=1, hours=12)


def _problem(tables: list[dict[str, object]]) -> str:
    with pytest.raises(ValidationError) as raised:
        Settings(alerts=tables)
    (error,) = raised.value.errors()
    return str(error["msg"])


class TestBadTables:
    @pytest.mark.parametrize(
        ("tables", "message"),
        [
            (
                [{"type": "webhook", "urll": "https://x.example/hook?token=abc"}],
                "[[alerts]] table 1 (type 'webhook'): unknown key 'urll' "
                "(known keys: ca_file, name, secret, timeout_seconds, type, url, verify_tls)",
            ),
            ([{"url": "https://x.example"}], "[[alerts]] table 1: the key 'type' is missing"),
            (
                [{"type": "pager"}],
                "[[alerts]] table 1: the key 'type' must be one of webhook, email, command",
            ),
            (
                [{"type": "webhook", "url": "https://x.example"}, {"type": "webhook", "url": "ftp://x"}],
                "[[alerts]] table 2 (type 'webhook'): the key 'url' "
                "must be an http:// or https:// URL with a host name",
            ),
            (
                [{"type": "email", "host": "m", "port": "many", "from": "a@b.c", "to": "d@e.f"}],
                "[[alerts]] table 1 (type 'email'): the key 'port' is invalid: "
                "input should be a valid integer, unable to parse string as an integer",
            ),
            (
                [
                    {
                        "type": "email",
                        "host": "m.example",
                        "security": "none",
                        "username": "u",
                        "password": "pw-in-clear",
                        "from": "a@b.c",
                        "to": "d@e.f",
                    }
                ],
                '[[alerts]] table 1 (type \'email\'): a login needs security = "starttls" or "tls": '
                "the password would travel in clear",
            ),
            (
                [{"type": "command", "command": []}],
                "[[alerts]] table 1 (type 'command'): the key 'command' "
                "is invalid: list should have at least 1 item after validation, not 0",
            ),
            (
                [
                    {"type": "command", "command": ["a"], "name": "x"},
                    {"type": "webhook", "url": "http://h", "name": "x"},
                ],
                "two [[alerts]] tables share the name 'x'",
            ),
        ],
    )
    def test_the_error_names_the_table_and_the_key(
        self, tables: list[dict[str, object]], message: str
    ) -> None:
        """One sentence naming the table and the key, never the value."""
        problem = _problem(tables)
        assert problem == message
        assert "token=abc" not in problem
        assert "pw-in-clear" not in problem

    def test_a_webhook_url_in_the_environment_is_checked(self) -> None:
        """A bad CERTROTOR_ALERT_WEBHOOK_URL is refused with what a good one looks like."""
        with pytest.raises(ValidationError) as raised:
            Settings(alert_webhook_url="hooks.example.com/x")
        assert "must be an http:// or https:// URL with a host name" in str(raised.value)

    def test_a_bad_reminder_interval_is_refused(self) -> None:
        """The interval must read as a duration."""
        with pytest.raises(ValidationError) as raised:
            Settings(alert_reminder_interval="often")
        assert "must be a duration such as 6h, 90m or 1d" in str(raised.value)

    def test_tables_validate_as_models_too(self) -> None:
        """Settings built in code with model instances keep them."""
        table = WebhookAlertSettings(type="webhook", url="https://x.example/h")  # type: ignore[arg-type]
        assert Settings(alerts=[table]).alerts == [table]
