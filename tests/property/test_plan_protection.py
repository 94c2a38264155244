"""``Protection.reason`` answers as ``protected_reason`` for every mount point, and the
remembered ``is_reserved_below`` as the plain one."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st
from layout_trees.core.plan import SYSTEM_MOUNT_POINTS, Protection, protected_reason
from layout_trees.core.reserved import RESERVED_PREFIX, is_reserved_below

COMPONENTS = st.sampled_from(["a", "b", "ab", "proc", "run", "sys", "dev", "x y"])
PATHS = st.one_of(
    st.just("/"),
    st.lists(COMPONENTS, min_size=1, max_size=4).map(lambda parts: "/" + "/".join(parts)),
    st.sampled_from([*SYSTEM_MOUNT_POINTS, "/proc/1", "/runx", "/device"]))
LOCATIONS = st.lists(st.tuples(st.sampled_from(["t1", "t2"]), PATHS, st.booleans()),
                     max_size=4).map(lambda found: tuple(sorted(set(found))))


@given(LOCATIONS, st.lists(PATHS, max_size=12))
@example(((("t1", "/", True),)), ["/a", "/"])
@example(((("t1", "/a/b", False),)), ["/a", "/a/b", "/a/b/c", "/ab"])
@example(((("t1", "/a/b", True),)), ["/a/b/c", "/a/bc", "/a"])
@example((), ["/proc", "/proc/1", "/procs", "/run/x", "/"])
def test_protection_reference_model_is_protected_reason(
        locations: tuple[tuple[str, str, bool], ...], wheres: list[str]) -> None:
    """For any tree locations and mount points, asked in any order and repeatedly (the
    answers per directory are remembered), the reason is protected_reason's."""
    protection = Protection(locations)
    for where in [*wheres, *reversed(wheres)]:
        assert protection.reason(where) == protected_reason(where, locations)


TREE_PATHS = st.lists(st.sampled_from(["a", "b", ".snapshots", RESERVED_PREFIX + ".x", "@c"]),
                      min_size=1, max_size=4).map(tuple)


@given(st.frozensets(TREE_PATHS, max_size=3), st.lists(TREE_PATHS, max_size=12))
@example(frozenset({(".snapshots",)}), [(".snapshots", "a"), ("a",), (".snapshots",)])
def test_remembered_reserved_below_reference_model(
        reserved: frozenset[tuple[str, ...]], paths: list[tuple[str, ...]]) -> None:
    """With a memory shared across the paths of one tree, is_reserved_below answers as
    without it, whatever the order of the paths."""
    known: dict[tuple[str, ...], bool] = {}
    for path in [*paths, *reversed(paths)]:
        assert is_reserved_below(path, reserved, known) == is_reserved_below(path, reserved)
