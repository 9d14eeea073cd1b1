"""Scheduling rules: renewal windows, planned rotation instants, retry backoff."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from certrotor.errors import InputError
from certrotor.scheduling import (
    ATTEMPTS_THAT_MUST_FIT,
    DEFAULT_BACKOFF_CAP,
    MIN_BACKOFF,
    RenewalWindow,
    backoff_delay,
    is_due,
    next_attempt_after_failure,
    plan_next_rotation,
)

UTC = dt.UTC
T0 = dt.datetime(2025, 1, 1, tzinfo=UTC)
SECOND = dt.timedelta(seconds=1)
DAY = dt.timedelta(days=1)


class _FixedRandom(random.Random):
    """A generator whose ``random()`` always answers one value, to reach the bounds exactly."""

    def __init__(self, value: float) -> None:
        super().__init__(0)
        self.value = value

    def random(self) -> float:
        return self.value


instants = st.datetimes(
    min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2090, 1, 1), timezones=st.just(UTC)
)
lifetimes = st.timedeltas(min_value=SECOND, max_value=dt.timedelta(days=730))
windows = st.tuples(
    st.timedeltas(min_value=SECOND, max_value=dt.timedelta(days=60)),
    st.timedeltas(min_value=dt.timedelta(0), max_value=dt.timedelta(days=60)),
).map(lambda pair: RenewalWindow(min_before=pair[0], max_before=pair[0] + pair[1]))
seeds = st.integers(min_value=0, max_value=2**32)


class TestRenewalWindow:
    def test_defaults_are_seven_to_fourteen_days(self) -> None:
        """The default window is the seed's one to two weeks before expiry."""
        window = RenewalWindow()
        assert (window.min_before, window.max_before) == (7 * DAY, 14 * DAY)
        assert str(window) == "14d to 7d before expiry"

    def test_parse_from_human_durations(self) -> None:
        """A window can be given as two human durations."""
        assert RenewalWindow.parse("90s", "3m") == RenewalWindow(90 * SECOND, 180 * SECOND)

    @pytest.mark.parametrize(
        ("min_before", "max_before", "message"),
        [
            (dt.timedelta(0), DAY, "greater than zero"),
            (-DAY, DAY, "greater than zero"),
            (2 * DAY, DAY, "larger than its maximum"),
        ],
    )
    def test_refuses_inconsistent_bounds(
        self, min_before: dt.timedelta, max_before: dt.timedelta, message: str
    ) -> None:
        """A window needs 0 < min <= max; anything else is an InputError with a hint."""
        with pytest.raises(InputError, match=message) as caught:
            RenewalWindow(min_before, max_before)
        assert caught.value.hint

    def test_a_window_that_fits_is_unchanged(self) -> None:
        """On a two-year certificate the default window is used as configured."""
        window = RenewalWindow()
        assert window.fitted(730 * DAY) is window

    def test_short_certificates_scale_the_window_keeping_its_ratio(self) -> None:
        """A 7-14 day window becomes 1-2 min on a 4 minute certificate, 5-10 days on a 20 day one."""
        window = RenewalWindow()
        assert window.fitted(dt.timedelta(minutes=4)) == RenewalWindow(60 * SECOND, 120 * SECOND)
        assert window.fitted(20 * DAY) == RenewalWindow(5 * DAY, 10 * DAY)

    def test_refuses_a_non_positive_lifetime(self) -> None:
        """A certificate that ends before it starts cannot be planned."""
        with pytest.raises(InputError, match="lifetime must be positive"):
            RenewalWindow().fitted(dt.timedelta(0))

    @given(window=windows, lifetime=lifetimes)
    def test_fitted_window_stays_in_the_last_half_of_the_lifetime(
        self, window: RenewalWindow, lifetime: dt.timedelta
    ) -> None:
        """The fitted window is valid, no wider than configured, and within half the lifetime."""
        fitted = window.fitted(lifetime)
        assert dt.timedelta(0) < fitted.min_before <= fitted.max_before
        assert fitted.max_before <= window.max_before
        assert fitted.min_before <= window.min_before
        assert fitted.max_before * 2 <= lifetime + dt.timedelta(microseconds=1)

    def test_refuses_naive_datetimes(self) -> None:
        """Naive datetimes are refused so that time zones never shift a plan silently."""
        with pytest.raises(InputError, match="timezone-aware"):
            RenewalWindow().bounds(dt.datetime(2025, 1, 1), dt.datetime(2026, 1, 1))


class TestPlanNextRotation:
    def test_default_window_on_a_one_year_certificate(self) -> None:
        """A one-year certificate is planned for rotation 7 to 14 days before it expires."""
        not_after = T0 + 365 * DAY
        planned = plan_next_rotation(T0, not_after, RenewalWindow(), random.Random(1))
        assert not_after - 14 * DAY <= planned <= not_after - 7 * DAY

    def test_reaches_both_ends_of_the_window(self) -> None:
        """The plan is uniform over the window: 0 gives its opening, almost 1 its closing."""
        not_after = T0 + 365 * DAY
        assert plan_next_rotation(T0, not_after, RenewalWindow(), _FixedRandom(0.0)) == not_after - 14 * DAY
        latest = plan_next_rotation(T0, not_after, RenewalWindow(), _FixedRandom(1 - 2**-53))
        assert latest == not_after - 7 * DAY

    def test_same_seed_same_plan(self) -> None:
        """A seeded generator makes the plan reproducible (dry runs, tests)."""
        not_after = T0 + 90 * DAY
        first = plan_next_rotation(T0, not_after, RenewalWindow(), random.Random(42))
        again = plan_next_rotation(T0, not_after, RenewalWindow(), random.Random(42))
        assert first == again

    def test_spreads_a_fleet_over_the_window(self) -> None:
        """Many credentials expiring together are spread over the window, not piled on one instant."""
        rng = random.Random(7)
        not_after = T0 + 365 * DAY
        plans = [plan_next_rotation(T0, not_after, RenewalWindow(), rng) for _ in range(500)]
        assert max(plans) - min(plans) > 6 * DAY

    def test_demo_certificate_of_a_few_minutes(self) -> None:
        """A 3 minute demo certificate rotates between 45 and 90 seconds before expiry."""
        not_after = T0 + dt.timedelta(minutes=3)
        planned = plan_next_rotation(T0, not_after, RenewalWindow(), random.Random(3))
        assert not_after - 90 * SECOND <= planned <= not_after - 45 * SECOND

    @given(not_before=instants, lifetime=lifetimes, window=windows, seed=seeds)
    def test_never_before_the_window_never_after_expiry(
        self, not_before: dt.datetime, lifetime: dt.timedelta, window: RenewalWindow, seed: int
    ) -> None:
        """Every plan lies inside the (fitted) window, after not_before and strictly before expiry."""
        not_after = not_before + lifetime
        planned = plan_next_rotation(not_before, not_after, window, random.Random(seed))
        opens, closes = window.bounds(not_before, not_after)
        assert opens <= planned <= closes
        assert planned >= not_after - window.max_before
        assert not_before <= planned < not_after


class TestBackoffDelay:
    def test_grows_exponentially_from_the_base(self) -> None:
        """With the jitter at its top, delays double per attempt: 30 s, 60 s, 120 s, ..."""
        top = _FixedRandom(1 - 2**-53)
        far = T0 + 365 * DAY
        delays = [backoff_delay(n, now=T0, expires_at=far, rng=top) for n in range(1, 5)]
        assert [round(d.total_seconds()) for d in delays] == [30, 60, 120, 240]

    def test_is_capped(self) -> None:
        """After many failures the delay never exceeds the cap (default one hour)."""
        top = _FixedRandom(1 - 2**-53)
        delay = backoff_delay(500, now=T0, expires_at=T0 + 365 * DAY, rng=top)
        assert DEFAULT_BACKOFF_CAP - SECOND < delay <= DEFAULT_BACKOFF_CAP

    def test_has_a_floor_of_one_second(self) -> None:
        """With the jitter at its bottom the delay is still one second, so failures never spin."""
        assert backoff_delay(1, now=T0, expires_at=None, rng=_FixedRandom(0.0)) == MIN_BACKOFF

    def test_budget_shrinks_near_expiry(self) -> None:
        """Nine minutes before expiry a retry waits at most three minutes, whatever the cap."""
        expires_at = T0 + dt.timedelta(minutes=9)
        top = _FixedRandom(1 - 2**-53)
        delay = backoff_delay(20, now=T0, expires_at=expires_at, rng=top)
        assert delay <= dt.timedelta(minutes=3)
        assert delay > dt.timedelta(minutes=3) - SECOND

    def test_expired_or_unknown_expiry_uses_the_plain_backoff(self) -> None:
        """Once expired (or with no current certificate) only the exponential cap applies."""
        top = _FixedRandom(1 - 2**-53)
        expired = backoff_delay(3, now=T0, expires_at=T0 - DAY, rng=top)
        unknown = backoff_delay(3, now=T0, expires_at=None, rng=top)
        assert expired == unknown
        assert round(expired.total_seconds()) == 120

    @pytest.mark.parametrize(
        ("attempt", "base", "cap", "message"),
        [
            (0, 30 * SECOND, DEFAULT_BACKOFF_CAP, "out of range"),
            (1, dt.timedelta(0), DEFAULT_BACKOFF_CAP, "inconsistent"),
            (1, 2 * DEFAULT_BACKOFF_CAP, DEFAULT_BACKOFF_CAP, "inconsistent"),
        ],
    )
    def test_refuses_bad_arguments(
        self, attempt: int, base: dt.timedelta, cap: dt.timedelta, message: str
    ) -> None:
        """Attempts count from 1 and the base must be positive and no larger than the cap."""
        with pytest.raises(InputError, match=message):
            backoff_delay(attempt, now=T0, expires_at=None, rng=random.Random(0), base=base, cap=cap)

    @given(
        attempt=st.integers(min_value=1, max_value=200),
        remaining=st.timedeltas(min_value=dt.timedelta(microseconds=1), max_value=400 * DAY),
        base=st.timedeltas(min_value=dt.timedelta(milliseconds=1), max_value=dt.timedelta(minutes=10)),
        extra_cap=st.timedeltas(min_value=dt.timedelta(0), max_value=DAY),
        seed=seeds,
    )
    def test_within_budget_and_capped(
        self,
        attempt: int,
        remaining: dt.timedelta,
        base: dt.timedelta,
        extra_cap: dt.timedelta,
        seed: int,
    ) -> None:
        """Each delay is non-negative, at most the cap, the exponential bound and a third of the time left."""
        cap = base + extra_cap
        delay = backoff_delay(
            attempt, now=T0, expires_at=T0 + remaining, rng=random.Random(seed), base=base, cap=cap
        )
        assert dt.timedelta(0) <= delay <= cap
        if attempt <= 30:
            assert delay <= base * 2 ** (attempt - 1)
        assert delay <= remaining / ATTEMPTS_THAT_MUST_FIT

    @given(
        first_attempt=st.integers(min_value=1, max_value=50),
        remaining=st.timedeltas(min_value=dt.timedelta(milliseconds=10), max_value=30 * DAY),
        seed=seeds,
    )
    def test_several_attempts_fit_before_expiry(
        self, first_attempt: int, remaining: dt.timedelta, seed: int
    ) -> None:
        """Failing again and again, the next ten retries all start strictly before expiry."""
        rng = random.Random(seed)
        expires_at = T0 + remaining
        now = T0
        for attempt in range(first_attempt, first_attempt + 10):
            now = next_attempt_after_failure(attempt, now=now, expires_at=expires_at, rng=rng)
            assert now < expires_at


class TestNextAttemptAfterFailure:
    def test_is_now_plus_the_backoff(self) -> None:
        """The next attempt is the backoff delay after now, drawn from the same generator state."""
        expires_at = T0 + 10 * DAY
        planned = next_attempt_after_failure(2, now=T0, expires_at=expires_at, rng=random.Random(5))
        delay = backoff_delay(2, now=T0, expires_at=expires_at, rng=random.Random(5))
        assert planned == T0 + delay


class TestIsDue:
    @pytest.mark.parametrize(
        ("next_rotation_at", "due"),
        [(None, True), (T0 - SECOND, True), (T0, True), (T0 + SECOND, False)],
    )
    def test_due_when_planned_instant_has_come(self, next_rotation_at: dt.datetime | None, due: bool) -> None:
        """Due at or after the planned instant, and when nothing is planned (no current certificate)."""
        assert is_due(next_rotation_at, T0) is due

    def test_refuses_naive_now(self) -> None:
        """A naive ``now`` is refused."""
        with pytest.raises(InputError, match="timezone-aware"):
            is_due(None, dt.datetime(2025, 1, 1))
