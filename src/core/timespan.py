"""systemd time spans: parsing (``parse_sec``) and formatting (``format_timespan``).

Only what mount options need: integer counts of the usual units, several
summed ("2h30min", "1min 30s"), a bare number meaning seconds, and
``infinity``.  Formatting matches systemd's exact form, e.g. 90 s prints as
``1min 30s``.
"""

from __future__ import annotations

import re

from .errors import UserError

USEC_PER_SEC = 1_000_000
INFINITY = -1

_UNITS: dict[str, int] = {}
for _names, _usec in (
    (("seconds", "second", "sec", "s"), USEC_PER_SEC),
    (("minutes", "minute", "min", "m"), 60 * USEC_PER_SEC),
    (("hours", "hour", "hr", "h"), 3600 * USEC_PER_SEC),
    (("days", "day", "d"), 86400 * USEC_PER_SEC),
    (("weeks", "week", "w"), 7 * 86400 * USEC_PER_SEC),
    (("months", "month", "M"), 2629800 * USEC_PER_SEC),
    (("years", "year", "y"), 31557600 * USEC_PER_SEC),
    (("msec", "ms"), 1000),
    (("usec", "us", "µs", "μs"), 1),
):
    for _name in _names:
        _UNITS[_name] = _usec

_TOKEN = r"\s*(\d+)\s*([A-Za-zµμ]*)"  # compiled on first use, not at start-up
_FORMAT_TABLE = (
    ("y", 31557600 * USEC_PER_SEC),
    ("month", 2629800 * USEC_PER_SEC),
    ("w", 7 * 86400 * USEC_PER_SEC),
    ("d", 86400 * USEC_PER_SEC),
    ("h", 3600 * USEC_PER_SEC),
    ("min", 60 * USEC_PER_SEC),
    ("s", USEC_PER_SEC),
    ("ms", 1000),
    ("us", 1),
)


def parse_timespan(text: str) -> int:
    """Microseconds in ``text`` (seconds by default), or ``INFINITY``."""
    stripped = text.strip()
    if stripped == "infinity":
        return INFINITY
    if not stripped:
        raise UserError(f"time span {text!r} is empty", "write e.g. '30s' or '2min'")
    total = 0
    pos = 0
    while pos < len(stripped):
        match = re.compile(_TOKEN).match(stripped, pos)
        if not match or match.end() == pos:
            raise UserError(f"time span {text!r} cannot be parsed", "write e.g. '90', '1min 30s'")
        unit = match.group(2) or "s"
        if unit not in _UNITS:
            raise UserError(f"time span {text!r} has an unknown unit {unit!r}", "use s, min, h, d")
        total += int(match.group(1)) * _UNITS[unit]
        pos = match.end()
        while pos < len(stripped) and stripped[pos] == " ":
            pos += 1
    return total


def format_timespan(usec: int) -> str:
    """Format like systemd's ``format_timespan(…, 0)``.

    A remainder below one minute that does not fall on the unit is written in
    dot notation, as systemd does: 1500 ms is ``1.500000s``, 61.5 s is
    ``1min 1.500000s``, 1500 us is ``1.500ms``.
    """
    if usec == INFINITY:
        return "infinity"
    if usec == 0:
        return "0"
    parts: list[str] = []
    rest = usec
    for suffix, size in _FORMAT_TABLE:
        if rest <= 0:
            break
        if rest < size:
            continue
        count, remainder = divmod(rest, size)
        if rest < 60 * USEC_PER_SEC and remainder > 0:
            digits = len(str(size)) - 1
            if digits > 0:
                parts.append(f"{count}.{remainder:0{digits}d}{suffix}")
                break
        parts.append(f"{count}{suffix}")
        rest = remainder
    return " ".join(parts)
