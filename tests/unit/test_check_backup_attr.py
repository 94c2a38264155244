"""``layout check`` reads the backup attribute with the policy's parser (``parse_override``),
so it agrees with ``backup verify`` on every value."""

from __future__ import annotations

import pytest
from layout_trees.core.backup.policy import Override, parse_override
from layout_trees.core.check import check
from test_check_rules import cfg, scan, snap, sub, tree


def _rules(value: str | None, *, policy: bool = True) -> set[str]:
    config = cfg(tree()) if policy else cfg(tree(backup=None))
    report = check(config, snap(scan(sub("@a", backup=value))))
    return {f.rule for f in report.active if f.rule in {"LT060", "LT061"}}


@pytest.mark.parametrize("value", ["sikp", "no", "", "skip please"])
def test_a_value_verify_rejects_is_a_finding(value: str) -> None:
    """An attribute value parse_override calls INVALID is LT060 (not covered) even when the
    tree has a policy; it used to give no finding at all."""
    assert parse_override(value) is Override.INVALID
    assert _rules(value) == {"LT060"}


@pytest.mark.parametrize("value", ["skip", " skip\n"])
def test_skip_is_lt061(value: str) -> None:
    """A value parse_override reads as SKIP is LT061, with or without a policy."""
    assert parse_override(value) is Override.SKIP
    assert _rules(value) == {"LT061"}
    assert _rules(value, policy=False) == {"LT061"}


def test_no_attribute_follows_the_policy() -> None:
    """Without the attribute the tree's policy decides: covered, or LT060 without one."""
    assert _rules(None) == set()
    assert _rules(None, policy=False) == {"LT060"}
