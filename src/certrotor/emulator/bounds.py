"""The largest numbers the emulator accepts, so that every one fits what computes with it (SQLite's
64-bit INTEGER, ``datetime`` up to the year 9999, a JWT ``exp``) and too large a number is a 400."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field

MIN_INTERNAL_ID = -(2**31)
MAX_INTERNAL_ID = 2**31 - 1
"""NetSuite internal IDs (entities, roles, records) as the emulator holds them: a signed 32-bit range,
far above any real ID; the next free ID (highest + 1, or + a batch) then still fits SQLite."""

MAX_PAGE_OFFSET = MAX_INTERNAL_ID
"""The largest ``offset`` of a paged list (SQLite's OFFSET holds 64 bits; no account holds more rows)."""

MAX_LIFETIME_SECONDS = 10 * 366 * 86400
"""Ten years: the longest lifetime of a token, code or refresh token (now + it stays a valid date)."""

MAX_UNIX_SECONDS = 253_402_300_799
"""9999-12-31T23:59:59Z, the last instant a ``datetime`` holds."""

InternalId = Annotated[int, Field(ge=MIN_INTERNAL_ID, le=MAX_INTERNAL_ID)]
"""A NetSuite internal ID in a request body, bounded for validation and for ``/openapi.json``."""


def internal_id_in_range(value: int) -> bool:
    """Whether ``value`` is an internal ID the emulator can hold (any other matches nothing)."""
    return MIN_INTERNAL_ID <= value <= MAX_INTERNAL_ID


_ID_TEXT = re.compile(r"-?[0-9]{1,10}")


def parse_internal_id(text: str) -> int | None:
    """An internal ID written in ASCII digits (a path or query part), or ``None`` if it is none the
    emulator can hold: ``str.isdigit`` alone would let ``²`` through, and ``int`` then fails."""
    if not _ID_TEXT.fullmatch(text):
        return None
    value = int(text)
    return value if internal_id_in_range(value) else None
