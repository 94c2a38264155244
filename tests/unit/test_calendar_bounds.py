"""Boundaries of the calendar validator's range checks (two-digit years, ranges, repetitions,
days counted from the end of the month), pinned with the verdicts of ``systemd-analyze
calendar`` of systemd 252 (the generated oracle test is in tests/integration)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from layout_trees.core.calendar import calendar_error

VERDICTS = Path(__file__).with_name("calendar_systemd252.json")
"""Expressions drawn from the oracle test's grammar (and its pinned corner cases) with
``systemd-analyze calendar``'s verdict: accepted (true) or refused (false).  Those whose
verdict depends on the zone database (``Nowhere/Foo``, ``Etc``) are left out: without it
the validator judges a zone name by its form."""

ACCEPTED = (
    '2069/130-01-01', '69/130-01-01', '99/100-01-01', '70..99/129-01-01',
    '69-01-01', '70-01-01', '99-12-31', '00-01-01', '2199-12-31', '70..69-01-01',
    '68..69-01-01', '*-*-1..31/10', '*-*-1..5/5', '*-*-1..5/4', '*-*-1..6/5', '*-*-5..5',
    '*-*-1/30', '*-*-31', '*:0/59', '*:0..10/11', '*:0..10/10', '*:5..5', '*:59..59',
    '*:0..59', '*:0..59/59', '*:1..59/58', '*-*~1', '*-*~28', '*-02~03', '*-*~04', '*-*~1..3',
    '*-*~3/1', '*-*~28/27', '*-*~26/25', '*-*~4/3', '*-*~3/2', '23:00', '0/23:00',
    '0..23/23:00', '22..23/1:00', '0..0:00', '2000..2199/199-01-01', '2000..2199/200-01-01',
    '1970/229-01-01', '69/1-01-01', '70..99/29-01-01', '70..99/30-01-01', '*-1..12/11-01',
    '*-1..12/12-01', '*-2/10-01', '*:*:0..59/59', '*:*:1..59/58', '*:*:0/59.999999',
)
REFUSED = (
    '2069/131-01-01', '69/131-01-01',
    '100-01-01', '1969-12-31', '2200-01-01', '69..70-01-01', '*-*-5..4', '*-*-1/31',
    '*-*-2/30', '*-*-0', '*-*-32', '*:1/59', '*:0/60', '*:5..4', '*:1..60', '*-*~29',
    '*-*~1/2', '*-*~5/5', '*-*~3..1', '*-*~27/27', '*-*~0', '*-*~25/25', '*-*~3/3', '24:00',
    '0/24:00', '1/23:00', '1..0:00', '1970/230-01-01', '2199/1-01-01', '*-12/1-01',
    '*-2/11-01', '*:*:0/60',
)


@pytest.mark.parametrize("text", ACCEPTED)
def test_systemd_accepts(text: str) -> None:
    """Example: systemd 252 accepts this expression, and so does the validator."""
    assert calendar_error(text) is None


@pytest.mark.parametrize("text", REFUSED)
def test_systemd_refuses(text: str) -> None:
    """Example: systemd 252 refuses this expression, and so does the validator."""
    assert calendar_error(text) is not None


def test_systemd_verdicts_on_the_oracle_grammar() -> None:
    """Reference model (systemd 252, recorded): the validator agrees with every verdict."""
    verdicts = json.loads(VERDICTS.read_text(encoding="utf-8"))
    assert len(verdicts) > 600
    wrong = [(text, accepted) for text, accepted in verdicts
             if (calendar_error(text) is None) != accepted]
    assert wrong == []
