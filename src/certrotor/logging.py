"""Structured logging (structlog): JSON lines or a console view, with secrets redacted from every event.

:func:`configure_logging` routes structlog and the standard library's ``logging`` (uvicorn, httpx,
alembic) through one handler, so the redaction processor sees every line before it is written.
structlog itself is imported, and set up, when the first line is logged: a command that logs nothing
does not pay for it (about 25 ms of start-up).
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any, TextIO, cast

from certrotor.errors import InputError

if TYPE_CHECKING:
    import structlog
    from structlog.typing import EventDict, Processor, WrappedLogger

REDACTED = "[REDACTED]"

SENSITIVE_KEYS = frozenset(
    {
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "assertion",
        "client_assertion",
        "private_key",
        "key_pem",
        "private_key_pem",
        "secret",
        "client_secret",
        "password",
        "passphrase",
        "authorization",
        "master_key",
        "code_verifier",
        "cookie",
    }
)
"""Keys whose values are always replaced; a key also matches when it ends with ``_<one of these>``."""

_PRIVATE_KEY_BLOCK = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)", re.DOTALL
)
# A compact JWS/JWT: base64url JSON header (always starts "eyJ", i.e. '{"'), payload, signature.
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*")
# Real tokens are long; the length floor keeps prose such as "the bearer token is missing" readable.
_BEARER = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]{12,}")
_KEY_VALUE = re.compile(
    r"(?i)\b((?:access_|refresh_|id_)?token|client_assertion|assertion|code_verifier|password|"
    r"client_secret|secret)=[^&\s\"']+"
)

LEVELS = ("debug", "info", "warning", "error", "critical")
FORMATS = ("auto", "json", "console")


def is_sensitive_key(key: str) -> bool:
    """Whether a field named ``key`` holds a secret (``access_token``, ``X-Authorization``, ...)."""
    normalized = key.strip().lower().replace("-", "_")
    return normalized in SENSITIVE_KEYS or any(normalized.endswith("_" + name) for name in SENSITIVE_KEYS)


def scrub_text(text: str) -> str:
    """Replace PEM private key blocks, JWTs, bearer tokens and ``token=...`` pairs in free text."""
    if not text:
        return text
    text = _PRIVATE_KEY_BLOCK.sub(REDACTED, text)
    text = _JWT.sub(REDACTED, text)
    text = _BEARER.sub(lambda match: f"{match.group(1)} {REDACTED}", text)
    return _KEY_VALUE.sub(lambda match: f"{match.group(1)}={REDACTED}", text)


def redact(value: Any) -> Any:
    """A copy of ``value`` with secrets replaced, recursing into mappings, lists, tuples and sets."""
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, bytes | bytearray):
        text = bytes(value).decode("utf-8", "replace")
        scrubbed = scrub_text(text)
        return scrubbed if scrubbed != text else value
    if isinstance(value, Mapping):
        return {
            key: REDACTED if isinstance(key, str) and is_sensitive_key(key) else redact(item)
            for key, item in value.items()
        }
    if isinstance(value, BaseException):
        # Renderers would fall back to repr(), which no one has scrubbed; give the text instead.
        return scrub_text(f"{type(value).__name__}: {value}")
    if isinstance(value, tuple):
        return tuple(redact(item) for item in value)
    if isinstance(value, list | set | frozenset):
        return type(value)(redact(item) for item in value)
    return value


def redact_secrets(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """structlog processor: redact sensitive keys and scrub secrets out of every value."""
    return {key: REDACTED if is_sensitive_key(key) else redact(value) for key, value in event_dict.items()}


class _CertrotorHandler(logging.StreamHandler[TextIO]):
    """The one handler :func:`configure_logging` installs (and replaces when called again); it builds
    its structlog formatter for the first record it writes."""

    def __init__(self, stream: TextIO, choice: str) -> None:
        super().__init__(stream)
        self._choice = choice

    def format(self, record: logging.LogRecord) -> str:
        if self.formatter is None:  # emit() holds the handler's lock: built once
            self.setFormatter(_processor_formatter(self._choice, self.stream))
        return super().format(record)


def _parse_level(level: str | int) -> int:
    if isinstance(level, int) and not isinstance(level, bool):
        return level
    name = str(level).strip().lower()
    if name == "warn":
        name = "warning"
    if name not in LEVELS:
        raise InputError(f"Unknown log level {level!r}.", hint=f"choose one of: {', '.join(LEVELS)}.")
    return int(getattr(logging, name.upper()))


def _format_choice(fmt: str, stream: TextIO) -> str:
    """``console`` or ``json`` (``auto``: console when the stream is a terminal)."""
    choice = fmt.strip().lower()
    if choice not in FORMATS:
        raise InputError(f"Unknown log format {fmt!r}.", hint=f"choose one of: {', '.join(FORMATS)}.")
    if choice == "auto":
        choice = "console" if stream.isatty() else "json"
    return choice


def _shared_processors(structlog: ModuleType) -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]


def _processor_formatter(choice: str, stream: TextIO) -> logging.Formatter:
    """The formatter that renders every record (structlog's or stdlib's) redacted."""
    structlog = _structlog()
    if choice == "console":
        renderer: Processor = structlog.dev.ConsoleRenderer(colors=stream.isatty())
    else:
        renderer = structlog.processors.JSONRenderer(sort_keys=True)
    formatter: logging.Formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(structlog),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            # Records from stdlib loggers arrive here unredacted; exceptions become text first so
            # that the redaction also scrubs tracebacks.
            structlog.processors.format_exc_info,
            redact_secrets,
            renderer,
        ],
    )
    return formatter


class _StructlogSetup:
    """Whether certrotor's structlog configuration is still to be applied (at structlog's import)."""

    lock = threading.Lock()
    pending = True
    """Set by configure_logging and reset_logging: apply ours even over an application's own."""
    forced = False


def _structlog() -> ModuleType:
    """structlog, imported on first use and set up once: events become redacted stdlib records.

    An application that configured structlog itself keeps its configuration, unless the CLI or the
    daemon called :func:`configure_logging`. structlog's own default would print unredacted events to
    stdout: it is never left in place.
    """
    import structlog

    if _StructlogSetup.pending:
        with _StructlogSetup.lock:
            if _StructlogSetup.pending:
                if _StructlogSetup.forced or not structlog.is_configured():
                    _configure_structlog(structlog)
                _StructlogSetup.pending = False
    return structlog


def _configure_structlog(structlog: ModuleType) -> None:
    """structlog events become redacted stdlib records; handlers decide where they go."""
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared_processors(structlog),
            structlog.stdlib.PositionalArgumentsFormatter(),
            # Redact before the event becomes a LogRecord: other handlers on the root logger
            # (pytest's capture, a user's own) must never see a secret either.
            structlog.processors.format_exc_info,
            redact_secrets,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )


def _apply_ours() -> None:
    """certrotor's structlog configuration, now if structlog is loaded, else at its first use."""
    with _StructlogSetup.lock:
        _StructlogSetup.pending = True
        _StructlogSetup.forced = True
    if "structlog" in sys.modules:
        _structlog()


def _remove_handlers(root: logging.Logger) -> None:
    for old in [h for h in root.handlers if isinstance(h, _CertrotorHandler)]:
        root.removeHandler(old)


def configure_logging(level: str | int = "info", fmt: str = "auto", *, stream: TextIO | None = None) -> None:
    """Send structlog and stdlib logging to ``stream`` (default stderr) as JSON lines or console text.

    ``fmt`` is ``json``, ``console`` or ``auto`` (console when the stream is a terminal). Timestamps
    are ISO 8601 in UTC. Calling it again replaces the previous configuration.
    """
    numeric_level = _parse_level(level)
    output = stream if stream is not None else sys.stderr
    handler = _CertrotorHandler(output, _format_choice(fmt, output))
    _apply_ours()
    root = logging.getLogger()
    _remove_handlers(root)
    root.addHandler(handler)
    root.setLevel(numeric_level)


def reset_logging() -> None:
    """Undo :func:`configure_logging` (for tests): no certrotor handler, root at WARNING, still redacting."""
    root = logging.getLogger()
    _remove_handlers(root)
    root.setLevel(logging.WARNING)
    _apply_ours()


class _Logger:
    """A module's logger; structlog is imported (and set up) at its first call."""

    __slots__ = ("_logger", "_name")

    def __init__(self, name: str) -> None:
        self._name = name
        self._logger: Any = None

    def __getattr__(self, attribute: str) -> Any:
        logger = self._logger
        if logger is None:
            logger = self._logger = _structlog().stdlib.get_logger(self._name)
        return getattr(logger, attribute)

    def __repr__(self) -> str:
        return f"<certrotor logger {self._name!r}>"


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A structured logger named ``name`` (use the module's ``__name__``)."""
    return cast("structlog.stdlib.BoundLogger", _Logger(name))
