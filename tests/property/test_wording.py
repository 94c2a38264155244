"""Counted nouns: one helper, so that no message says "4 leaf/leaves"."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st
from layout_trees.core.wording import count

NOUNS = st.sampled_from(["leaf", "file", "mount", "difference", "directory", "tree"])


@given(st.integers(min_value=0, max_value=10**9), NOUNS)
@example(1, "leaf")
@example(0, "leaf")
def test_count_reference_model(n: int, noun: str) -> None:
    """Reference model: the number, a space, the singular for exactly one, the plural
    otherwise (zero included); never a slash or "(s)"."""
    plural = {"leaf": "leaves", "directory": "directories"}.get(noun, noun + "s")
    assert count(n, noun) == f"{n} {noun if n == 1 else plural}"
    assert "/" not in count(n, noun) and "(s)" not in count(n, noun)


@given(st.integers(min_value=0, max_value=100), st.text(min_size=1, max_size=5))
def test_an_explicit_plural_wins(n: int, plural: str) -> None:
    """A plural given by the caller is used for every count but one."""
    assert count(n, "child", plural) == (f"{n} child" if n == 1 else f"{n} {plural}")
