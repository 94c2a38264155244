"""Fractional seconds in calendar expressions: a reference model of systemd's rounding to
the microsecond (the examples are what ``systemd-analyze calendar`` of systemd 252 says; the
oracle test against it is tests/integration/test_calendar_oracle.py)."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st
from layout_trees.core.calendar import calendar_error, is_valid_calendar

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


@given(st.integers(0, 59), st.integers(0, 59), _DIGITS.filter(bool))
@example(1, 0, "0000004")  # rounds to 0: a repetition of 0
@example(1, 0, "0000005")
@example(1, 0, "5")
@example(1, 59, "0")  # repeats too rarely: 1 + 59 is past the last second
@example(1, 58, "9")
@example(0, 59, "0")
def test_fractional_repetition_reference_model(start: int, seconds: int, fraction: str) -> None:
    """Reference model: ``*:*:START/S.F`` is valid exactly when S.F rounds to more than 0 us
    and START + S.F still falls within the minute."""
    text = f"*:*:{start}/{seconds}.{fraction}"
    repeat = _usec(seconds, fraction)
    valid = repeat > 0 and start * 10**6 + repeat < 60 * 10**6
    assert (calendar_error(text) is None) == valid, calendar_error(text)
