"""Structured logging: JSON lines, levels, ISO timestamps and redaction of keys and tokens."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from certrotor import crypto
from certrotor.errors import InputError
from certrotor.logging import (
    REDACTED,
    configure_logging,
    get_logger,
    is_sensitive_key,
    redact,
    reset_logging,
    scrub_text,
)
from certrotor.protocol.assertion import build_client_assertion


@pytest.fixture(scope="module")
def private_key_pem() -> str:
    return crypto.private_key_to_pem(crypto.generate_private_key(crypto.KeySpec.EC_P256)).decode()


@pytest.fixture(scope="module")
def jwt_text() -> str:
    """A real client assertion, as certrotor sends it to the token endpoint."""
    key = crypto.generate_private_key(crypto.KeySpec.EC_P256)
    return build_client_assertion(
        key,
        certificate_id="cert-1",
        client_id="client-1",
        token_url="https://1234567.suitetalk.api.netsuite.com/services/rest/auth/oauth2/v1/token",
        scopes=["rest_webservices"],
    )


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """Logging configured as JSON into a buffer; the global configuration is undone afterwards."""
    buffer = io.StringIO()
    configure_logging("info", "json", stream=buffer)
    yield buffer
    reset_logging()


def lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


class TestConfigureLogging:
    def test_json_lines_with_iso_timestamp_level_and_logger(self, stream: io.StringIO) -> None:
        """Each event is one JSON line with event, level, logger and an ISO 8601 UTC timestamp."""
        get_logger("certrotor.test").info("rotation_started", credential="acme")
        (event,) = lines(stream)
        assert event["event"] == "rotation_started"
        assert event["credential"] == "acme"
        assert event["level"] == "info"
        assert event["logger"] == "certrotor.test"
        stamp = dt.datetime.fromisoformat(event["timestamp"])
        assert stamp.utcoffset() == dt.timedelta(0)

    def test_level_filters_lower_events(self, stream: io.StringIO) -> None:
        """At level info, debug events are dropped and warnings pass."""
        log = get_logger("certrotor.test")
        log.debug("noise")
        log.warning("hook_failed")
        assert [event["event"] for event in lines(stream)] == ["hook_failed"]

    def test_stdlib_logging_goes_through_the_same_pipeline(self, stream: io.StringIO) -> None:
        """Third-party stdlib loggers (uvicorn, httpx) come out as JSON and redacted too."""
        logging.getLogger("httpx").warning("sent Authorization: Bearer abcdefghijklmnopqrstuvwxyz0123")
        (event,) = lines(stream)
        assert event["logger"] == "httpx"
        assert event["event"] == f"sent Authorization: Bearer {REDACTED}"

    def test_calling_again_replaces_the_handler(self, stream: io.StringIO) -> None:
        """A second configure_logging does not duplicate lines."""
        second = io.StringIO()
        configure_logging("debug", "json", stream=second)
        get_logger("certrotor.test").debug("once")
        assert stream.getvalue() == ""
        assert [event["event"] for event in lines(second)] == ["once"]

    def test_console_format_is_readable_and_redacted(self, stream: io.StringIO, private_key_pem: str) -> None:
        """The console renderer prints key=value text, with secrets redacted just the same."""
        console = io.StringIO()
        configure_logging("info", "console", stream=console)
        get_logger("certrotor.test").info("delivered", note=private_key_pem)
        output = console.getvalue()
        assert "delivered" in output
        assert REDACTED in output
        assert "PRIVATE KEY" not in output

    def test_auto_format_is_json_when_not_a_terminal(self, stream: io.StringIO) -> None:
        """``auto`` picks JSON for a stream that is not a terminal (a file, a pipe)."""
        auto = io.StringIO()
        configure_logging("INFO", "auto", stream=auto)
        get_logger("certrotor.test").info("hello")
        assert lines(auto)[0]["event"] == "hello"

    @pytest.mark.parametrize(
        ("level", "fmt", "message"), [("loud", "json", "log level"), ("info", "xml", "log format")]
    )
    def test_refuses_unknown_level_or_format(self, level: str, fmt: str, message: str) -> None:
        """An unknown level or format is an InputError naming the accepted choices."""
        with pytest.raises(InputError, match=message) as caught:
            configure_logging(level, fmt, stream=io.StringIO())
        assert "choose one of" in caught.value.hint


class TestRedactionInLogs:
    def test_pem_private_key_is_redacted_from_any_value(
        self, stream: io.StringIO, private_key_pem: str
    ) -> None:
        """A PEM private key, under a sensitive key or inside any string, never reaches the output."""
        log = get_logger("certrotor.test")
        log.info("keygen", private_key_pem=private_key_pem, detail=f"wrote {private_key_pem.strip()} to disk")
        log.info(f"message itself holds {private_key_pem.strip()}")
        output = stream.getvalue()
        assert "PRIVATE KEY" not in output
        first, second = lines(stream)
        assert first["private_key_pem"] == REDACTED
        assert first["detail"] == f"wrote {REDACTED} to disk"
        assert second["event"] == f"message itself holds {REDACTED}"

    def test_jwt_is_redacted_from_any_value(self, stream: io.StringIO, jwt_text: str) -> None:
        """A client assertion or access token (JWT) is replaced wherever it appears."""
        log = get_logger("certrotor.test")
        log.info("token_request", client_assertion=jwt_text, form=f"client_assertion={jwt_text}&x=1")
        log.info("answer", body={"access_token": jwt_text, "expires_in": 3600, "items": [jwt_text]})
        output = stream.getvalue()
        assert jwt_text not in output
        assert jwt_text.split(".")[2] not in output
        first, second = lines(stream)
        assert first["client_assertion"] == REDACTED
        assert first["form"] == f"client_assertion={REDACTED}&x=1"
        assert second["body"] == {"access_token": REDACTED, "expires_in": 3600, "items": [REDACTED]}

    def test_other_handlers_see_redacted_records(
        self, stream: io.StringIO, caplog: pytest.LogCaptureFixture, jwt_text: str
    ) -> None:
        """Handlers besides certrotor's (here pytest's capture) receive the event already redacted."""
        get_logger("certrotor.test").info("token_obtained", access_token=jwt_text, note=jwt_text)
        assert "token_obtained" in caplog.text
        assert jwt_text not in caplog.text

    def test_redacts_even_before_configure_logging(
        self, caplog: pytest.LogCaptureFixture, jwt_text: str
    ) -> None:
        """Without configure_logging (a library caller, a test) events are still redacted."""
        reset_logging()
        caplog.set_level(logging.INFO)
        get_logger("certrotor.test").info("unconfigured_event", note=f"token {jwt_text}")
        assert "unconfigured_event" in caplog.text
        assert jwt_text not in caplog.text

    def test_exception_tracebacks_are_scrubbed(self, stream: io.StringIO, jwt_text: str) -> None:
        """A secret inside an exception's message is scrubbed from the logged traceback."""
        log = get_logger("certrotor.test")
        try:
            raise RuntimeError(f"server refused {jwt_text}")
        except RuntimeError:
            log.exception("call_failed")
        (event,) = lines(stream)
        assert "RuntimeError: server refused" in event["exception"]
        assert jwt_text not in stream.getvalue()


class TestRedactionRules:
    @pytest.mark.parametrize(
        ("key", "sensitive"),
        [
            ("token", True),
            ("access_token", True),
            ("bootstrap_token", True),
            ("assertion", True),
            ("client_assertion", True),
            ("private_key", True),
            ("key_pem", True),
            ("secret", True),
            ("password", True),
            ("Authorization", True),
            ("X-Authorization", True),
            ("master_key", True),
            ("token_url", False),
            ("token_type", False),
            ("expires_in", False),
            ("certificate_id", False),
            ("key_type", False),
            ("fingerprint", False),
        ],
    )
    def test_sensitive_key_names(self, key: str, sensitive: bool) -> None:
        """Secret-bearing field names are recognised; ordinary ones such as token_url are not."""
        assert is_sensitive_key(key) is sensitive

    def test_scrub_leaves_ordinary_text_alone(self) -> None:
        """Text without secrets, including prose about bearer tokens, is unchanged."""
        text = "the bearer token is missing; certificate Qiljyqx_nQC-_BMDF37ghOwZI0TpgaRrThMRNWJTPlU expires"
        assert scrub_text(text) == text

    def test_scrub_truncated_pem_key(self, private_key_pem: str) -> None:
        """A PEM key cut off before its END line is still removed to the end of the text."""
        truncated = "tail: " + private_key_pem[:80]
        assert scrub_text(truncated) == f"tail: {REDACTED}"

    def test_certificates_are_not_secrets(self) -> None:
        """A PEM certificate (public) is left as it is."""
        key = crypto.generate_private_key(crypto.KeySpec.EC_P256)
        pem = crypto.certificate_to_pem(
            crypto.build_self_signed_certificate(key, common_name="c", validity_days=1)
        )
        assert scrub_text(pem) == pem

    def test_redact_recurses_and_keeps_types(self, jwt_text: str) -> None:
        """Nested dicts, lists, tuples and bytes are redacted; other values pass through."""
        value = {"headers": {"Authorization": "Bearer x"}, "parts": (jwt_text, 3), "raw": jwt_text.encode()}
        assert redact(value) == {
            "headers": {"Authorization": REDACTED},
            "parts": (REDACTED, 3),
            "raw": REDACTED,
        }
        assert redact(b"plain") == b"plain"

    def test_exception_values_become_scrubbed_text(self, jwt_text: str) -> None:
        """An exception logged as a value is rendered as its type and scrubbed message."""
        error = ValueError(f"bad token {jwt_text}")
        assert redact({"error": error}) == {"error": f"ValueError: bad token {REDACTED}"}


_APPLICATION_FIRST = """
import io, json, structlog
from certrotor.logging import get_logger
seen = []
structlog.configure(processors=[lambda logger, name, event: seen.append(event["event"]) or event,
                                structlog.processors.JSONRenderer()],
                    logger_factory=structlog.PrintLoggerFactory(io.StringIO()))
get_logger("certrotor.test").warning("from_certrotor")
print(json.dumps(seen))
"""


class TestLazyStructlog:
    def test_the_first_line_logged_loads_structlog_and_it_is_redacted(self, jwt_text: str) -> None:
        """In a fresh interpreter, nothing imports structlog until a certrotor logger is called."""
        program = (
            "import io, logging, sys\n"
            "from certrotor.logging import configure_logging, get_logger\n"
            "buffer = io.StringIO()\n"
            "configure_logging('info', 'json', stream=buffer)\n"
            "log = get_logger('certrotor.test')\n"
            "before = 'structlog' in sys.modules\n"
            f"log.info('first', note='token {jwt_text}')\n"
            "print(before, 'structlog' in sys.modules, buffer.getvalue().strip())\n"
        )
        completed = subprocess.run(
            [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=False
        )
        assert completed.returncode == 0, completed.stderr
        before, after, line = completed.stdout.strip().split(" ", 2)
        assert (before, after) == ("False", "True")
        event = json.loads(line)
        assert event["event"] == "first"
        assert jwt_text not in line

    def test_an_application_s_own_structlog_configuration_is_kept(self) -> None:
        """An application that configured structlog before certrotor's first line keeps its own."""
        completed = subprocess.run(
            [sys.executable, "-c", _APPLICATION_FIRST],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert completed.returncode == 0, completed.stderr
        assert json.loads(completed.stdout) == ["from_certrotor"]
