"""Builds the services' runtime from settings and command-line options, and closes it afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from certrotor.config import load_settings
from certrotor.logging import configure_logging
from certrotor.services.runtime import Runtime


@contextmanager
def open_runtime(token: str | None = None) -> Iterator[Runtime]:
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    runtime = Runtime(settings, token_override=token)
    try:
        yield runtime
    finally:
        runtime.close()
