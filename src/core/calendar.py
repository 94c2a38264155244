"""systemd calendar expressions (``OnCalendar=``), validated as systemd validates them.

Theory of operation.  A backup schedule ends up verbatim in a timer's
``OnCalendar=``; systemd refuses an expression it cannot parse and the timer
then never fires, silently.  So the configuration is checked here, with the
grammar and the range rules of systemd's ``calendar_spec_from_string()``
(``systemd.time(7)``): an optional time zone (`` UTC`` or a zone name at the
end), a shorthand (``daily``, ``weekly``, ... in any case), or weekdays, a
date (or ``@SECONDS``) and a time, each component a list of
``start[..stop][/repeat]`` or ``*``; then systemd's normalisation (two-digit
years, ranges cut to a multiple of their repetition) and its bounds (years
1970 to 2199, at most 240 list elements, repetitions that fire at least once,
``~`` days at most 28 from the end of the month).

Whether a time zone name exists is a fact of the machine (its zone database):
:func:`calendar_error` takes a predicate for it.  Without one, a name is taken
as a zone when it is spelled like one (letters first, ``[A-Za-z0-9/_+-]``, no
empty part) and is not a word of the grammar; the shell passes the real
predicate where it can.  ``systemd-analyze calendar`` is the oracle of the
tests, on many generated expressions.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["calendar_error", "is_valid_calendar", "timezone_name_ok"]

_MIN_YEAR, _MAX_YEAR = 1970, 2199
_COMPONENTS_MAX = 240
_USEC = 1_000_000
_INT_MAX = 2**31 - 1
_ULONG_MAX = 2**64 - 1
_WEEKDAYS = (("monday", 0), ("mon", 0), ("tuesday", 1), ("tue", 1), ("wednesday", 2),
             ("wed", 2), ("thursday", 3), ("thu", 3), ("friday", 4), ("fri", 4),
             ("saturday", 5), ("sat", 5), ("sunday", 6), ("sun", 6))
_SHORTHANDS = frozenset({
    "minutely", "hourly", "daily", "monthly", "weekly", "annually", "yearly", "anually",
    "quarterly", "biannually", "bi-annually", "semiannually", "semi-annually"})
_TZ_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$")
_SPACE = " \t\n\v\f\r"
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _lower(text: str) -> str:
    """ASCII-only lower case, as systemd compares (``strcasecmp`` in the C locale)."""
    return text.translate(_ASCII_LOWER)


class _Invalid(Exception):
    """The expression is not valid; the argument says why."""


class _Component:
    """One value, range or repetition of a calendar field (mutable while parsed)."""

    __slots__ = ("repeat", "start", "stop")

    def __init__(self, start: int, stop: int = -1, repeat: int = 0) -> None:
        self.start = start
        self.stop = stop
        self.repeat = repeat


def timezone_name_ok(name: str) -> bool:
    """A plausible zone name (used when the zone database cannot be asked)."""
    low = _lower(name)
    return (bool(_TZ_RE.match(name)) and low not in _SHORTHANDS
            and not any(low == w for w, _ in _WEEKDAYS))


class _Parser:
    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0
        self.weekdays = 0
        self.end_of_month = False
        self.chains: dict[str, list[_Component] | None] = {}

    def peek(self, k: int = 0) -> str:
        j = self.i + k
        return self.s[j] if j < len(self.s) else ""

    def skip_spaces(self) -> None:
        while self.peek() == " ":
            self.i += 1

    # weekdays ---------------------------------------------------------------------
    def weekdays_part(self) -> None:
        last = -1
        first = True
        while True:
            rest = _lower(self.s[self.i:])
            found = next(((w, n) for w, n in _WEEKDAYS if rest.startswith(w)), None)
            if found is None:
                if first:
                    return
                raise _Invalid("a weekday list ends with a separator")
            word, number = found
            after = self.peek(len(word))
            if after not in ("", "-", ".", ",", " "):
                raise _Invalid(f"unexpected {after!r} after a weekday")
            self.weekdays |= 1 << number
            if last >= 0:
                if last > number:
                    raise _Invalid("a weekday range runs backwards")
                for j in range(last + 1, number):
                    self.weekdays |= 1 << j
            self.i += len(word)
            c = self.peek()
            if c == "":
                return
            if c == " ":
                self.skip_spaces()
                return
            if c == ".":
                if last >= 0 or self.peek(1) != ".":
                    raise _Invalid("bad weekday range")
                last = number
                self.i += 2
            elif c == "-":
                if last >= 0:
                    raise _Invalid("bad weekday range")
                last = number
                self.i += 1
            elif c == ",":
                last = -1
                self.i += 1
            if self.peek() in ("", " "):
                self.skip_spaces()
                if last >= 0:
                    raise _Invalid("an open weekday range")
                return
            first = False

    # numbers ------------------------------------------------------------------------
    def _digits(self) -> int:
        j = self.i
        while j < len(self.s) and self.s[j].isascii() and self.s[j].isdigit():
            j += 1
        value = int(self.s[self.i:j])
        self.i = j
        if value > _ULONG_MAX:
            raise _Invalid("a number is too large")
        return value

    def decimal(self, usec: bool) -> int:
        c = self.peek()
        if not (c.isascii() and c.isdigit()):
            raise _Invalid(f"expected a number at {self.s[self.i:]!r}")
        value = self._digits()
        if usec:
            if value * _USEC > _ULONG_MAX:
                raise _Invalid("a number is too large")
            value *= _USEC
            if self.peek() == "." and self.peek(1) != ".":
                self.i += 1
                value += self._fraction()
        if value > _INT_MAX:
            raise _Invalid("a number is too large")
        return value

    def _fraction(self) -> int:
        val = 0
        for k in range(6):
            c = self.peek()
            if not (c.isascii() and c.isdigit()):
                if k == 0:
                    raise _Invalid("a decimal point without digits")
                val *= 10 ** (6 - k)
                break
            val = val * 10 + int(c)
            self.i += 1
        if self.peek() in "56789" and self.peek() != "":
            val += 1
        while self.peek().isascii() and self.peek().isdigit() and self.peek() != "":
            self.i += 1
        return val

    def chain(self, usec: bool) -> list[_Component] | None:
        if self.peek() == "*":
            self.i += 1
            return [_Component(0, -1, _USEC)] if usec else None
        out: list[_Component] = []
        while True:
            if len(out) > _COMPONENTS_MAX:
                raise _Invalid(f"more than {_COMPONENTS_MAX} values in one component")
            start = self.decimal(usec)
            stop, repeat = -1, 0
            if self.peek() == "." and self.peek(1) == ".":
                self.i += 2
                stop = self.decimal(usec)
                repeat = _USEC if usec else 1
            if self.peek() == "/":
                self.i += 1
                repeat = self.decimal(usec)
                if repeat == 0:
                    raise _Invalid("a repetition of 0")
            else:
                if start > _INT_MAX - repeat:
                    raise _Invalid("a number is too large")
                if usec and stop >= 0 and start + repeat > stop:
                    raise _Invalid("a range of seconds shorter than a second")
            if self.peek() not in ("", " ", ",", "-", "~", ":"):
                raise _Invalid(f"unexpected {self.peek()!r}")
            out.append(_Component(start, stop, repeat))
            if self.peek() != ",":
                return out
            self.i += 1

    # date and time ------------------------------------------------------------------
    def date(self) -> bool:
        """Parse a date; True when it was ``@SECONDS`` (no time follows)."""
        if self.peek() == "":
            return False
        if self.peek() == "@":
            self.i += 1
            self._timestamp()
            return True
        start = self.i
        first = self.chain(False)
        if self.peek() in ("", ":"):
            self.i = start
            return False
        if self.peek() == "~":
            self.end_of_month = True
        elif self.peek() != "-":
            raise _Invalid(f"unexpected {self.peek()!r} in the date")
        self.i += 1
        second = self.chain(False)
        if self.peek() in ("", " "):
            self.skip_spaces()
            self.chains.update(month=first, day=second)
            return False
        if self.end_of_month:
            raise _Invalid("'~' must separate month and day")
        if self.peek() == "~":
            self.end_of_month = True
        elif self.peek() != "-":
            raise _Invalid(f"unexpected {self.peek()!r} in the date")
        self.i += 1
        third = self.chain(False)
        if self.peek() not in ("", " "):
            raise _Invalid(f"unexpected {self.peek()!r} after the date")
        self.skip_spaces()
        self.chains.update(year=first, month=second, day=third)
        return False

    def _timestamp(self) -> None:
        j = self.i
        while j < len(self.s) and self.s[j] in _SPACE:
            j += 1
        negative = j < len(self.s) and self.s[j] == "-"
        if j < len(self.s) and self.s[j] in "+-":
            j += 1
        self.i = j
        c = self.peek()
        if not (c.isascii() and c.isdigit()):
            raise _Invalid("'@' must be followed by seconds since the epoch")
        value = self._digits()
        if negative and value:
            raise _Invalid("a time before 1970")
        days = value // 86400
        year = civil_from_days(days)[0]
        if not _MIN_YEAR <= year <= _MAX_YEAR:
            raise _Invalid(f"year {year} is outside {_MIN_YEAR}..{_MAX_YEAR}")

    def time(self) -> None:
        if self.peek() == "":
            return
        self.chains["hour"] = self.chain(False)
        if self.peek() != ":":
            raise _Invalid("a time needs hours and minutes (HH:MM[:SS])")
        self.i += 1
        self.chains["minute"] = self.chain(False)
        if self.peek() == "":
            return
        if self.peek() != ":":
            raise _Invalid(f"unexpected {self.peek()!r} in the time")
        self.i += 1
        self.chains["second"] = self.chain(True)
        if self.peek() != "":
            raise _Invalid(f"unexpected {self.s[self.i:]!r} after the time")


def civil_from_days(days: int) -> tuple[int, int, int]:
    """``(year, month, day)`` of the proleptic Gregorian calendar for a day number (days
    since 1970-01-01), by Howard Hinnant's days-to-civil algorithm."""
    z = days + 719468
    era = z // 146097  # Python floors, so negative days need no correction
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + (3 if mp < 10 else -9)
    return yoe + era * 400 + (month <= 2), month, day


def _normalized_valid(chain: list[_Component] | None, low: int, high: int,
                      end_of_month: bool = False, year: bool = False) -> bool:
    if not chain:
        return True
    if end_of_month:
        high -= 3
    for c in chain:
        start, stop, repeat = c.start, c.stop, c.repeat
        if year:
            start = start + 2000 if 0 <= start < 70 else start + 1900 if 70 <= start < 100 \
                else start
            stop = stop + 2000 if 0 <= stop < 70 else stop + 1900 if 70 <= stop < 100 else stop
        if stop > start and repeat > 0:
            stop -= (stop - start) % repeat
        if (stop > start and repeat > 0 and start + repeat > stop) or start == stop:
            repeat, stop = 0, -1
        if not low <= start <= high or repeat > high - low:
            return False
        if stop >= 0:
            if not low <= stop <= high or start + repeat > stop:
                return False
        elif start - repeat < low if end_of_month else start + repeat > high:
            return False
    return True


def calendar_error(text: str, timezone_exists: Callable[[str], bool] | None = None
                   ) -> str | None:
    """Why systemd would refuse ``text`` as ``OnCalendar=``, or None when it accepts it."""
    exists = timezone_exists or timezone_name_ok
    body = text
    if _lower(body).endswith(" utc"):
        body = body[:-4]
    else:
        space = body.rfind(" ")
        if space >= 0 and (body[space + 1:] == "UTC" or exists(body[space + 1:])):
            body = body[:space]
    if body == "":
        return "an empty calendar expression"
    if _lower(body) in _SHORTHANDS:
        return None
    parser = _Parser(body)
    try:
        parser.weekdays_part()
        if not parser.date():
            parser.time()
        if parser.peek() != "":
            raise _Invalid(f"unexpected {parser.s[parser.i:]!r}")
    except _Invalid as exc:
        return str(exc)
    chains = parser.chains
    eom = parser.end_of_month and chains.get("day") is not None
    checks = (("year", _MIN_YEAR, _MAX_YEAR), ("month", 1, 12), ("day", 1, 31),
              ("hour", 0, 23), ("minute", 0, 59), ("second", 0, 60 * _USEC - 1))
    for name, low, high in checks:
        if not _normalized_valid(chains.get(name), low, high, name == "day" and eom,
                                 name == "year"):
            return f"the {name} is out of range or repeats too rarely"
    return None


def is_valid_calendar(text: str, timezone_exists: Callable[[str], bool] | None = None) -> bool:
    """Whether systemd accepts ``text`` as ``OnCalendar=``."""
    return calendar_error(text, timezone_exists) is None
