"""Fractional seconds in calendar expressions: a reference model of systemd's rounding to
the microsecond (the examples are what ``systemd-analyze calendar`` of systemd 252 says; the
oracle test against it is tests/integration/test_calendar_oracle.py)."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from layout_trees.core.calendar import (
    calendar_error,
    civil_from_days,
    is_valid_calendar,
    timezone_name_ok,
)

_DIGITS = st.text("0123456789", max_size=9)


def _usec(seconds: int, fraction: str) -> int:
    """``seconds.fraction`` in microseconds, the seventh digit rounding half up."""
    rounded = len(fraction) > 6 and fraction[6] in "56789"
    return seconds * 10**6 + int((fraction + "000000")[:6]) + rounded


@given(st.integers(0, 61), _DIGITS)
@example(59, "9999995")  # rounds to 60 s: refused
@example(59, "9999994")
@example(1, "0000005")  # 1.000001
@example(1, "")  # a decimal point without digits
@example(0, "5")
@example(3, "1234567890")
def test_fractional_second_reference_model(seconds: int, fraction: str) -> None:
    """Reference model: ``*:*:S.F`` is valid exactly when F has digits and S.F rounded half
    up to the microsecond is below 60 s."""
    text = f"*:*:{seconds}.{fraction}"
    valid = bool(fraction) and _usec(seconds, fraction) < 60 * 10**6
    assert (calendar_error(text) is None) == valid, calendar_error(text)
    assert is_valid_calendar(text) == valid


@given(st.integers(0, 59), _DIGITS, st.integers(0, 59), _DIGITS.filter(bool))
@example(1, "", 0, "0000004")  # rounds to 0: a repetition of 0
@example(1, "", 0, "0000005")
@example(1, "", 0, "5")
@example(1, "", 59, "0")  # repeats too rarely: 1 + 59 is past the last second
@example(1, "", 58, "9")
@example(0, "", 59, "0")
@example(59, "6", 0, "5")  # 59.6 + 0.5 is past the minute
@example(59, "4", 0, "5")
@example(1, "12345678", 3, "0")
def test_fractional_repetition_reference_model(start: int, start_fraction: str, seconds: int,
                                               fraction: str) -> None:
    """Reference model: ``*:*:START/S.F`` is valid exactly when S.F rounds to more than 0 us
    and START + S.F still falls within the minute (START with or without a fraction)."""
    first = f"{start}.{start_fraction}" if start_fraction else str(start)
    text = f"*:*:{first}/{seconds}.{fraction}"
    repeat = _usec(seconds, fraction)
    valid = repeat > 0 and _usec(start, start_fraction) + repeat < 60 * 10**6
    assert (calendar_error(text) is None) == valid, calendar_error(text)


@given(st.integers(0, 59), _DIGITS.filter(bool), st.integers(0, 59), _DIGITS)
@example(1, "5", 3, "5")
@example(1, "12345678", 3, "")
@example(5, "5", 5, "")
def test_fractional_range_reference_model(start: int, start_fraction: str, end: int,
                                          end_fraction: str) -> None:
    """Reference model: a range of seconds ``S.F..E[.G]`` is valid exactly when it spans at
    least a second and ends within the minute (a fraction never eats the '..')."""
    last = f"{end}.{end_fraction}" if end_fraction else str(end)
    text = f"*:*:{start}.{start_fraction}..{last}"
    first_us, last_us = _usec(start, start_fraction), _usec(end, end_fraction)
    valid = last_us < 60 * 10**6 and last_us - first_us >= 10**6
    assert (calendar_error(text) is None) == valid, (text, calendar_error(text))


@pytest.mark.parametrize(("text", "reason"), [
    ("*:*:1.", "a decimal point without digits"),
    ("@", "'@' must be followed by seconds since the epoch"),
    ("@-1", "a time before 1970"),
    ("@7258118400", "year 2200 is outside 1970..2199"),
    ("*:*:59.6/0.5", "the second is out of range or repeats too rarely"),
    ("*:99999999999999999999", "a number is too large"),
    ("*:*:99999999999999", "a number is too large"),
    ("*:0/0", "a repetition of 0"),
    ("*:*:5..5.5", "a range of seconds shorter than a second"),
    ("x", "expected a number at 'x'"),
    ("69/131-01-01", "the year is out of range or repeats too rarely"),
])
def test_calendar_error_reasons(text: str, reason: str) -> None:
    """Example: the reason given for a refused expression, word for word."""
    assert calendar_error(text) == reason


@given(st.integers(-719_468, 3_000_000), st.integers(0, 3))
@example(-719_468, 0)  # 0000-03-01, the first day of the algorithm's era 0
@example(0, 2)
@example(11_016, 0)  # 2000-02-29
def test_civil_from_days_reference_model(days: int, cycles: int) -> None:
    """Reference model (datetime) for years 1..9999, and metamorphic beyond: 146097 days
    (400 Gregorian years) later is the same day 400 years later (from 0000-03-01 on)."""
    y, m, d = civil_from_days(days)
    if 1 <= y <= 9999:
        real = date.fromordinal(days + 719_163)
        assert (y, m, d) == (real.year, real.month, real.day)
    assert civil_from_days(days + 146_097 * cycles) == (y + 400 * cycles, m, d)


@pytest.mark.parametrize(("name", "plausible"), [
    ("UTC", True), ("Europe/Berlin", True), ("Etc/GMT+1", True), ("A/b_c+1-2", True),
    ("Mon", False), ("SUNDAY", False), ("hourly", False), ("Daily", False), ("9x", False),
    ("a//b", False), ("", False),
])
def test_timezone_name_ok_examples(name: str, plausible: bool) -> None:
    """Example: a zone name is a word with '/'-separated parts, never a weekday or a
    shorthand in any case."""
    assert timezone_name_ok(name) == plausible
