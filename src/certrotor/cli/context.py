"""Builds the services' runtime from settings and command-line options, and closes it afterwards."""

from __future__ import annotations

import logging
import os
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pydantic import ValidationError

from certrotor.config import Settings, config_file_path, default_config_file, load_settings
from certrotor.errors import ConfigError
from certrotor.logging import configure_logging
from certrotor.services.runtime import Runtime

_CHATTY_LIBRARIES = ("alembic", "httpx2", "httpcore", "httpcore2", "uvicorn.access")


def setup_logging(settings: Settings, *, service: bool) -> None:
    """JSON logs on stderr; one-shot commands log errors only unless CERTROTOR_LOG_LEVEL says more.

    A one-shot command prints its outcome itself; its warnings (a deferred rotation, say) would
    only repeat that outcome as a JSON line.
    """
    level = settings.log_level if (service or "CERTROTOR_LOG_LEVEL" in os.environ) else "ERROR"
    configure_logging(level, settings.log_format)
    for name in _CHATTY_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)


_FIX_SETTINGS = "correct it in the environment or in the config file named by CERTROTOR_CONFIG."


def load_cli_settings(**overrides: Any) -> Settings:
    """Settings, with a bad value or a broken config file as one ConfigError (never the value itself)."""
    try:
        return load_settings(**overrides)
    except ValidationError as exc:
        problem = exc.errors()[0]
        name = "_".join(str(part) for part in problem["loc"]).upper()
        field = str(problem["loc"][0]) if problem["loc"] else name.lower()
        # Validated alike wherever it came from; the message names where this value was read.
        where = f"CERTROTOR_{name}"
        if f"CERTROTOR_{field.upper()}" not in os.environ and config_file_path().is_file():
            where = f"{field} in {config_file_path()}"
        message = problem["msg"].removeprefix("Value error, ")
        # The offending value is left out on purpose: it may be a master key or a token.
        raise ConfigError(f"The setting {where} is invalid: {message}.", hint=_FIX_SETTINGS) from None
    except tomllib.TOMLDecodeError as exc:
        config_file = os.environ.get("CERTROTOR_CONFIG") or default_config_file()
        raise ConfigError(
            f"The config file {config_file} is not valid TOML: {exc}.",
            hint="fix the file, or point CERTROTOR_CONFIG at another one.",
        ) from None


@contextmanager
def open_runtime(
    token: str | None = None, *, service: bool = False, check_master_key: bool = True
) -> Iterator[Runtime]:
    settings = load_cli_settings()
    setup_logging(settings, service=service)
    runtime = Runtime(settings, token_override=token, check_master_key=check_master_key)
    try:
        yield runtime
    finally:
        runtime.close()
