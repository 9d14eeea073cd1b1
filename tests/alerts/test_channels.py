"""Each channel against a real receiver: webhook over HTTP, e-mail over SMTP (aiosmtpd), a real command."""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import json
import stat
from pathlib import Path

import pytest

from certrotor.alerts import (
    AlertDeliveryError,
    CommandAlertSettings,
    CommandChannel,
    EmailAlertSettings,
    EmailChannel,
    WebhookAlertSettings,
    WebhookChannel,
)

from ._receivers import TlsFiles, WebhookReceiver, closed_port, smtp_server
from .test_message import crit_alert

SECRET = "webhook-shared-secret"
PASSWORD = "s3cret-pw"


def webhook(url: str, **fields: object) -> WebhookChannel:
    return WebhookChannel(
        "hook", WebhookAlertSettings.model_validate({"type": "webhook", "url": url, **fields})
    )


def mail(port: int, tls: TlsFiles, **fields: object) -> EmailChannel:
    table = {
        "type": "email",
        "host": "127.0.0.1",
        "port": port,
        "username": "alerts",
        "password": PASSWORD,
        "from": "certrotor@example.com",
        "to": ["ops@example.com", "oncall@example.com"],
        "ca_file": str(tls.certificate),
        **fields,
    }
    return EmailChannel("mail", EmailAlertSettings.model_validate(table))


class TestWebhook:
    def test_posts_the_json_body_with_its_hmac_signature(self, receiver: WebhookReceiver) -> None:
        """The receiver gets the alert JSON, and the signature header verifies with the shared secret."""
        alert = crit_alert()
        webhook(receiver.url + "/hooks/certrotor?token=abc", secret=SECRET).send(alert)
        (request,) = receiver.requests
        assert request.path == "/hooks/certrotor?token=abc"
        assert request.headers["Content-Type"] == "application/json"
        assert request.json() == alert.to_payload()
        expected = hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
        assert request.headers["X-Certrotor-Signature"] == f"sha256={expected}"
        assert request.headers["X-Certrotor-Event"] == "status_changed"

    def test_without_a_secret_no_signature_header(self, receiver: WebhookReceiver) -> None:
        """An unsigned webhook sends no signature header at all."""
        webhook(receiver.url).send(crit_alert())
        assert "X-Certrotor-Signature" not in receiver.requests[0].headers

    def test_a_5xx_answer_is_a_retryable_failure(self, receiver: WebhookReceiver) -> None:
        """HTTP 503 raises a retryable error naming the status, with a fix."""
        receiver.status = 503
        with pytest.raises(AlertDeliveryError) as raised:
            webhook(receiver.url).send(crit_alert())
        assert raised.value.retryable
        assert "answered HTTP 503" in raised.value.message
        assert raised.value.hint

    def test_a_404_is_not_retried(self, receiver: WebhookReceiver) -> None:
        """An unknown webhook URL will not heal by itself: not retryable."""
        receiver.status = 404
        with pytest.raises(AlertDeliveryError) as raised:
            webhook(receiver.url).send(crit_alert())
        assert not raised.value.retryable

    def test_a_closed_port_fails_without_showing_the_url_path_or_query(self) -> None:
        """The error names only scheme, host and port: the URL's path and query may hold a token."""
        port = closed_port()
        channel = webhook(f"http://127.0.0.1:{port}/services/T0/B0/path-token?token=query-token")
        with pytest.raises(AlertDeliveryError) as raised:
            channel.send(crit_alert())
        text = f"{raised.value} {raised.value!r} {channel!r}"
        assert f"http://127.0.0.1:{port}" in str(raised.value)
        assert "path-token" not in text
        assert "query-token" not in text


class TestEmail:
    def test_starttls_with_login_delivers_to_every_recipient(self, tls_files: TlsFiles) -> None:
        """STARTTLS with a self-signed certificate trusted through ca_file, login, one message."""
        with smtp_server(tls_files, password=PASSWORD) as server:
            mail(server.port, tls_files).send(crit_alert())
            (envelope,) = server.sink.messages
        assert server.sink.logins == [("alerts", True)]
        assert envelope.mail_from == "certrotor@example.com"
        assert envelope.rcpt_tos == ["ops@example.com", "oncall@example.com"]
        message = email.message_from_bytes(envelope.original_content or b"", policy=email.policy.default)
        assert message["Subject"] == "[certrotor] CRIT demo: now CRIT (was OK)"
        body = message.get_content()
        assert "Fix: certrotor rotate demo" in body

    @pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
    def test_implicit_tls_with_login_delivers(self, tls_files: TlsFiles) -> None:
        """security = "tls" talks TLS from the first byte (SMTPS)."""
        with smtp_server(tls_files, implicit_tls=True, password=PASSWORD) as server:
            mail(server.port, tls_files, security="tls").send(crit_alert())
            assert len(server.sink.messages) == 1

    def test_a_wrong_password_is_refused_without_retry_or_leak(self, tls_files: TlsFiles) -> None:
        """Refused login: not retryable, says to check the login, never shows the password."""
        with smtp_server(tls_files, password="the-real-one") as server:
            channel = mail(server.port, tls_files)
            with pytest.raises(AlertDeliveryError) as raised:
                channel.send(crit_alert())
        assert not raised.value.retryable
        assert "refused the login" in raised.value.message
        assert PASSWORD not in f"{raised.value} {raised.value!r} {channel!r}"

    def test_an_untrusted_certificate_is_refused(self, tls_files: TlsFiles, tmp_path: Path) -> None:
        """Without ca_file the self-signed certificate is not trusted: the fix names ca_file."""
        with smtp_server(tls_files) as server:
            channel = mail(server.port, tls_files, ca_file=None)
            with pytest.raises(AlertDeliveryError) as raised:
                channel.send(crit_alert())
        assert "not trusted" in raised.value.message
        assert "ca_file" in raised.value.hint

    def test_repr_of_the_settings_hides_the_password(self, tls_files: TlsFiles) -> None:
        """SecretStr: neither repr nor str of the settings carries the password."""
        settings = EmailAlertSettings.model_validate(
            {
                "type": "email",
                "host": "mail",
                "username": "u",
                "password": PASSWORD,
                "from": "a@b.c",
                "to": "d@e.f",
            }
        )
        assert PASSWORD not in repr(settings)
        assert PASSWORD not in str(settings)


class TestCommand:
    def _script(self, tmp_path: Path, body: str) -> Path:
        script = tmp_path / "notify.py"
        script.write_text(f"#!/usr/bin/env python3\nimport sys, json, os\n{body}\n")
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
        return script

    def test_gets_the_alert_json_on_stdin_without_certrotor_settings(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The script reads the payload from stdin; CERTROTOR_* settings (master key) are not passed on."""
        monkeypatch.setenv("CERTROTOR_MASTER_KEY", "must-not-leak")
        out = tmp_path / "got.json"
        script = self._script(
            tmp_path,
            f"data = json.load(sys.stdin)\n"
            f"data['_leak'] = os.environ.get('CERTROTOR_MASTER_KEY')\n"
            f"data['_status_env'] = os.environ.get('CERTROTOR_ALERT_STATUS')\n"
            f"open({str(out)!r}, 'w').write(json.dumps(data))",
        )
        alert = crit_alert()
        CommandChannel("cmd", CommandAlertSettings(type="command", command=[str(script)])).send(alert)
        received = json.loads(out.read_text())
        assert received.pop("_leak") is None
        assert received.pop("_status_env") == "CRIT"
        assert received == alert.to_payload()

    def test_a_nonzero_exit_is_a_failure_with_the_last_stderr_line(self, tmp_path: Path) -> None:
        """Exit 3 fails, naming the code and what the script printed last on stderr."""
        script = self._script(tmp_path, "print('relay down', file=sys.stderr)\nsys.exit(3)")
        with pytest.raises(AlertDeliveryError) as raised:
            CommandChannel("cmd", CommandAlertSettings(type="command", command=[str(script)])).send(
                crit_alert()
            )
        assert "exited with code 3: relay down" in raised.value.message
        assert raised.value.retryable

    def test_a_missing_program_is_not_retried(self, tmp_path: Path) -> None:
        """A program that does not exist fails at once with the fix."""
        channel = CommandChannel(
            "cmd", CommandAlertSettings(type="command", command=[str(tmp_path / "nope")])
        )
        with pytest.raises(AlertDeliveryError) as raised:
            channel.send(crit_alert())
        assert not raised.value.retryable
        assert "full path" in raised.value.hint

    def test_arguments_are_passed_as_given_without_a_shell(self, tmp_path: Path) -> None:
        """An argument with shell syntax arrives literally."""
        out = tmp_path / "argv.json"
        script = self._script(tmp_path, f"open({str(out)!r}, 'w').write(json.dumps(sys.argv[1:]))")
        argv = [str(script), "$(id)", "a b;c"]
        CommandChannel("cmd", CommandAlertSettings(type="command", command=argv)).send(crit_alert())
        assert json.loads(out.read_text()) == ["$(id)", "a b;c"]
