"""Printing for the CLI: Rich tables for people, JSON for machines, one-line errors."""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import Any

from rich.console import Console

# Off a terminal (pipes, tests, CI logs) Rich would squeeze tables into 80 columns and cut the
# certificate IDs people copy from them; give it room instead.
_WIDTH = None if sys.stdout.isatty() else 200
console = Console(highlight=False, soft_wrap=True, width=_WIDTH)
error_console = Console(stderr=True, highlight=False, soft_wrap=True, width=_WIDTH)


def _default(value: object) -> object:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def print_json(data: Any) -> None:
    """Plain JSON on stdout (no Rich markup), so scripts can parse it."""
    sys.stdout.write(json.dumps(data, indent=2, default=_default) + "\n")
    sys.stdout.flush()


def format_time(value: dt.datetime | None) -> str:
    if value is None:
        return "-"
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
