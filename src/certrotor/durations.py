"""Human durations as users write them (``14d``, ``90s``, ``1d12h``, ``3600``) and back."""

from __future__ import annotations

import datetime as dt
import re

from certrotor.errors import InputError

UNIT_SECONDS: dict[str, int] = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}
"""Accepted units, largest first: weeks, days, hours, minutes, seconds."""

_PART = re.compile(r"([0-9]+)([wdhms])")
_HINT = (
    "write a whole number with a unit: 90s, 5m, 2h, 14d or 1w, or combine units from largest "
    "to smallest, such as 1d12h; a plain number means seconds."
)


def parse_duration(value: str | int | dt.timedelta, *, allow_zero: bool = False) -> dt.timedelta:
    """Parse ``14d``, ``90s``, ``5m``, ``2h``, ``1w``, ``1d12h`` or plain seconds (``"3600"``, ``3600``).

    Units may each appear once, largest first; spaces between parts are allowed. Negative
    durations are refused; zero only with ``allow_zero``.
    """
    if isinstance(value, dt.timedelta):
        delta = value
    elif isinstance(value, bool):
        # bool is an int subclass: True would silently mean one second.
        raise InputError(f"Invalid duration {value!r}.", hint=_HINT)
    elif isinstance(value, int):
        delta = dt.timedelta(seconds=value)
    else:
        delta = _parse_text(value)
    if delta < dt.timedelta(0) or (delta == dt.timedelta(0) and not allow_zero):
        raise InputError(
            f"Duration {value!r} must be greater than zero.",
            hint="give a positive duration such as 90s, 5m or 14d.",
        )
    return delta


def _parse_text(text: str) -> dt.timedelta:
    compact = "".join(text.split()).lower()
    if compact.isascii() and compact.isdigit():
        return _seconds(int(compact), text)
    position = 0
    total = 0
    previous_rank = -1
    ranks = list(UNIT_SECONDS)
    for match in _PART.finditer(compact):
        if match.start() != position:
            break
        rank = ranks.index(match.group(2))
        if rank <= previous_rank:
            # Units out of order or repeated (``12h1d``, ``1d1d``) are more likely typos than intent.
            raise InputError(f"Invalid duration {text!r}: units repeat or are out of order.", hint=_HINT)
        previous_rank = rank
        total += int(match.group(1)) * UNIT_SECONDS[match.group(2)]
        position = match.end()
    if not compact or position != len(compact):
        raise InputError(f"Invalid duration {text!r}.", hint=_HINT)
    return _seconds(total, text)


def _seconds(total: int, text: str) -> dt.timedelta:
    try:
        return dt.timedelta(seconds=total)
    except OverflowError:
        raise InputError(f"Duration {text!r} is too long.", hint=_HINT) from None


def format_duration(delta: dt.timedelta) -> str:
    """Compact form that :func:`parse_duration` reads back: ``1d12h``, ``90s`` as ``1m30s``, ``0s``.

    Sub-second parts are dropped; negative durations get a leading ``-`` (for display only).
    """
    total = int(delta.total_seconds())
    if total == 0:
        return "0s"
    sign = "-" if total < 0 else ""
    remaining = abs(total)
    parts: list[str] = []
    # Weeks are left out on purpose: ``14d`` reads better than ``2w`` next to a 7-14 day window.
    for unit in ("d", "h", "m", "s"):
        count, remaining = divmod(remaining, UNIT_SECONDS[unit])
        if count:
            parts.append(f"{count}{unit}")
    return sign + "".join(parts)
