"""When to rotate: renewal windows, the planned rotation instant and retry backoff; pure, no I/O.

Every function takes the current time and a ``random.Random`` explicitly, so that a seeded
generator makes each decision reproducible in tests and in ``--dry-run`` plans.

Rules, in one place:

* **Renewal window.** A certificate is renewed at a random instant between ``max_before`` and
  ``min_before`` before it expires (default 14 and 7 days: the seed's "one to two weeks").
* **Short certificates.** A window must fit in the second half of the certificate's lifetime, so
  that a certificate is always used for at least half of its life and a 7-14 day window still
  makes sense for a certificate living five minutes. When ``max_before`` exceeds half the
  lifetime, both bounds are scaled down by the same factor, keeping their ratio: a 7-14 day
  window on a 20 day certificate becomes 5-10 days, on a 4 minute one 1-2 minutes.
* **Retries.** A failed rotation is retried after a capped exponential backoff with jitter
  (``base * 2**(attempt-1)``, at most ``cap``), and never after more than a third of the time
  left before expiry: each retry leaves at least two thirds of the remaining time, so at least
  three further attempts (in fact, any number) always fit before the certificate expires.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from certrotor.durations import format_duration, parse_duration
from certrotor.errors import InputError

DEFAULT_MIN_BEFORE = dt.timedelta(days=7)
DEFAULT_MAX_BEFORE = dt.timedelta(days=14)
MAX_WINDOW_FRACTION = 0.5
"""The renewal window may cover at most this fraction of a certificate's lifetime (its end)."""

ATTEMPTS_THAT_MUST_FIT = 3
"""A retry delay is at most ``remaining / ATTEMPTS_THAT_MUST_FIT`` before expiry."""
DEFAULT_BACKOFF_BASE = dt.timedelta(seconds=30)
DEFAULT_BACKOFF_CAP = dt.timedelta(hours=1)
MIN_BACKOFF = dt.timedelta(seconds=1)
"""Floor of a retry delay (when the budget allows it), so that a failing rotation never spins."""

_MAX_DOUBLINGS = 64
_TINIEST = dt.timedelta(microseconds=1)


def _require_aware(name: str, value: dt.datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise InputError(
            f"{name} must be a timezone-aware datetime.",
            hint="pass UTC datetimes such as datetime.now(UTC).",
        )


@dataclass(frozen=True, slots=True)
class RenewalWindow:
    """Renew between ``max_before`` and ``min_before`` before expiry (``0 < min <= max``)."""

    min_before: dt.timedelta = DEFAULT_MIN_BEFORE
    max_before: dt.timedelta = DEFAULT_MAX_BEFORE

    def __post_init__(self) -> None:
        if self.min_before <= dt.timedelta(0):
            raise InputError(
                f"The renewal window's minimum ({format_duration(self.min_before)}) must be "
                "greater than zero.",
                hint="give a positive duration before expiry, such as 7d.",
            )
        if self.min_before > self.max_before:
            raise InputError(
                f"The renewal window's minimum ({format_duration(self.min_before)}) is larger "
                f"than its maximum ({format_duration(self.max_before)}).",
                hint="give the smaller duration as the minimum, e.g. --renew-min 7d --renew-max 14d.",
            )

    @classmethod
    def parse(cls, min_before: str, max_before: str) -> RenewalWindow:
        """A window from two human durations, e.g. ``RenewalWindow.parse("7d", "14d")``."""
        return cls(parse_duration(min_before), parse_duration(max_before))

    def __str__(self) -> str:
        return f"{format_duration(self.max_before)} to {format_duration(self.min_before)} before expiry"

    def fitted(self, lifetime: dt.timedelta) -> RenewalWindow:
        """This window, scaled down if needed to fit the last half of ``lifetime`` (see module doc)."""
        if lifetime <= dt.timedelta(0):
            raise InputError(
                "A certificate's lifetime must be positive to plan its renewal.",
                hint="check the certificate's not_before and not_after dates.",
            )
        limit = lifetime * MAX_WINDOW_FRACTION
        if self.max_before <= limit:
            return self
        scale = limit / self.max_before
        max_before = max(limit, _TINIEST)
        min_before = min(max(self.min_before * scale, _TINIEST), max_before)
        return RenewalWindow(min_before=min_before, max_before=max_before)

    def bounds(self, not_before: dt.datetime, not_after: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
        """When the (fitted) window opens and closes for a certificate valid in that interval."""
        _require_aware("not_before", not_before)
        _require_aware("not_after", not_after)
        fitted = self.fitted(not_after - not_before)
        return not_after - fitted.max_before, not_after - fitted.min_before


def plan_next_rotation(
    not_before: dt.datetime,
    not_after: dt.datetime,
    window: RenewalWindow,
    rng: random.Random,
) -> dt.datetime:
    """A uniformly random instant inside the certificate's renewal window.

    Never before the window opens (nor before ``not_before``), never after it closes, hence
    always before ``not_after``.
    """
    opens, closes = window.bounds(not_before, not_after)
    return opens + (closes - opens) * rng.random()


def backoff_delay(
    attempt: int,
    *,
    now: dt.datetime,
    expires_at: dt.datetime | None,
    rng: random.Random,
    base: dt.timedelta = DEFAULT_BACKOFF_BASE,
    cap: dt.timedelta = DEFAULT_BACKOFF_CAP,
) -> dt.timedelta:
    """How long to wait before retry number ``attempt`` (1 after the first failure).

    Jittered uniformly below ``min(cap, base * 2**(attempt-1), remaining / 3)`` where
    ``remaining`` is the time left until ``expires_at`` (no such limit once expired, or when
    there is no current certificate), and at least :data:`MIN_BACKOFF` when that fits.
    """
    if attempt < 1:
        raise InputError(f"Retry attempt {attempt} is out of range.", hint="count attempts from 1.")
    if base <= dt.timedelta(0) or cap < base:
        raise InputError(
            f"Backoff base {format_duration(base)} and cap {format_duration(cap)} are inconsistent.",
            hint="use a positive base no larger than the cap, e.g. base 30s and cap 1h.",
        )
    _require_aware("now", now)
    # Whole microseconds (timedelta's resolution) keep every bound exact, without float rounding.
    ceiling = min(cap // _TINIEST, (base // _TINIEST) * 2 ** min(attempt - 1, _MAX_DOUBLINGS))
    if expires_at is not None:
        _require_aware("expires_at", expires_at)
        remaining = (expires_at - now) // _TINIEST
        if remaining > 0:
            ceiling = min(ceiling, remaining // ATTEMPTS_THAT_MUST_FIT)
    floor = min(MIN_BACKOFF // _TINIEST, ceiling)
    return dt.timedelta(microseconds=floor + int((ceiling - floor) * rng.random()))


def next_attempt_after_failure(
    failed_attempts: int,
    *,
    now: dt.datetime,
    expires_at: dt.datetime | None,
    rng: random.Random,
    base: dt.timedelta = DEFAULT_BACKOFF_BASE,
    cap: dt.timedelta = DEFAULT_BACKOFF_CAP,
) -> dt.datetime:
    """When to try again after ``failed_attempts`` consecutive failures (see :func:`backoff_delay`)."""
    return now + backoff_delay(failed_attempts, now=now, expires_at=expires_at, rng=rng, base=base, cap=cap)


def is_due(next_rotation_at: dt.datetime | None, now: dt.datetime) -> bool:
    """Whether a rotation should start now; ``None`` (nothing planned: no current certificate) is due."""
    _require_aware("now", now)
    if next_rotation_at is None:
        return True
    _require_aware("next_rotation_at", next_rotation_at)
    return next_rotation_at <= now
