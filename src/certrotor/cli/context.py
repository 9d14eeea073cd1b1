"""Builds the services' runtime from settings and command-line options, and closes it afterwards."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

from certrotor.config import Settings, load_settings
from certrotor.logging import configure_logging
from certrotor.services.runtime import Runtime

_CHATTY_LIBRARIES = ("alembic", "httpx2", "httpcore", "uvicorn.access")


def setup_logging(settings: Settings, *, service: bool) -> None:
    """JSON logs on stderr; one-shot commands log warnings only unless CERTROTOR_LOG_LEVEL says more."""
    level = settings.log_level if (service or "CERTROTOR_LOG_LEVEL" in os.environ) else "WARNING"
    configure_logging(level, settings.log_format)
    for name in _CHATTY_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)


@contextmanager
def open_runtime(token: str | None = None, *, service: bool = False) -> Iterator[Runtime]:
    settings = load_settings()
    setup_logging(settings, service=service)
    runtime = Runtime(settings, token_override=token)
    try:
        yield runtime
    finally:
        runtime.close()
