"""Alert channel settings: the ``[[alerts]]`` tables of the config file, checked key by key; no I/O.

A bad table is refused with one line naming the table and the key, never the value (it may be a
password or a webhook URL that embeds a token).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from certrotor.durations import parse_duration
from certrotor.errors import InputError

DEFAULT_REMINDER_INTERVAL = dt.timedelta(hours=6)
CHANNEL_TYPES = ("webhook", "email", "command")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_ADDRESS = re.compile(r"[^@\s<>,;\"']+@[^@\s<>,;\"']+")


def _check_webhook_url(url: SecretStr) -> SecretStr:
    parsed = urllib.parse.urlsplit(url.get_secret_value())
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise PydanticCustomError("webhook_url", "must be an http:// or https:// URL with a host name")
    return url


WebhookUrl = Annotated[SecretStr, AfterValidator(_check_webhook_url)]
"""A webhook URL: a secret, since Slack and Teams URLs embed their token in the path or query."""


def safe_origin(url: str) -> str:
    """``scheme://host[:port]`` of a URL: what logs and output may show of a webhook URL."""
    parsed = urllib.parse.urlsplit(url)
    host = parsed.hostname or "?"
    if ":" in host:
        host = f"[{host}]"
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{host}{port}"


class _ChannelSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = None
    """Label in logs, metrics and ``alerts test`` output; default the type (``webhook``, ``webhook-2``)."""
    timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    """Upper bound of one delivery attempt."""

    @field_validator("name")
    @classmethod
    def _name_shape(cls, name: str | None) -> str | None:
        if name is not None and not _NAME.fullmatch(name):
            raise PydanticCustomError("channel_name", "must be 1-64 letters, digits, '.', '_' or '-'")
        return name


class WebhookAlertSettings(_ChannelSettings):
    """``type = "webhook"``: a JSON POST, optionally signed with HMAC-SHA256."""

    type: Literal["webhook"]
    url: WebhookUrl
    secret: SecretStr | None = None
    """Shared secret: the body is signed in ``X-Certrotor-Signature: sha256=<hex>``."""
    verify_tls: bool = True
    ca_file: Path | None = None
    """A CA bundle (PEM) that signs the receiver's certificate, for a private CA."""


class EmailAlertSettings(_ChannelSettings):
    """``type = "email"``: SMTP with STARTTLS (default, port 587), implicit TLS (465) or none (25)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    type: Literal["email"]
    host: str = Field(min_length=1, max_length=253)
    port: int | None = Field(default=None, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    from_address: str = Field(alias="from")
    to: list[str] = Field(min_length=1)
    ca_file: Path | None = None
    """A CA bundle (PEM) that signs the SMTP server's certificate, for a private CA."""

    @field_validator("to", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("from_address")
    @classmethod
    def _from_shape(cls, value: str) -> str:
        if not _ADDRESS.fullmatch(value):
            raise PydanticCustomError(
                "email_address", "must be one e-mail address such as certrotor@example.com"
            )
        return value

    @field_validator("to")
    @classmethod
    def _to_shape(cls, value: list[str]) -> list[str]:
        if not all(_ADDRESS.fullmatch(address) for address in value):
            raise PydanticCustomError("email_address", "must be e-mail addresses such as ops@example.com")
        return value

    @model_validator(mode="after")
    def _login_needs_tls(self) -> EmailAlertSettings:
        if (self.username is None) != (self.password is None):
            raise PydanticCustomError("smtp_login", "username and password go together: give both or neither")
        if self.password is not None and self.security == "none" and not _is_loopback(self.host):
            raise PydanticCustomError(
                "smtp_login",
                'a login needs security = "starttls" or "tls": the password would travel in clear',
            )
        return self

    @property
    def resolved_port(self) -> int:
        if self.port is not None:
            return self.port
        return {"starttls": 587, "tls": 465, "none": 25}[self.security]


class CommandAlertSettings(_ChannelSettings):
    """``type = "command"``: run ``command`` (an argv list, no shell) with the alert JSON on stdin."""

    type: Literal["command"]
    command: list[str] = Field(min_length=1)
    timeout_seconds: float = Field(default=30.0, gt=0, le=300)

    @field_validator("command")
    @classmethod
    def _program_given(cls, value: list[str]) -> list[str]:
        if not value[0].strip():
            raise PydanticCustomError("command", "must start with the program to run")
        return value


AlertChannelSettings = WebhookAlertSettings | EmailAlertSettings | CommandAlertSettings
_MODELS: dict[str, type[_ChannelSettings]] = {
    "webhook": WebhookAlertSettings,
    "email": EmailAlertSettings,
    "command": CommandAlertSettings,
}


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _problem(table: int, kind: str, error: ValidationError) -> PydanticCustomError:
    """The first problem of one table as a sentence naming the key; the value is never shown."""
    # A misspelt key shows up both as unknown and as the missing real one: name the typo.
    problems = sorted(error.errors(), key=lambda problem: problem["type"] != "extra_forbidden")
    first = problems[0]
    key = ".".join(str(part) for part in first["loc"]) or None
    where = f"[[alerts]] table {table} (type {kind!r})"
    if first["type"] == "extra_forbidden":
        known = ", ".join(sorted({f.alias or n for n, f in _MODELS[kind].model_fields.items()}))
        sentence = f"{where}: unknown key {key!r} (known keys: {known})"
    elif first["type"] == "missing":
        sentence = f"{where}: the key {key!r} is missing"
    elif key is None:
        sentence = f"{where}: {first['msg']}"
    else:
        sentence = f"{where}: the key {key!r} {_lower_first(first['msg'])}"
    # The template goes through str.format: braces in a user's key name must stay literal.
    return PydanticCustomError("alert_settings", sentence.replace("{", "{{").replace("}", "}}"))


def _lower_first(message: str) -> str:
    message = message.removeprefix("Value error, ")
    if message.startswith(("must", "username")):
        return message
    return "is invalid: " + message[:1].lower() + message[1:]


def parse_alert_tables(value: Any) -> list[AlertChannelSettings]:
    """Validate the ``[[alerts]]`` tables in order; the first bad one is refused, naming its key."""
    if value is None:
        return []
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, Sequence) or isinstance(value, str | bytes):
        raise PydanticCustomError("alert_settings", "alerts must be a list of [[alerts]] tables")
    channels: list[AlertChannelSettings] = []
    for index, table in enumerate(value, start=1):
        if isinstance(table, _ChannelSettings):
            channels.append(table)  # type: ignore[arg-type]
            continue
        if not isinstance(table, dict):
            raise PydanticCustomError("alert_settings", f"[[alerts]] table {index} is not a table")
        kind = table.get("type")
        if kind not in _MODELS:
            sentence = (
                f"[[alerts]] table {index}: the key 'type' is missing"
                if kind is None
                else f"[[alerts]] table {index}: the key 'type' must be one of {', '.join(CHANNEL_TYPES)}"
            )
            raise PydanticCustomError("alert_settings", sentence)
        try:
            channels.append(_MODELS[kind].model_validate(table))  # type: ignore[arg-type]
        except ValidationError as error:
            raise _problem(index, kind, error) from None
    names = [channel_name(channel, channels) for channel in channels]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise PydanticCustomError("alert_settings", f"two [[alerts]] tables share the name {duplicates[0]!r}")
    return channels


def channel_name(channel: AlertChannelSettings, channels: Sequence[AlertChannelSettings]) -> str:
    """The channel's own name, else its type numbered among channels of that type (``webhook-2``)."""
    if channel.name:
        return channel.name
    same_type = [other for other in channels if other.type == channel.type and not other.name]
    position = next(index for index, other in enumerate(same_type, start=1) if other is channel)
    return channel.type if position == 1 else f"{channel.type}-{position}"


def parse_reminder_interval(value: Any) -> dt.timedelta:
    """``6h``, ``90m``, ``1d`` or seconds: how often a CRIT credential is alerted again."""
    try:
        return parse_duration(value)
    except InputError as error:
        raise PydanticCustomError("duration", "must be a duration such as 6h, 90m or 1d") from error
