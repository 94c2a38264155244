"""Reference models for the core's path vocabulary (``core.paths``, ``Entry``'s leaf rule)."""

from __future__ import annotations

from pathlib import PurePosixPath

from hypothesis import example, given
from hypothesis import strategies as st
from layout_trees.core.model import Entry, EntryKind, Subvolume
from layout_trees.core.paths import (
    ancestors,
    has_at_above,
    is_leaf_path,
    is_strictly_below,
    is_structure_path,
    is_within,
    parent_of,
)

COMPONENTS = st.sampled_from(["a", "ab", "b", "@a", "@b", "a@", "x"])
PARTS = st.lists(COMPONENTS, min_size=1, max_size=4).map(tuple)
ABS = st.lists(COMPONENTS, max_size=4).map(lambda p: "/" + "/".join(p))


@given(ABS, ABS)
@example("/ab", "/a")
@example("/a", "/")
@example("/", "/")
def test_is_within_reference_model(path: str, base: str) -> None:
    """Reference model: within is PurePosixPath's is_relative_to on whole components."""
    assert is_within(path, base) == PurePosixPath(path).is_relative_to(base)
    assert is_strictly_below(path, base) == (is_within(path, base) and path != base)


@given(PARTS)
@example(("@a",))
@example(("@a", "@b"))
@example(("a", "@b"))
def test_leaf_rule_reference_model(parts: tuple[str, ...]) -> None:
    """Reference model: a leaf path is the first '@' component, and it is the last one."""
    first_at = next((i for i, p in enumerate(parts) if p.startswith("@")), None)
    assert is_leaf_path(parts) == (first_at == len(parts) - 1)
    assert has_at_above(parts) == (first_at is not None and first_at < len(parts) - 1)
    assert is_structure_path(parts) == (first_at is None)


@given(PARTS, st.sampled_from([EntryKind.DIRECTORY, EntryKind.SUBVOLUME, EntryKind.SYMLINK]))
def test_entry_properties_are_the_path_rules(parts: tuple[str, ...], kind: EntryKind) -> None:
    """Invariant: Entry's leaf and structure properties are the path rules of its path."""
    sub = Subvolume("/t/" + "/".join(parts)) if kind is EntryKind.SUBVOLUME else None
    entry = Entry(parts, kind, subvolume=sub, target="t" if kind is EntryKind.SYMLINK else None)
    assert entry.has_leaf_name == is_leaf_path(parts)
    assert entry.below_at_name == has_at_above(parts)
    assert entry.is_structure_directory == (kind is not EntryKind.SYMLINK
                                            and is_structure_path(parts))


@given(ABS)
@example("/")
@example("/a")
def test_ancestors_reference_model(path: str) -> None:
    """Reference model: ancestors are PurePosixPath's parents, nearest first; parent_of is
    the first of them."""
    expected = tuple(str(p) for p in PurePosixPath(path).parents)
    assert ancestors(path) == expected
    assert parent_of(path) == (expected[0] if expected else "/")
    assert all(is_strictly_below(path, a) for a in ancestors(path))
