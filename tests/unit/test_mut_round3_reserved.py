"""``is_reserved_below`` with and without its memo: a reserved component anywhere on the
way (first, middle, last, alone) reserves the path; the memo records the path and every
parent it asked about, and a parent's remembered answer is the one used."""

from __future__ import annotations

import pytest
from layout_trees.core.reserved import is_reserved_below

SNAPS = frozenset({("pool", "snaps")})


@pytest.mark.parametrize(("path", "reserved", "below"), [
    ((".layout-trees",), frozenset(), True),
    ((".layout-trees-work", "a"), frozenset(), True),
    (("a", ".layout-trees", "c"), frozenset(), True),
    (("a", "b", ".layout-trees.tmp"), frozenset(), True),
    (("pool", "snaps"), SNAPS, True),
    (("pool", "snaps", "x", "y"), SNAPS, True),
    (("pool",), SNAPS, False),
    (("pool", "snapsx"), SNAPS, False),
    (("a", "b", "c"), frozenset(), False),
    (("a", "x.layout-trees"), frozenset(), False),
])
def test_is_reserved_below_with_and_without_memo(
        path: tuple[str, ...], reserved: frozenset[tuple[str, ...]], below: bool) -> None:
    """The answer is the same without a memo, with an empty one and with the memo of an
    earlier call for the same tree."""
    assert is_reserved_below(path, reserved) is below
    known: dict[tuple[str, ...], bool] = {}
    assert is_reserved_below(path, reserved, known) is below
    assert is_reserved_below(path, reserved, known) is below


def test_memo_records_the_path_and_every_parent() -> None:
    """One call fills the memo for the path and each directory above it, up to the first
    reserved one (which answers for everything below it)."""
    known: dict[tuple[str, ...], bool] = {}
    assert is_reserved_below(("a", "b", "c"), frozenset(), known) is False
    assert known == {("a", "b", "c"): False, ("a", "b"): False, ("a",): False}
    known = {}
    assert is_reserved_below(("a", ".layout-trees", "c", "d"), frozenset(), known) is True
    assert known == {("a", ".layout-trees", "c", "d"): True, ("a", ".layout-trees", "c"): True,
                     ("a", ".layout-trees"): True}


def test_memo_answer_of_a_parent_is_used() -> None:
    """Entries share their parents: a parent's remembered answer decides for the entries
    below it, and the path's own remembered answer is returned as it is."""
    known: dict[tuple[str, ...], bool] = {("a",): True}
    assert is_reserved_below(("a", "b"), frozenset(), known) is True
    assert known == {("a",): True, ("a", "b"): True}
    remembered: dict[tuple[str, ...], bool] = {(".layout-trees",): False}
    assert is_reserved_below((".layout-trees",), frozenset(), remembered) is False
