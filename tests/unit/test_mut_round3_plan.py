"""The planner's shortcuts against the long way round, compared exactly: ``Protection``
gives ``protected_reason``'s answer for mount points below a protected place (not only
at it) and for ``/`` without locations; a leaf below ``/proc`` or inside another tree is
skipped with its reason; an fstab mount point skips its leaf and no other; an unsafe
destination resolved by the scan names the component; ``is_within`` strips only
slashes from the base."""

from __future__ import annotations

import pytest
from layout_trees.core.config import Config, TreeConfig
from layout_trees.core.model import Entry, EntryKind, Snapshot, Subvolume, TreeScan
from layout_trees.core.paths import is_within
from layout_trees.core.plan import Location, Protection, make_plan, protected_reason

LOCATIONS: tuple[Location, ...] = (("t", "/mnt/fs", False), ("t", "/trees/t", True))

WHERES = ["/", "/proc", "/proc/x", "/proc/x/y", "/sys/a/b", "/dev/x", "/run/x", "/trees",
          "/trees/t", "/trees/t/x", "/trees/t/x/y", "/trees/u", "/mnt", "/mnt/fs",
          "/mnt/fs/x", "/srv/x", "/srv/x/y", "/procx/y"]


def test_protection_gives_protected_reason() -> None:
    """One Protection asked about many mount points (its memo shared by siblings) answers
    as protected_reason does, below a protected place as well as at it."""
    protection = Protection(LOCATIONS)
    found = {where: protection.reason(where) for where in WHERES + WHERES}
    assert found == {where: protected_reason(where, LOCATIONS) for where in WHERES}
    assert found["/proc/x/y"] == "is /proc or below it, which systemd mounts itself"
    assert found["/trees/t/x/y"] == "lies inside tree 't' at /trees/t"
    assert found["/srv/x/y"] is None


@pytest.mark.parametrize("where", WHERES)
def test_protection_without_locations(where: str) -> None:
    """With no tree locations at all, the root filesystem and what systemd mounts are
    still protected, with protected_reason's words."""
    assert Protection(()).reason(where) == protected_reason(where, ())
    assert Protection(()).reason("/") == "is the root filesystem; a leaf never replaces it"


def leaf(*path: str) -> Entry:
    return Entry(path, EntryKind.SUBVOLUME, subvolume=Subvolume("/t/" + "/".join(path)))


def test_leaves_below_protected_places_are_skipped() -> None:
    """A leaf whose mount point lies below /proc, or below another tree's directory, is
    skipped with the reason and its mount point; the other leaves are mounted."""
    a = TreeConfig(name="a", path="/trees/a", destination="/proc/x")
    b = TreeConfig(name="b", path="/trees/b", destination="/trees/c/sub")
    c = TreeConfig(name="c", path="/trees/c", destination="/srv/c")
    plan = make_plan(Config((a, b, c)), Snapshot((
        TreeScan("a", "/trees/a", device="/dev/vda", entries=(leaf("@p"),)),
        TreeScan("b", "/trees/b", device="/dev/vdb", entries=(leaf("@q"),)),
        TreeScan("c", "/trees/c", device="/dev/vdc", entries=(leaf("@r"),)))))
    assert [(s.tree, s.path, s.reason.value, s.detail, s.where) for s in plan.skips] == [
        ("a", ("@p",), "protected-mount-point",
         "/trees/a/@p: mount point /proc/x/p is /proc or below it, which systemd mounts "
         "itself", "/proc/x/p"),
        ("b", ("@q",), "protected-mount-point",
         "/trees/b/@q: mount point /trees/c/sub/q lies inside tree 'c' at /trees/c",
         "/trees/c/sub/q")]
    assert [(m.tree, m.where) for m in plan.mounts] == [("c", "/srv/c/r")]


def test_fstab_mount_point_skips_only_its_leaf() -> None:
    """A leaf whose mount point /etc/fstab mounts is skipped; the leaves planned after it
    (in the same tree and in the next) are still mounted."""
    trees = (TreeConfig(name="a", path="/trees/a", destination="/srv/a"),
             TreeConfig(name="b", path="/trees/b", destination="/srv/b"))
    scans = (TreeScan("a", "/trees/a", device="/dev/vda", entries=(leaf("@x"), leaf("@y"))),
             TreeScan("b", "/trees/b", device="/dev/vdb", entries=(leaf("@z"),)))
    plan = make_plan(Config(trees), Snapshot(scans, fstab_mountpoints=frozenset({"/srv/a/x"})))
    assert [(m.tree, m.where) for m in plan.mounts] == [("a", "/srv/a/y"), ("b", "/srv/b/z")]
    assert [(s.tree, s.path, s.reason.value, s.detail, s.where) for s in plan.skips] == [
        ("a", ("@x",), "fstab", "/srv/a/x: /etc/fstab already mounts this path", "/srv/a/x")]


@pytest.mark.parametrize(("real", "component", "problem"), [
    ("/srv/a\x01b", "'a\\x01b'",
     "contains a control character (e.g. a newline), which would inject unit lines"),
    ("/srv/a\x1fb/t", "'a\\x1fb'",
     "contains a control character (e.g. a newline), which would inject unit lines"),
    ("/srv/a,b", "'a,b'", "contains a comma, which would inject mount options"),
])
def test_unsafe_resolved_destination_names_its_component(
        real: str, component: str, problem: str) -> None:
    """A destination the scan resolved to an unsafe path skips the leaf, naming the one
    component of the mount point that is unsafe (\\x1f is a blank to str.split)."""
    tree = TreeConfig(name="t", path="/trees/t", destination="/srv/t")
    scan = TreeScan("t", "/trees/t", device="/dev/vdb", destination_real=real,
                    entries=(leaf("@x"),))
    plan = make_plan(Config((tree,)), Snapshot((scan,)))
    assert plan.mounts == ()
    assert [(s.tree, s.path, s.reason.value, s.detail) for s in plan.skips] == [
        ("t", ("@x",), "unsafe-name",
         f"/trees/t/@x: {component} in '/t/@x' or {real + '/x'!r} {problem}")]


def test_is_within_base_ending_in_a_blank() -> None:
    """Only slashes are stripped from the base: '/a ' holds '/a /b', not '/a/b'."""
    assert is_within("/a /b", "/a ")
    assert not is_within("/a/b", "/a ")
    assert is_within("/a/b", "/a")
