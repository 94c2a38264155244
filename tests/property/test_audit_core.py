"""The audit cores: globs, the mount-table audit and the grouping of lost files."""

from __future__ import annotations

import fnmatch

from hypothesis import example, given
from hypothesis import strategies as st
from layout_trees.core.audit import MountProblemKind, audit_expect, audit_mounted, glob_match
from layout_trees.core.documents import snapshot_document
from layout_trees.core.lost import group_lost, ignore_matcher, is_ignored
from layout_trees.core.mountinfo import MountEntry
from layout_trees.core.plan import Plan, make_plan
from strategies import World, worlds

GLOB_TEXT = st.text("ab/:@*?[]!-.", max_size=8)


@given(GLOB_TEXT, st.text("ab/:@-.", max_size=8))
@example("[!a]", "b")
@example("a[", "a[")
@example("[a-b]", "b")
def test_glob_match_reference_fnmatch(pattern: str, text: str) -> None:
    """glob_match agrees with fnmatch.fnmatchcase (the reference model), '*' crossing '/'."""
    assert glob_match(pattern, text) == fnmatch.fnmatchcase(text, pattern)


def _super_options(subvol: str, subvol_id: int | None) -> tuple[str, ...]:
    """btrfs's superblock options as mountinfo shows them: ``subvolid=`` then ``subvol=``."""
    return ("rw", *((f"subvolid={subvol_id}",) if subvol_id is not None else ()),
            f"subvol={subvol}")


def perfect_mounts(world: World, plan: Plan) -> tuple[MountEntry, ...]:
    """The mount table a correct boot leaves: every planned leaf, as planned (the kernel shows
    ``subvol=`` and ``subvolid=`` among the superblock's options, not the mount's)."""
    sources = {t.name: t.device for t in world.snapshot.trees}
    out = []
    for i, m in enumerate(plan.mounts):
        passed = tuple(o for o in m.options if not o.startswith(("subvol=", "subvolid=")))
        out.append(MountEntry(100 + i, 1, m.subvol, m.where, "btrfs", sources[m.tree] or "",
                              ("rw", *passed), (*_super_options(m.subvol, m.subvol_id),
                                                *passed)))
    return tuple(out)


@st.composite
def mounted_worlds(draw: st.DrawFn) -> tuple[World, Plan, set[int], set[int], set[int]]:
    """A world, its plan, and which planned mounts are left out, mounted from another path,
    or mounted from the same path but another subvolume id (re-created since the scan)."""
    world = draw(worlds())
    plan = make_plan(world.config, world.snapshot)
    indexes = range(len(plan.mounts))
    missing = set(draw(st.sets(st.sampled_from(indexes)))) if plan.mounts else set()
    wrong = set(draw(st.sets(st.sampled_from(indexes)))) - missing if plan.mounts else set()
    with_id = {i for i in indexes if plan.mounts[i].subvol_id is not None}
    other_id = (set(draw(st.sets(st.sampled_from(sorted(with_id))))) - missing - wrong
                if with_id else set())
    return world, plan, missing, wrong, other_id


@given(mounted_worlds())
def test_audit_mounted_names_exactly_the_broken_mounts(case: tuple) -> None:
    """A mount table with every planned leaf has no problem; leaving some out and mounting
    others from another subvolume names exactly those, by kind."""
    world, plan, missing, wrong, other_id = case
    sources = {t.name: t.device for t in world.snapshot.trees}
    table = perfect_mounts(world, plan)
    assert audit_mounted(world.config, plan, table, sources) == ()
    broken = []
    for i, entry in enumerate(table):
        if i in missing:
            continue
        if i in wrong:
            entry = MountEntry(entry.mount_id, 1, entry.root + "-other", entry.mountpoint,
                               entry.fstype, entry.source, entry.options, entry.super_options)
        if i in other_id:
            mount = plan.mounts[i]
            assert mount.subvol_id is not None
            entry = MountEntry(entry.mount_id, 1, entry.root, entry.mountpoint, entry.fstype,
                               entry.source, entry.options,
                               _super_options(mount.subvol, mount.subvol_id + 1))
        broken.append(entry)
    problems = audit_mounted(world.config, plan, tuple(broken), sources)
    found = {(p.kind, p.where) for p in problems}
    assert found == ({(MountProblemKind.NOT_MOUNTED, plan.mounts[i].where) for i in missing}
                     | {(MountProblemKind.WRONG_SUBVOLUME, plan.mounts[i].where)
                        for i in wrong | other_id})


def test_audit_mounted_options_and_hand_made() -> None:
    """A leaf mounted read-only against the plan, or without a planned option, is named; so is
    a mount below a destination that no leaf explains; fstab's mounts are not."""
    from layout_trees.core.config import Config, TreeConfig
    from layout_trees.core.model import Entry, EntryKind, Snapshot, Subvolume, TreeScan

    config = Config((TreeConfig("t", "/mnt/t", "/home", options=("noatime",)),))
    entry = Entry(("@a",), EntryKind.SUBVOLUME, subvolume=Subvolume("/t/@a"))
    snapshot = Snapshot((TreeScan("t", "/mnt/t", device="/dev/vdb", entries=(entry,)),))
    plan = make_plan(config, snapshot)
    ok = MountEntry(5, 1, "/t/@a", "/home/a", "btrfs", "/dev/vdb", ("rw", "noatime"), ("rw",))
    assert audit_mounted(config, plan, (ok,), {"t": "/dev/vdb"}) == ()
    ro = MountEntry(5, 1, "/t/@a", "/home/a", "btrfs", "/dev/vdb", ("ro", "relatime"), ("ro",))
    [problem] = audit_mounted(config, plan, (ro,), {"t": "/dev/vdb"})
    assert problem.kind is MountProblemKind.WRONG_OPTIONS
    assert "rw,noatime" in problem.detail
    extra = MountEntry(6, 5, "/", "/home/a/x", "tmpfs", "tmpfs", ("rw",), ())
    [hand] = audit_mounted(config, plan, (ok, extra), {"t": "/dev/vdb"})
    assert (hand.kind, hand.where) == (MountProblemKind.HAND_MADE, "/home/a/x")
    assert audit_mounted(config, plan, (ok, extra), {"t": "/dev/vdb"},
                         frozenset({"/home/a/x"})) == ()
    other = MountEntry(5, 1, "/t/@a", "/home/a", "ext4", "/dev/vdc", ("rw", "noatime"), ())
    [fs] = audit_mounted(config, plan, (other,), {"t": "/dev/vdb"})
    assert fs.kind is MountProblemKind.WRONG_FILESYSTEM


@given(worlds(), st.lists(st.sampled_from(["*", "*:*", "x*", "*@*", "?*"]), max_size=2))
def test_audit_expect_ignore_removes_exactly_the_matches(world: World, patterns: list) -> None:
    """With --ignore, the drift is the full drift minus the changes a pattern matches, and an
    audit of a machine against its own snapshot finds nothing."""
    doc = snapshot_document(world.snapshot, world.config)
    assert audit_expect(doc, doc, patterns) == ()
    empty = snapshot_document(type(world.snapshot)(), world.config)
    full = audit_expect(doc, empty)
    kept = audit_expect(doc, empty, patterns)
    assert all(c in full for c in kept)
    for change in full:
        names = [change.label]
        if change.section.value in ("config", "tree"):
            names.append(f"{change.key[0]}:")
        matched = any(fnmatch.fnmatchcase(n, p) for p in patterns for n in names)
        assert (change in kept) != matched
    assert audit_expect(doc, empty, ["*"]) == ()


PATHS = st.lists(st.sampled_from(["a", "b", "c", ".cache", "tmp"]), min_size=1, max_size=4).map(
    lambda parts: "/" + "/".join(parts))


@given(st.lists(st.tuples(PATHS, st.integers(0, 10**6), st.integers(1, 50)), max_size=20),
       st.integers(1, 4))
def test_group_lost_reference_model(items: list, depth: int) -> None:
    """Groups sum bytes and files by the first ``depth`` components, largest first, and lose
    nothing."""
    groups = group_lost(items, "/r", depth)
    expected: dict[str, list[int]] = {}
    for path, size, count in items:
        key = "/r/" + "/".join(path.strip("/").split("/")[:depth])
        expected.setdefault(key, [0, 0])
        expected[key][0] += size
        expected[key][1] += count
    assert {g.path: [g.bytes, g.files] for g in groups} == expected
    assert [g.bytes for g in groups] == sorted((g.bytes for g in groups), reverse=True)
    assert all(g.persist == f"layout persist {g.path}" for g in groups)


@given(PATHS, st.lists(st.sampled_from(["/a", "/*/.cache", "/tmp", "/b/c", "/c*"]),
                       max_size=3))
def test_ignore_matches_a_pattern_or_below(path: str, patterns: list) -> None:
    """A path is ignored exactly when it, or a directory above it, matches a pattern."""
    parts = path.split("/")[1:]
    prefixes = ["/" + "/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    expected = any(fnmatch.fnmatchcase(p, pat) for p in prefixes for pat in patterns)
    assert is_ignored(path, ignore_matcher(patterns)) == expected


def test_audit_mounted_leaves_refused_trees_to_check() -> None:
    """A tree refused for overlapping another is not 'not-checked': its leaves are the kept
    tree's, mounted and checked there."""
    from layout_trees.core.config import Config, TreeConfig
    from layout_trees.core.model import Entry, EntryKind, Snapshot, Subvolume, TreeScan

    config = Config((TreeConfig("a", "/mnt/t", "/home"), TreeConfig("b", "/mnt/t", "/home")))
    entry = Entry(("@x",), EntryKind.SUBVOLUME, subvolume=Subvolume("/t/@x", id=300))
    scans = tuple(TreeScan(n, "/mnt/t", device="/dev/vdb", entries=(entry,)) for n in "ab")
    plan = make_plan(config, Snapshot(scans))
    assert plan.refused_trees == frozenset({"b"})
    table = perfect_mounts(World(config, Snapshot(scans)), plan)
    assert audit_mounted(config, plan, table, {"a": "/dev/vdb", "b": "/dev/vdb"}) == ()
