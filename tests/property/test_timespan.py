"""Time spans against ``systemd-analyze timespan`` and a small reference model."""

from __future__ import annotations

import re
import subprocess

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from layout_trees.core.errors import UserError
from layout_trees.core.timespan import INFINITY, format_timespan, parse_timespan
from strategies import timespans

UNITS = {"s": 10**6, "sec": 10**6, "seconds": 10**6, "min": 60 * 10**6, "m": 60 * 10**6,
         "h": 3600 * 10**6, "hr": 3600 * 10**6, "d": 86400 * 10**6, "w": 604800 * 10**6,
         "M": 2629800 * 10**6, "y": 31557600 * 10**6, "ms": 1000, "msec": 1000, "us": 1,
         "usec": 1, "": 10**6}

tokens = st.tuples(st.integers(0, 5000), st.sampled_from(sorted(UNITS)),
                   st.sampled_from(["", " "]))
spans = st.lists(tokens, min_size=1, max_size=4)


def _text(parts: list[tuple[int, str, str]]) -> str:
    out = ""
    for i, (count, unit, gap) in enumerate(parts):
        if i and not out.endswith(" ") and parts[i - 1][1] == "":
            out += " "  # "5" followed by "3s" would read as "53s"
        out += f"{count}{gap}{unit}"
        if i < len(parts) - 1:
            out += " "
    return out


def systemd_timespans(texts: list[str]) -> list[tuple[int, str]]:
    """(microseconds, human form) for each text, from systemd-analyze timespan."""
    done = subprocess.run(["systemd-analyze", "timespan", "--", *texts],
                          capture_output=True, text=True, check=True)
    usecs = [int(m) for m in re.findall(r"μs: (\d+)", done.stdout)]
    humans = re.findall(r"Human: (.*)", done.stdout)
    return list(zip(usecs, humans, strict=True))


@given(st.lists(spans, min_size=1, max_size=20))
@example([[(1, "min", ""), (30, "s", "")]])
@example([[(2, "h", ""), (30, "min", "")]])
@example([[(1500, "ms", "")], [(61500, "ms", "")], [(1500, "us", "")]])
@example([[(1, "us", "")], [(60500, "ms", "")], [(1000001, "us", "")], [(60, "s", "")]])
def test_parse_and_format_timespan_reference_model_systemd_analyze(
        batch: list[list[tuple[int, str, str]]]) -> None:
    """parse_timespan and format_timespan agree with systemd-analyze timespan."""
    texts = [_text(parts) for parts in batch]
    expected = systemd_timespans(texts)
    ours = [(parse_timespan(t), format_timespan(parse_timespan(t))) for t in texts]
    assert ours == expected


@given(spans)
def test_parse_timespan_reference_model_sum_of_tokens(parts: list[tuple[int, str, str]]) -> None:
    """A span is the sum of its count×unit tokens."""
    assert parse_timespan(_text(parts)) == sum(c * UNITS[u] for c, u, _ in parts)


@given(st.integers(0, 10**15))
@example(61_500_000)
@example(1500)
def test_format_timespan_round_trip(usec: int) -> None:
    """Parsing what format_timespan printed gives the same microseconds back."""
    text = format_timespan(usec)
    if "." not in text:  # dot notation is systemd's; our parser takes integers only
        assert parse_timespan(text) == usec


@given(timespans())
def test_parse_timespan_invariant_integer_seconds(text: str) -> None:
    """Integer-second spans parse to whole seconds and format without a dot."""
    usec = parse_timespan(text)
    assert usec % 10**6 == 0
    assert "." not in format_timespan(usec)


@given(st.text(max_size=12))
@example("1 fortnight")
@example("")
@example("-5s")
def test_parse_timespan_invariant_raises_only_user_error(text: str) -> None:
    """Any text parses to a non-negative count or INFINITY, or raises UserError."""
    try:
        value = parse_timespan(text)
    except UserError:
        return
    assert value == INFINITY or value >= 0


@pytest.mark.parametrize("text", ["", "  ", "1 fortnight", "abc", "5s x", "-1"])
def test_parse_timespan_errors_name_the_text_and_hint(text: str) -> None:
    """A refused span's message quotes the text and comes with a hint."""
    with pytest.raises(UserError) as caught:
        parse_timespan(text)
    assert repr(text) in caught.value.message
    assert caught.value.hint and caught.value.hint[0].islower()
    assert caught.value.hint == caught.value.hint.strip()


def test_parse_timespan_infinity() -> None:
    """'infinity' is INFINITY and formats back as 'infinity'."""
    assert format_timespan(parse_timespan(" infinity ")) == "infinity"
    with pytest.raises(UserError):
        parse_timespan("1 infinity")
