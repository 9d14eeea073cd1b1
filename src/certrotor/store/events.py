"""Audit event details: JSON only, and never a key, token, secret or assertion.

A field whose name says it holds a secret (``private_key``, ``access_token``, ``client_secret``,
``assertion``, ``password``) is replaced by ``[redacted]``; so is any string that looks like a PEM
private key or a JWT, whatever its field is called. Names such as ``key_spec`` or ``key_id`` stay.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import uuid
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

from certrotor.errors import InputError

REDACTED = "[redacted]"
_SECRET_WORDS = frozenset(
    {
        "token",
        "tokens",
        "secret",
        "secrets",
        "assertion",
        "password",
        "passphrase",
        "authorization",
        "cookie",
    }
)
_SECRET_LAST_WORDS = frozenset({"key", "keys"})
_WORD_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_MAX_DEPTH = 8


def is_secret_name(name: str) -> bool:
    """Whether a field name announces a secret (``private_key``, ``accessToken``, ``assertion``)."""
    words = [word.lower() for word in _WORD_SPLIT.split(name) if word]
    if not words:
        return False
    return bool(_SECRET_WORDS.intersection(words)) or words[-1] in _SECRET_LAST_WORDS


def looks_secret(text: str) -> bool:
    """Whether a string carries a PEM private key or a JWT (bearer tokens, client assertions)."""
    return "PRIVATE KEY" in text or _JWT.search(text) is not None


def scrub_detail(detail: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON-ready copy of ``detail`` with secrets redacted; unknown value types are refused."""
    return _scrub_mapping(detail, depth=0)


def _scrub_mapping(mapping: Mapping[Any, Any], *, depth: int) -> dict[str, Any]:
    if depth > _MAX_DEPTH:
        raise InputError("Event detail is nested too deeply.", hint="flatten the detail.")
    clean: dict[str, Any] = {}
    for raw_name, value in mapping.items():
        name = str(raw_name)
        clean[name] = REDACTED if is_secret_name(name) else _scrub_value(value, depth=depth + 1)
    return clean


def _scrub_value(value: Any, *, depth: int) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, enum.Enum):
        return _scrub_value(value.value, depth=depth)
    if isinstance(value, str):
        return REDACTED if looks_secret(value) else value
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID | PurePath):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        # Raw bytes in an audit record are most likely key material: never store them.
        return REDACTED
    if isinstance(value, Mapping):
        return _scrub_mapping(value, depth=depth)
    if isinstance(value, list | tuple | set | frozenset):
        if depth > _MAX_DEPTH:
            raise InputError("Event detail is nested too deeply.", hint="flatten the detail.")
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [_scrub_value(item, depth=depth + 1) for item in items]
    raise InputError(
        f"Event detail cannot hold a {type(value).__name__}.",
        hint="pass strings, numbers, booleans, datetimes, lists and dicts.",
    )
