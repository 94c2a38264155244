"""Rule lookup, the rule's explanation and the report's verdict, compared exactly.

``rule_of`` answers an unknown rule with the closest ids as a hint: the hint is
compared word for word, for a lower-case id, a short number, a near miss with
more than three close ids, and text that resembles no id.
"""

from __future__ import annotations

import pytest
from layout_trees.core.check import RULES_BY_ID, Finding, Report
from layout_trees.core.check.registry import rule_of
from layout_trees.core.errors import UserError


@pytest.mark.parametrize(("text", "rule"), [("LT020", "LT020"), (" lt020 ", "LT020"),
                                            ("lt001", "LT001"), ("LT20", "LT020"),
                                            ("20", "LT020"), ("lt2", "LT002")])
def test_rule_of_known(text: str, rule: str) -> None:
    """An id in any case, or its number with or without 'LT' and zeros, names the rule."""
    if text.strip().upper() in RULES_BY_ID:
        assert rule_of(text).id == rule
    else:
        with pytest.raises(UserError) as caught:
            rule_of(text)
        assert caught.value.hint == f"did you mean '{rule}'?"


@pytest.mark.parametrize(("text", "hint"), [
    ("lt20", "did you mean 'LT020'?"),
    ("LT09", "did you mean 'LT070' or 'LT063' or 'LT062'?"),
    ("LT_020", "did you mean 'LT020' or 'LT070' or 'LT062'?"),
    ("zzz", "'layout check --list-rules' lists the rules"),
    ("LT99", "'layout check --list-rules' lists the rules"),
])
def test_rule_of_unknown_message_and_hint_exact(text: str, hint: str) -> None:
    """An unknown rule: 'no rule TEXT', and at most three close ids or the list command."""
    with pytest.raises(UserError) as caught:
        rule_of(text)
    assert caught.value.message == f"no rule {text!r}"
    assert caught.value.hint == hint


def test_rule_explain_exact_start() -> None:
    """The explanation: heading, the summary as a sentence, the hint as a sentence, the docs."""
    rule = RULES_BY_ID["LT001"]
    assert rule.explain() == (
        "## LT001 `config-invalid` (error)\n\n"
        "A part of the configuration cannot be used.\n"
        "Hint: fix the key or value named in the message; the tree is ignored until then.\n\n"
        + rule.doc)


def test_report_failed_strict_only_when_asked() -> None:
    """Warnings fail a report only with strict; silenced errors never do."""
    warned = Report((Finding("LT021", "/t/a: no @", "t", "/t/a"),))
    assert not warned.failed()
    assert warned.failed(strict=True)
    silenced = Report((Finding("LT020", "/t/@a: x", "t", "/t/@a", None, "kept"),))
    assert not silenced.failed(strict=True)
    assert Report((Finding("LT020", "/t/@a: x", "t", "/t/@a"),)).failed()
