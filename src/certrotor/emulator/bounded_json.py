"""JSON from callers, parsed only once its size and nesting are known to be small: ``json.loads``
recurses once per level, and some 18 KB of ``[`` exhaust Python's stack (RecursionError, a 500)."""

from __future__ import annotations

import json
import re
from typing import Any

MAX_JSON_DEPTH = 64
"""Deepest nesting of arrays and objects accepted: NetSuite's bodies and claims are a few levels deep."""

_SPECIAL = re.compile(rb'["\\\[\]{}]')


class JSONTooLargeError(ValueError):
    """The text is longer than the limit or nests deeper than ``MAX_JSON_DEPTH``; not parsed."""


def json_depth(data: bytes, *, stop_above: int = MAX_JSON_DEPTH) -> int:
    """How deep arrays and objects nest in ``data`` (brackets inside strings do not count), in one
    pass over its special characters; counting stops once the depth exceeds ``stop_above``."""
    depth = deepest = 0
    in_string = False
    escaped_at = -1
    for match in _SPECIAL.finditer(data):
        at, char = match.start(), match.group()
        if at == escaped_at:
            continue
        if in_string:
            if char == b"\\":
                escaped_at = at + 1
            elif char == b'"':
                in_string = False
        elif char == b'"':
            in_string = True
        elif char in (b"[", b"{"):
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > stop_above:
                    break
        elif char in (b"]", b"}"):
            depth -= 1
    return deepest


def load_bounded_json(data: bytes, *, max_bytes: int) -> Any:
    """``json.loads(data)`` once ``data`` is at most ``max_bytes`` long and nests at most
    ``MAX_JSON_DEPTH`` levels; otherwise :class:`JSONTooLargeError`. ``json.loads``' own errors pass."""
    if len(data) > max_bytes:
        raise JSONTooLargeError(f"is {len(data)} bytes long, more than the limit of {max_bytes}")
    if json_depth(data) > MAX_JSON_DEPTH:
        raise JSONTooLargeError(f"nests arrays or objects deeper than {MAX_JSON_DEPTH} levels")
    return json.loads(data)
