"""Human durations: parsing what users write and formatting it back."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from certrotor.durations import format_duration, parse_duration
from certrotor.errors import InputError


class TestParseDuration:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("14d", dt.timedelta(days=14)),
            ("90s", dt.timedelta(seconds=90)),
            ("5m", dt.timedelta(minutes=5)),
            ("2h", dt.timedelta(hours=2)),
            ("1w", dt.timedelta(weeks=1)),
            ("1d12h", dt.timedelta(days=1, hours=12)),
            ("1w2d3h4m5s", dt.timedelta(weeks=1, days=2, hours=3, minutes=4, seconds=5)),
            ("1d 12h", dt.timedelta(days=1, hours=12)),
            (" 7D ", dt.timedelta(days=7)),
            ("3600", dt.timedelta(hours=1)),
            ("0090s", dt.timedelta(seconds=90)),
        ],
    )
    def test_accepts_units_combinations_and_plain_seconds(self, text: str, expected: dt.timedelta) -> None:
        """Every unit, combined units and a plain number of seconds parse to the right timedelta."""
        assert parse_duration(text) == expected

    def test_accepts_int_seconds_and_timedelta(self) -> None:
        """Settings may already hold an int of seconds or a timedelta; both pass through."""
        assert parse_duration(90) == dt.timedelta(seconds=90)
        assert parse_duration(dt.timedelta(days=3)) == dt.timedelta(days=3)

    @pytest.mark.parametrize(
        "text",
        ["", "   ", "d", "abc", "14x", "1.5h", "-5m", "5m-", "1d1d", "12h1d", "5 m s", "١٢", "１２s"],
    )
    def test_refuses_malformed_text_with_a_hint(self, text: str) -> None:
        """Garbage, fractions, negatives, repeated or misordered units and non-ASCII digits are refused."""
        with pytest.raises(InputError) as caught:
            parse_duration(text)
        assert "duration" in caught.value.message.lower()
        assert "90s" in caught.value.hint

    def test_refuses_zero_unless_allowed(self) -> None:
        """Zero is refused by default (a window or delay of zero is a mistake) but may be allowed."""
        with pytest.raises(InputError, match="greater than zero"):
            parse_duration("0s")
        assert parse_duration("0s", allow_zero=True) == dt.timedelta(0)

    def test_refuses_negative_int_and_bool(self) -> None:
        """A negative number of seconds and a boolean are not durations."""
        with pytest.raises(InputError, match="greater than zero"):
            parse_duration(-5)
        with pytest.raises(InputError, match="Invalid duration"):
            parse_duration(True)

    def test_refuses_absurdly_long_durations(self) -> None:
        """A number beyond timedelta's range gives an InputError, not an OverflowError."""
        with pytest.raises(InputError, match="too long"):
            parse_duration("99999999999999d")


class TestFormatDuration:
    @pytest.mark.parametrize(
        ("delta", "expected"),
        [
            (dt.timedelta(0), "0s"),
            (dt.timedelta(seconds=90), "1m30s"),
            (dt.timedelta(days=14), "14d"),
            (dt.timedelta(days=1, hours=12), "1d12h"),
            (dt.timedelta(hours=2, seconds=5), "2h5s"),
            (dt.timedelta(seconds=-90), "-1m30s"),
            (dt.timedelta(seconds=5, microseconds=900_000), "5s"),
        ],
    )
    def test_compact_form(self, delta: dt.timedelta, expected: str) -> None:
        """Durations format as compact units, largest first, without weeks or sub-seconds."""
        assert format_duration(delta) == expected

    @given(st.integers(min_value=1, max_value=10**10))
    def test_round_trips_whole_seconds(self, seconds: int) -> None:
        """parse_duration reads back whatever format_duration writes."""
        delta = dt.timedelta(seconds=seconds)
        assert parse_duration(format_duration(delta)) == delta
