"""Settings from environment variables (``CERTROTOR_*``) and an optional TOML file."""

from __future__ import annotations

import datetime as dt
import os
import tomllib
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, SecretStr
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
)
from certrotor.errors import ConfigError
from certrotor.userfiles import read_user_file


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
    log_level: str = "INFO"
    log_format: str = "auto"
    """``json``, ``console`` or ``auto`` (JSON unless stderr is a terminal)."""
    http_timeout_seconds: float = 30.0
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

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        config_file = Path(os.environ.get("CERTROTOR_CONFIG") or default_config_file())
        toml = _UserTomlSource(settings_cls, toml_file=config_file)
        return (init_settings, env_settings, toml)

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
