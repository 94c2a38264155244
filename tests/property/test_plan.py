"""Properties of the mount plan: a reference model, clashes, order independence."""

from __future__ import annotations

from collections import Counter

from hypothesis import example, given
from hypothesis import strategies as st
from layout_trees.core.config import Config, TreeConfig
from layout_trees.core.errors import UserError
from layout_trees.core.escape import UNIT_NAME_MAX, escape_path, simplify_path, unsafe_reason
from layout_trees.core.model import Entry, EntryKind, Snapshot, Subvolume, TreeScan, TreeStatus
from layout_trees.core.options import conflicting_options, interpret
from layout_trees.core.plan import (
    SkipReason,
    classify,
    join,
    make_plan,
    mount_components,
    subvol_for,
)
from layout_trees.core.units import render
from strategies import World, permuted, worlds

Candidate = tuple[str, str, tuple[str, ...]]  # where, tree, leaf path


def _refused_trees(world: World) -> set[str]:
    """Trees inside another, at the same place, or sharing a destination (the later
    name refused), by configured paths: the worlds hold no symlinks or bind mounts."""
    trees = sorted(world.config.trees, key=lambda t: t.name)
    refused: set[str] = set()
    for i, a in enumerate(trees):
        for b in trees[i + 1:]:
            for keep, other in ((a, b), (b, a)):
                if other.name in refused:
                    continue
                inside = other.path.startswith(keep.path + "/")
                if inside or (other is b and (a.path == b.path
                                              or a.destination == b.destination)):
                    refused.add(other.name)
                    break
    return refused


def _protected(where: str, world: World) -> bool:
    """A mount point the plan never uses: /, what systemd mounts, a tree's location, the
    mount point of the filesystem holding a scanned tree (or a parent of it)."""
    if where == "/" or any(where == p or where.startswith(p + "/")
                           for p in ("/proc", "/sys", "/dev", "/run")):
        return True
    if any(s.fs_mountpoint is not None and (s.fs_mountpoint == where
                                            or s.fs_mountpoint.startswith(where + "/"))
           for s in world.snapshot.trees if world.config.tree(s.name) is not None):
        return True
    return any(t.path == where or t.path.startswith(where + "/") or where.startswith(t.path + "/")
               for t in world.config.trees)


def _leaf_candidates(world: World, conflicted: frozenset[str] = frozenset()) -> list[Candidate]:
    """Every leaf the rules would mount, before clashes and fstab are looked at
    (``conflicted``: trees refused because their directories drop another's owners)."""
    scans = {s.name: s for s in world.snapshot.trees}
    found: list[Candidate] = []
    refused = _refused_trees(world) | conflicted
    for tree in world.config.trees:
        if tree.name in refused:
            continue
        scan = scans.get(tree.name)
        if scan is None or scan.status is not TreeStatus.OK or not (tree.device or scan.device):
            continue
        try:
            interpret(tuple(o for o in tree.options if o not in conflicting_options(tree.options)))
        except UserError:
            continue
        kinds = {e.path: e.kind for e in scan.entries}
        for entry in scan.entries:
            *parents, leaf = entry.path
            if not leaf.startswith("@") or any(p.startswith("@") for p in parents):
                continue
            ancestors = [kinds.get(entry.path[:i]) for i in range(1, len(entry.path))]
            if any(k not in (None, EntryKind.DIRECTORY, EntryKind.SUBVOLUME) for k in ancestors):
                continue  # below a symlink, mount point or unreadable directory
            if entry.kind is not EntryKind.SUBVOLUME or entry.subvolume is None:
                continue
            if entry.subvolume.read_only or any(unsafe_reason(p) for p in entry.path):
                continue
            if leaf in ("@.", "@.."):
                continue
            rest = [*parents, leaf[1:]]
            where = simplify_path(tree.destination + "/" + "/".join(rest))
            subvol = subvol_for(tree, scan, entry)
            if any(unsafe_reason(c) for c in (where + subvol).split("/") if c):
                continue
            if len(escape_path(where)) + len(".automount") > UNIT_NAME_MAX:
                continue
            if _protected(where, world):
                continue
            found.append((where, tree.name, entry.path))
    return found


def _one_tree(entries: tuple[Entry, ...], destination: str = "/home/alice",
              fstab: frozenset[str] = frozenset()) -> World:
    tree = TreeConfig("t", "/mnt/top/t", destination, "/dev/vdb")
    return World(Config((tree,)), Snapshot((TreeScan("t", "/mnt/top/t", entries=entries),), fstab))


def _sub(*path: str, read_only: bool = False) -> Entry:
    return Entry(tuple(path), EntryKind.SUBVOLUME,
                 subvolume=Subvolume("/t/" + "/".join(path), read_only=read_only))


def _dir(*path: str) -> Entry:
    return Entry(tuple(path), EntryKind.DIRECTORY)


README_TREE = _one_tree((_sub("@ws"), _dir("ws"), _sub("ws", "@5-VMs")))
BELOW_MOUNTPOINT = _one_tree((Entry(("m",), EntryKind.MOUNTPOINT), _sub("m", "@x")))
BARE_AT_CLASH = _one_tree((_sub("@ws"), _dir("ws"), _sub("ws", "@")))
LONG_NAME = _one_tree((_sub("@" + "é" * 40),))
OVER_FILESYSTEM = World(
    Config((TreeConfig("t", "/mnt/top/t", "/", "/dev/vdb"),)),
    Snapshot((TreeScan("t", "/mnt/top/t", fs_mountpoint="/mnt/top", entries=(
        _dir("mnt"), _sub("mnt", "@top"), _sub("mnt", "@x"), _sub("@"), _sub("@run"))),)))


@given(worlds(hostile=True))
@example(README_TREE)
@example(BELOW_MOUNTPOINT)
@example(BARE_AT_CLASH)
@example(LONG_NAME)
@example(OVER_FILESYSTEM)
def test_make_plan_reference_model_one_mount_per_valid_leaf(world: World) -> None:
    """The plan mounts exactly the valid, unclashed leaves not in fstab, each once."""
    plan = make_plan(world.config, world.snapshot)
    conflicted = plan.refused_trees - _refused_trees(world)
    for skip in plan.skips:  # refused for owners only when directories really conflict
        if skip.tree in conflicted and skip.reason is SkipReason.OVERLAP:
            assert " gives " in skip.detail or "inside the leaf of tree" in skip.detail
    candidates = _leaf_candidates(world, frozenset(conflicted))
    per_where = Counter(where for where, _, _ in candidates)
    expected = sorted((w, t, p) for w, t, p in candidates
                      if per_where[w] == 1 and w not in world.snapshot.fstab_mountpoints)
    assert sorted((m.where, m.tree, m.path) for m in plan.mounts) == expected


@given(worlds(hostile=True))
@example(BARE_AT_CLASH)
def test_make_plan_invariant_no_shared_mount_point_and_clashes_reported(world: World) -> None:
    """No two mounts share a mount point; every leaf of a clash is reported as one."""
    plan = make_plan(world.config, world.snapshot)
    wheres = [m.where for m in plan.mounts]
    assert len(wheres) == len(set(wheres))
    candidates = _leaf_candidates(world, plan.refused_trees - _refused_trees(world))
    per_where = Counter(where for where, _, _ in candidates)
    clashes = {(s.tree, s.path) for s in plan.skips if s.reason is SkipReason.CLASH}
    for where, tree, path in candidates:
        if per_where[where] > 1:
            assert (tree, path) in clashes
            assert where not in wheres


@given(worlds(hostile=True))
def test_make_plan_invariant_every_at_entry_mounted_or_skipped(world: World) -> None:
    """Every '@' entry of a scanned tree is either mounted or skipped with a reason."""
    plan = make_plan(world.config, world.snapshot)
    mounted = {(m.tree, m.path) for m in plan.mounts}
    skipped = {(s.tree, s.path) for s in plan.skips}
    skipped_trees = {s.tree for s in plan.skips if not s.path}
    configured = {t.name for t in world.config.trees}
    for scan in world.snapshot.trees:
        if scan.name not in configured or scan.name in skipped_trees:
            continue
        kinds = {e.path: e.kind for e in scan.entries}
        for entry in scan.entries:
            walked = all(kinds.get(entry.path[:i], EntryKind.DIRECTORY) in
                         (EntryKind.DIRECTORY, EntryKind.SUBVOLUME)
                         and not entry.path[i - 1].startswith("@")
                         for i in range(1, len(entry.path)))
            if entry.name.startswith("@") and walked:
                assert ((scan.name, entry.path) in mounted) != ((scan.name, entry.path) in skipped)


@given(worlds(hostile=True), st.data())
def test_make_plan_metamorphic_permutation_byte_identical(world: World,
                                                          data: st.DataObject) -> None:
    """Listing trees and entries in another order gives byte-identical units and plan."""
    other = data.draw(permuted(world))
    plan = make_plan(world.config, world.snapshot)
    assert make_plan(other.config, other.snapshot) == plan
    assert render(make_plan(other.config, other.snapshot), "/etc/x.toml") == render(
        plan, "/etc/x.toml")


@given(worlds(hostile=True))
def test_make_plan_invariant_render_returns_every_mount_unit(world: World) -> None:
    """make_plan and render return: files sorted, each once, a unit with Where= per mount."""
    plan = make_plan(world.config, world.snapshot)
    files = render(plan, "/etc/layout-trees.toml")
    paths = [f.path for f in files]
    assert paths == sorted(set(paths))
    content = {f.path: f.content for f in files}
    for mount in plan.mounts:
        assert f"Where={mount.where.replace('%', '%%')}\n" in (content[mount.unit] or "")


@given(worlds(hostile=True))
def test_make_plan_invariant_directories_lie_between_destination_and_mounts(world: World) -> None:
    """Each directory spec is a strict ancestor of a mount and no mount point itself."""
    plan = make_plan(world.config, world.snapshot)
    wheres = {m.where for m in plan.mounts}
    for spec in plan.directories:
        assert spec.path not in wheres
        assert any(w.startswith(spec.path.rstrip("/") + "/") for w in wheres)
        if spec.within is not None:
            assert spec.within in wheres and spec.path.startswith(spec.within.rstrip("/") + "/")


@given(st.lists(st.text(min_size=1, max_size=4).map(lambda s: s.replace("/", "_")),
                min_size=1, max_size=4).map(tuple))
@example(("@",))
@example(("a", "@"))
def test_mount_components_invariant_drops_the_at(path: tuple[str, ...]) -> None:
    """mount_components removes the leaf's '@' and nothing else."""
    leaf = ("@" + path[-1]) if not path[-1].startswith("@") else path[-1]
    full = (*path[:-1], leaf)
    rest = mount_components(full)
    assert "/".join(rest) == "/".join([*path[:-1], leaf[1:]]).rstrip("/") or rest == path[:-1]


@given(st.sampled_from(["/", "/home", "/a/b/"]), st.lists(st.sampled_from(["x", "", "y z"]),
                                                          max_size=3))
def test_join_idempotence(base: str, parts: list[str]) -> None:
    """join is simplified: joining nothing more to its result changes nothing."""
    joined = join(base, parts)
    assert join(joined, []) == joined
    assert joined.startswith("/")


@given(worlds(hostile=True))
def test_classify_reference_model(world: World) -> None:
    """classify accepts exactly the writable subvolumes."""
    for scan in world.snapshot.trees:
        for entry in scan.entries:
            writable = (entry.kind is EntryKind.SUBVOLUME and entry.subvolume is not None
                        and not entry.subvolume.read_only)
            assert (classify(entry) is None) == writable


def test_make_plan_reference_readme_example() -> None:
    """The prototype README's tree gives its two documented mounts."""
    tree = TreeConfig("r", "/top/subvolumes/per-user/@roosemberth", "/home/roosemberth",
                      "/dev/mapper/Mimir", ("user_subvol_rm_allowed",), tree_prefix="/top")
    entries = (_sub("@ws"), _dir("ws"), _sub("ws", "@5-VMs"))
    scan = TreeScan("r", tree.path, entries=entries)
    plan = make_plan(Config((tree,)), Snapshot((scan,)))
    assert [(m.where, m.options) for m in plan.mounts] == [
        ("/home/roosemberth/ws", ("subvol=/subvolumes/per-user/@roosemberth/@ws",
                                  "user_subvol_rm_allowed")),
        ("/home/roosemberth/ws/5-VMs", ("subvol=/subvolumes/per-user/@roosemberth/ws/@5-VMs",
                                        "user_subvol_rm_allowed")),
    ]
