"""The calendar-expression validator against the real ``systemd-analyze calendar``.

Hypothesis builds expressions from the grammar's pieces (weekdays, dates, times, repetitions,
ranges, fractions, ``~``, ``@``, shorthands, time zones) and mutates them by a character or
two, so that valid and invalid expressions both come up often; each example is a batch
given to one ``systemd-analyze calendar`` call.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from layout_trees.core.calendar import calendar_error
from layout_trees.shell.backup import zone_exists

pytestmark = pytest.mark.integration

zoneinfo_has = zone_exists  # the machine's zone database, as systemd asks it


def systemd_accepts(expressions: list[str]) -> set[str]:
    """The expressions ``systemd-analyze calendar`` parses (one call for the whole batch)."""
    result = subprocess.run(["systemd-analyze", "calendar", "--", *expressions],
                            capture_output=True, text=True, env={**os.environ, "TZ": "UTC"},
                            timeout=60)
    prefix = "Failed to parse calendar specification '"
    refused = [line[len(prefix):].rsplit("': ", 1)[0] for line in result.stderr.splitlines()
               if line.startswith(prefix)]
    # one block per accepted expression ("Original form" is left out when it is normalised)
    blocks = result.stdout.count("Normalized form: ")
    assert blocks + len(refused) == len(expressions), result.stderr
    return set(expressions) - set(refused)


def _case(word: str) -> st.SearchStrategy[str]:
    return st.sampled_from([word, word.upper(), word.capitalize(), word[:-1] + word[-1].upper()])


_num = st.one_of(st.integers(0, 70), st.integers(0, 2300), st.integers(0, 10**12)).map(str) | \
    st.sampled_from(["00", "007", "01", "1970", "2199", "2200", "69", "70", "99", "100"])
_sec = st.one_of(_num, st.tuples(st.integers(0, 61), st.text("0123456789", min_size=0,
                                                             max_size=8))
                 .map(lambda t: f"{t[0]}.{t[1]}"))


def _component(num: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        num,
        st.tuples(num, num).map(lambda t: f"{t[0]}..{t[1]}"),
        st.tuples(num, num).map(lambda t: f"{t[0]}/{t[1]}"),
        st.tuples(num, num, num).map(lambda t: f"{t[0]}..{t[1]}/{t[2]}"),
    )


def _chain(num: st.SearchStrategy[str] = _num) -> st.SearchStrategy[str]:
    return st.just("*") | st.lists(_component(num), min_size=1, max_size=3).map(",".join)


_day = st.sampled_from(["mon", "monday", "tue", "wed", "wednesday", "thu", "fri", "sat",
                        "sun", "sunday"]).flatmap(_case)
_weekdays = st.lists(st.one_of(_day, st.tuples(_day, st.sampled_from(["..", "-"]), _day)
                               .map("".join)), min_size=1, max_size=3).map(",".join) | \
    st.tuples(_day, st.sampled_from([",", "-", "..", "."])).map("".join)
_date = st.one_of(
    st.tuples(_chain(), st.sampled_from("-~"), _chain(), st.sampled_from("-~"), _chain())
    .map("".join),
    st.tuples(_chain(), st.sampled_from("-~"), _chain()).map("".join),
    st.integers(-5, 10**10).map(lambda n: f"@{n}"),
)
_time = st.one_of(
    st.tuples(_chain(), _chain()).map(":".join),
    st.tuples(_chain(), _chain(), _chain(_sec)).map(":".join),
)
_zone = st.sampled_from(["", "", "", " UTC", " utc", " Europe/Berlin", " Nowhere/Foo", " EST",
                         " Etc", " America/New_York", " UTC+1"])
_short = st.sampled_from(["minutely", "hourly", "daily", "dayly", "weekly", "monthly",
                          "yearly", "annually", "anually", "quarterly", "semiannually",
                          "semi-annually", "bi-annually", "biannually", "fortnightly"]
                         ).flatmap(_case)
_structured = st.one_of(
    st.tuples(_short, _zone).map("".join),
    st.tuples(st.one_of(st.just(""), _weekdays.map(lambda w: w + " ")),
              st.one_of(st.just(""), _date.map(lambda d: d + " ")),
              st.one_of(st.just(""), _time), _zone).map(lambda t: ("".join(t[:3]).rstrip()
                                                                   + t[3])),
)
_ALPHABET = " *:-~.,/@0123456789MonUTCday"


@st.composite
def _mutated(draw: st.DrawFn) -> str:
    text = draw(_structured)
    for _ in range(draw(st.integers(0, 2))):
        pos = draw(st.integers(0, len(text)))
        if draw(st.booleans()) and text:
            text = text[:pos] + text[pos + 1:]
        else:
            text = text[:pos] + draw(st.sampled_from(_ALPHABET)) + text[pos:]
    return text


_expressions = st.one_of(_structured, _mutated()).filter(
    lambda e: "\n" not in e and not e.startswith("-"))

PINNED = ["daily", "dayly", "DAILY", " daily", "daily ", "*-*-* 02:30:00", "Mon..Fri 9:00",
          "Mon-Wed", "Wed..Mon", "Mon,", "Mon-", "Mon.", "*-*~03", "*-*~29", "*-02~28/1",
          "2199-12-31", "2200-01-01", "69-01-01", "@0", "@7258118399", "@7258118400", "@-1",
          "@ 5", "@+5", "*:0/15", "*:*:1.5..3", "*:*:1..1.5", "*:*:59.9999995", "0:0:0.",
          "12:00 Europe/Berlin", "12:00 Nowhere/Foo", "daily UTC", " UTC", "UTC", "12",
          "1-2 3:4", "*-*-* *:*:*", "0/0:0", "1..5/2-1", "5..1-1", "*:60", "24:00",
          ",".join(["1"] * 241) + ":0", ",".join(["1"] * 242) + ":0", "Mon *-*-* 00:00:00 UTC",
          "weekly", "quarterly", "semi-annually", "Sat,Sun *-*-1..7 10:00", "2024-02-30"]


def test_pinned_expressions_match_systemd() -> None:
    """Every pinned corner case (ranges, bounds, fractions, time zones) is judged as systemd
    judges it."""
    need_systemd_analyze()
    accepted = systemd_accepts(PINNED)
    assert {e for e in PINNED if calendar_error(e, zoneinfo_has) is None} == accepted
    assert "daily" in accepted and "dayly" not in accepted


def need_systemd_analyze() -> None:
    if shutil.which("systemd-analyze") is None:
        if os.environ.get("CI"):
            pytest.fail("systemd-analyze is needed as the oracle (in CI it must run)")
        pytest.skip("needs systemd-analyze")


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(_expressions, min_size=60, max_size=60))
@example(PINNED)
def test_calendar_validator_agrees_with_systemd_analyze(batch: list[str]) -> None:
    """Reference model: an expression is valid for calendar_error exactly when
    systemd-analyze calendar parses it."""
    need_systemd_analyze()
    accepted = systemd_accepts(batch)
    mine = {e for e in batch if calendar_error(e, zoneinfo_has) is None}
    assert mine == set(batch) & accepted, {
        "we accept, systemd refuses": sorted(mine - accepted),
        "systemd accepts, we refuse": sorted((set(batch) & accepted) - mine)}


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(_expressions, min_size=60, max_size=60))
def test_without_zone_database_never_accepts_what_systemd_refuses(batch: list[str]) -> None:
    """Without the zone database (the pure default), an expression systemd refuses is
    refused as well, unless it names a zone that does not exist."""
    need_systemd_analyze()
    accepted = systemd_accepts(batch)
    for expression in batch:
        if calendar_error(expression) is None and expression not in accepted:
            zone = expression.rsplit(" ", 1)[-1]
            assert not zoneinfo_has(zone), expression
