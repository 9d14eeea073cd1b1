"""Settings from environment variables (``CERTROTOR_*``) and an optional TOML file."""

from __future__ import annotations

import datetime as dt
import difflib
import os
import tomllib
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BeforeValidator, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from certrotor.alerts.settings import (
    DEFAULT_REMINDER_INTERVAL,
    AlertChannelSettings,
    WebhookUrl,
    parse_alert_tables,
    parse_reminder_interval,
    safe_origin,
)
from certrotor.durations import format_duration
from certrotor.errors import ConfigError
from certrotor.userfiles import read_user_file

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
LOG_FORMATS = ("auto", "json", "console")


def default_data_dir() -> Path:
    """The per-user data directory (``$XDG_DATA_HOME/certrotor``)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "certrotor"


def default_config_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "certrotor" / "config.toml"


class _UserTomlSource(TomlConfigSettingsSource):
    """The config file read as every file a user names: a regular file of at most 1 MiB, UTF-8."""

    @staticmethod
    def _existing_files(files: Any) -> list[Path | Traversable]:
        # Anything at the path is read, so that a FIFO or a device is refused rather than skipped.
        return [Path(file).expanduser() for file in ([files] if files else []) if os.path.lexists(file)]

    def _read_file(self, file_path: Path | Traversable) -> dict[str, Any]:
        hint = "point CERTROTOR_CONFIG at a TOML file."
        data = read_user_file(Path(str(file_path)), what="the config file", hint=hint)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigError(f"The config file {file_path} is not UTF-8 text.", hint=hint) from None
        return tomllib.loads(text)


def config_file_path() -> Path:
    """The config file in use: ``CERTROTOR_CONFIG``, else the per-user default (it need not exist)."""
    return Path(os.environ.get("CERTROTOR_CONFIG") or default_config_file())


class _CheckedTomlSource(_UserTomlSource):
    """The TOML file, refusing a key that is no setting (``datadir``) and naming the close match."""

    def __init__(self, settings_cls: type[BaseSettings], toml_file: Path) -> None:
        super().__init__(settings_cls, toml_file=toml_file)
        known = sorted(settings_cls.model_fields)
        for key in self.toml_data:
            if key not in settings_cls.model_fields:
                close = difflib.get_close_matches(key, known, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                raise ConfigError(
                    f"The config file {toml_file} has an unknown setting {key!r}.",
                    hint=f"{hint}The settings are listed in docs/config.example.toml "
                    "(`certrotor config show` prints the effective ones).",
                )


def _choice(value: object, choices: tuple[str, ...], what: str) -> str:
    """One of ``choices`` (case and surrounding blanks ignored), for the file and the environment alike."""
    name = str(value).strip().lower()
    if what == "log level" and name == "warn":
        name = "warning"
    if name not in choices:
        raise ValueError(f"unknown {what} {str(value)!r}; choose one of: {', '.join(choices)}")
    return name


class Settings(BaseSettings):
    """Every knob of certrotor; environment variables win over the TOML file."""

    model_config = SettingsConfigDict(env_prefix="CERTROTOR_", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str | None = None
    """SQLAlchemy URL; default ``sqlite:///<data_dir>/certrotor.db``. PostgreSQL: ``postgresql+psycopg://...``."""
    master_key: SecretStr | None = None
    """Base64url 32-byte key encrypting private keys at rest; else ``master_key_file``."""
    master_key_file: Path | None = None
    bootstrap_token: SecretStr | None = None
    """A management access token given by the user (NetSuite UI or authorization code grant)."""
    delivery_dir: Path | None = None
    """Where current keys and certificates are delivered; default ``<data_dir>/deliver``."""
    log_level: str = "info"
    log_format: str = "auto"
    """``json``, ``console`` or ``auto`` (JSON unless stderr is a terminal)."""
    http_timeout_seconds: float = 30.0
    observe_concurrency: int = Field(default=32, ge=1)
    """Remote checks of health and observation passes in flight at once, overall."""
    observe_per_account: int = Field(default=5, ge=1)
    """Requests in flight at once per NetSuite account: NetSuite allows 5 (Standard tier) to 20
    (Enterprise, Ultimate), plus 10 per SuiteCloud Plus license, shared with other integrations."""
    alerts: Annotated[list[AlertChannelSettings], BeforeValidator(parse_alert_tables)] = Field(
        default_factory=list
    )
    """Alert channels: the config file's ``[[alerts]]`` tables (``type = "webhook"|"email"|"command"``)."""
    alert_webhook_url: WebhookUrl | None = None
    """One webhook channel without a config file (``CERTROTOR_ALERT_WEBHOOK_URL``), the common case."""
    alert_reminder_interval: Annotated[dt.timedelta, BeforeValidator(parse_reminder_interval)] = (
        DEFAULT_REMINDER_INTERVAL
    )
    """How often a credential that stays CRIT is alerted again (``6h``, ``90m``, ``1d``)."""
    limit_error_codes: list[str] = Field(default_factory=lambda: ["CERTIFICATE_LIMIT_REACHED"])
    """Error codes of an upload refused because the integration is full (NetSuite's own is not
    documented; the rotation also decides from the certificate list). TOML list or JSON in the env."""
    duplicate_error_codes: list[str] = Field(default_factory=lambda: ["DUPLICATE_CERTIFICATE"])
    """Error codes of an upload refused because NetSuite already holds that certificate."""

    @field_validator("log_level", mode="before")
    @classmethod
    def _known_log_level(cls, value: object) -> str:
        return _choice(value, LOG_LEVELS, "log level")

    @field_validator("log_format", mode="before")
    @classmethod
    def _known_log_format(cls, value: object) -> str:
        return _choice(value, LOG_FORMATS, "log format")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _CheckedTomlSource(settings_cls, config_file_path()))

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'certrotor.db'}"

    @property
    def resolved_master_key_file(self) -> Path:
        return self.master_key_file or self.data_dir / "master.key"

    @property
    def resolved_delivery_dir(self) -> Path:
        return self.delivery_dir or self.data_dir / "deliver"


def load_settings(**overrides: Any) -> Settings:
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


SettingSource = Literal["default", "file", "env", "option"]


@dataclass(frozen=True, slots=True)
class SettingView:
    """One effective setting as ``certrotor config show`` prints it: secrets masked, with its source."""

    name: str
    env_name: str
    value: str
    source: SettingSource


MASK = "********"
_DERIVED = {
    "database_url": "resolved_database_url",
    "master_key_file": "resolved_master_key_file",
    "delivery_dir": "resolved_delivery_dir",
}
"""Settings whose default is derived from another one: shown as they resolve."""


def _masked_url(url: str) -> str:
    """A database URL without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", f":{MASK}@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _shown(settings: Settings, name: str) -> str:
    value = getattr(settings, name)
    if value is None and name in _DERIVED:
        value = getattr(settings, _DERIVED[name])
    if name == "alert_webhook_url" and isinstance(value, SecretStr):
        return f"{safe_origin(value.get_secret_value())}/{MASK}"
    if isinstance(value, SecretStr):
        return MASK
    if value is None:
        return "-"
    if name == "database_url":
        return _masked_url(str(value))
    if name == "alerts":
        channels: list[AlertChannelSettings] = value
        return (
            ", ".join(
                f"{channel.type} {channel.name}" if channel.name else channel.type for channel in channels
            )
            or "-"
        )
    if isinstance(value, dt.timedelta):
        return format_duration(value)
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value) or "-"
    return str(value)


def describe_settings(settings: Settings, overrides: frozenset[str] = frozenset()) -> list[SettingView]:
    """Every setting in declaration order: its effective value (secrets masked) and where it came from.

    ``overrides``: the names a command-line option set (``option``). The environment wins over the
    config file, which wins over the default, as when the settings were loaded.
    """
    in_file = set(_CheckedTomlSource(Settings, config_file_path()).toml_data)
    environment = {key.upper() for key in os.environ}
    views = []
    for name in Settings.model_fields:
        env_name = f"CERTROTOR_{name.upper()}"
        source: SettingSource = "default"
        if name in overrides:
            source = "option"
        elif env_name in environment:
            source = "env"
        elif name in in_file:
            source = "file"
        views.append(SettingView(name, env_name, _shown(settings, name), source))
    return views
