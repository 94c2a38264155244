"""The calendar validator's verdicts and reasons on weekday lists and ranges, ``@SECONDS``,
fractions of seconds, two-digit years as range ends, time zones and the 240-value limit.

Every expression's verdict (accepted or refused) was measured with systemd 252's
``systemd-analyze calendar`` (``TZ=UTC systemd-analyze calendar -- EXPR``); the tests pin
those verdicts and, for refused ones, the validator's exact one-line reason.  The tests do
not run systemd-analyze (tests/integration/test_calendar_oracle.py does).
"""

from __future__ import annotations

import datetime

import pytest
from layout_trees.core.calendar import calendar_error, civil_from_days, is_valid_calendar

MEASURED: tuple[tuple[str, str | None], ...] = (
    # (expression, the validator's reason); None = accepted.  Accepted (None) or refused
    # (a reason) as measured with systemd 252's systemd-analyze calendar, TZ=UTC.
    ('Mon 12:00', None),
    ('Mon-Mon', None),
    ('Mon @ 5', None),
    ('*:*:0.5x\u00e9', "unexpected 'x'"),
    ('Mon,Tue', None),
    ('Mon,Tue 12:00', None),
    ('Mon..Wed,Fri 12:00', None),
    ('Mon..Mon', None),
    ('Mon, 12:00', None),
    ('Mon,', None),
    ('Mon  12:00', None),
    ('Mon..Tue..Wed', 'bad weekday range'),
    ('Mon-Tue..Wed', 'bad weekday range'),
    ('Mon-Tue-Wed', 'bad weekday range'),
    ('Mon..Tue-Wed', 'bad weekday range'),
    ('Mon.Tue', 'bad weekday range'),
    ('Wed..Mon', 'a weekday range runs backwards'),
    ('Sun..Mon', 'a weekday range runs backwards'),
    ('Mon,12:00', 'a weekday list ends with a separator'),
    ('Mon,,Tue', 'a weekday list ends with a separator'),
    ('Mon.. 12:00', 'an open weekday range'),
    ('Mon-', 'an open weekday range'),
    ('Monx', "unexpected 'x' after a weekday"),
    ('Mon:', "unexpected ':' after a weekday"),
    ('@0', None),
    ('@ 5', None),
    ('@-0', None),
    ('@+5', None),
    ('@5270400', None),
    ('@7258118399', None),
    ('@7258118400', 'year 2200 is outside 1970..2199'),
    ('@10000000000', 'year 2286 is outside 1970..2199'),
    ('@18446744073709551615', 'year 584554051223 is outside 1970..2199'),
    ('@18446744073709551616', 'a number is too large'),
    ('@ -5', 'a time before 1970'),
    ('@5x', "unexpected 'x'"),
    ('@0:00', "unexpected ':00'"),
    ('@123 12:00', "unexpected ' 12:00'"),
    ('*:2147483648', 'a number is too large'),
    ('*:*:2147.483648', 'a number is too large'),
    ('*:2147483646..2147483647', 'the minute is out of range or repeats too rarely'),
    ('*:*:2147.483647', 'the second is out of range or repeats too rarely'),
    ('*:*:2147.483..2147.4836', 'a number is too large'),
    ('*:*:59.9999985', None),
    ('*:*:59.9999994', None),
    ('*:*:59.9999995', 'the second is out of range or repeats too rarely'),
    ('*:*:0..1', None),
    ('*:*:1..1.9999995', None),
    ('*:*:0..0.999999', 'a range of seconds shorter than a second'),
    ('*:*:1.5..3', None),
    ('*:*:0.5x', "unexpected 'x'"),
    ('*-*-1.5', "unexpected '.'"),
    ('*-*-1.x5', "unexpected '.'"),
    ('*-*-1x.5', "unexpected 'x'"),
    ('*', 'a time needs hours and minutes (HH:MM[:SS])'),
    ('12', 'a time needs hours and minutes (HH:MM[:SS])'),
    ('**-*', "unexpected '*' in the date"),
    ('5 12:00', "unexpected ' ' in the date"),
    ('2020~01-01', "'~' must separate month and day"),
    ('2020-01~01-01', "unexpected '-' after the date"),
    ('*-01:00', "unexpected ':' in the date"),
    ('12:00-', "unexpected '-' in the time"),
    ('12:00:00-', "unexpected '-' after the time"),
    ('70/229-01-01', None),
    ('70/230-01-01', 'the year is out of range or repeats too rarely'),
    ('99/200-01-01', None),
    ('99/201-01-01', 'the year is out of range or repeats too rarely'),
    ('2100..05-01-01', 'the year is out of range or repeats too rarely'),
    ('2006..05-01-01', 'the year is out of range or repeats too rarely'),
    ('2000..00-01-01', None),
    ('1970..70-01-01', None),
    ('1999..99-01-01', None),
    ('2000..99-01-01', 'the year is out of range or repeats too rarely'),
    ('2000..100-01-01', 'the year is out of range or repeats too rarely'),
    ('*:5..0/2', 'the minute is out of range or repeats too rarely'),
    ('*:0..59/60', None),
    ('*:0..60/60', 'the minute is out of range or repeats too rarely'),
    ('*-*-1..31/30', None),
    ('*-*-1..32/31', 'the day is out of range or repeats too rarely'),
    (' EST', 'an empty calendar expression'),
    (' HOURLY', "expected a number at ' HOURLY'"),
    (' daily', "expected a number at ' daily'"),
    (' Europe/Berlin', 'an empty calendar expression'),
)

VALUES_240 = ",".join(str(i % 60) for i in range(240))


@pytest.mark.parametrize(("text", "reason"), MEASURED)
def test_verdict_and_reason(text: str, reason: str | None) -> None:
    """Example: systemd 252's verdict (measured), and the validator's exact reason."""
    assert calendar_error(text) == reason
    assert is_valid_calendar(text) is (reason is None)


def test_at_most_240_values_in_one_component() -> None:
    """Boundary (measured with systemd 252): 241 minutes in a list pass, 242 do not."""
    assert calendar_error(f"0:{VALUES_240},0") is None
    assert calendar_error(f"0:{VALUES_240},0,1") == "more than 240 values in one component"


def test_utc_in_any_case_is_taken_without_asking_the_zone_database() -> None:
    """Example: ``utc`` in any case ends the expression even when no zone exists
    (systemd 252 accepts ``daily utc``, ``daily Utc`` and ``daily UTC`` and refuses
    ``daily Nowhere/Foo``)."""
    def no_zone(name: str) -> bool:
        return False

    for text in ("daily utc", "daily Utc", "daily UTC", "12:00 uTc"):
        assert calendar_error(text, no_zone) is None
    assert calendar_error("daily Nowhere/Foo", no_zone) == (
        "expected a number at 'daily Nowhere/Foo'")


def test_the_zone_predicate_is_asked_for_the_whole_last_word() -> None:
    """Example: the predicate gets the word after the last space, whole; a zone it knows
    ends the expression (systemd 252 accepts ``daily Europe/Berlin``)."""
    asked: list[str] = []

    def berlin_only(name: str) -> bool:
        asked.append(name)
        return name == "Europe/Berlin"

    assert calendar_error("daily Europe/Berlin", berlin_only) is None
    assert asked == ["Europe/Berlin"]


def test_is_valid_calendar_passes_the_zone_predicate_on() -> None:
    """Example: a zone the machine does not have makes the expression invalid (systemd 252
    refuses ``daily Nowhere/Foo``), one it has makes it valid."""
    assert is_valid_calendar("daily Nowhere/Foo", lambda name: False) is False
    assert is_valid_calendar("daily Nowhere/Foo", lambda name: name == "Nowhere/Foo") is True
    assert is_valid_calendar("daily Nowhere/Foo") is True  # spelled like a zone


def test_civil_from_days_matches_the_gregorian_calendar() -> None:
    """Reference model: ``datetime.date`` for every day from 1970-01-01 to 2200-12-31."""
    epoch = datetime.date(1970, 1, 1).toordinal()
    last = datetime.date(2200, 12, 31).toordinal() - epoch
    wrong = []
    for days in range(last + 1):
        date = datetime.date.fromordinal(epoch + days)
        if civil_from_days(days) != (date.year, date.month, date.day):
            wrong.append(days)
    assert wrong == []
