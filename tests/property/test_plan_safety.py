"""Where the plan never mounts, which trees it refuses, what is no part of a tree.

Invariants over hostile worlds (no mount at ``/``, in an API filesystem, over
or inside a tree's location; kept trees never overlap), metamorphic
properties (reserved entries and the order of trees change nothing; a
resolved destination moves every mount below it), and the one component rule.
"""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st
from layout_trees.core.backup.policy import BackupPolicy
from layout_trees.core.check import check
from layout_trees.core.config import Config, TreeConfig
from layout_trees.core.escape import is_plain_component
from layout_trees.core.model import Entry, EntryKind, Snapshot, Subvolume, TreeScan
from layout_trees.core.paths import is_within
from layout_trees.core.plan import (
    SYSTEM_MOUNT_POINTS,
    SkipReason,
    effective_destination,
    leaf_name_problem,
    make_plan,
    overlapping_trees,
    protected_reason,
    tree_locations,
    without_reserved,
)
from layout_trees.core.record import replace
from layout_trees.core.reserved import DEFAULT_SNAPSHOT_DIR, RESERVED_PREFIX
from strategies import World, permuted, worlds

_ROOT_WORLDS = worlds(hostile=True, destinations=st.sampled_from(
    ["/", "/run", "/srv", "/mnt", "/mnt/top", "/dev", "/home/alice"]))


def _sub(tree: str, *path: str) -> Entry:
    return Entry(tuple(path), EntryKind.SUBVOLUME,
                 subvolume=Subvolume(f"/{tree}/" + "/".join(path), id=300 + len(path)))


def _world(trees: list[tuple[str, str, str]], entries: dict[str, tuple[Entry, ...]]) -> World:
    config = Config(tuple(TreeConfig(n, p, d, "/dev/vdb") for n, p, d in trees))
    scans = tuple(TreeScan(n, p, entries=entries.get(n, ()), root_subvol_path=p[len("/mnt/top"):],
                           fs_mountpoint="/mnt/top") for n, p, _ in trees)
    return World(config, Snapshot(scans))


ROOT_LEAF = _world([("s", "/mnt/top/s", "/")], {"s": (_sub("s", "@"), _sub("s", "@proc"))})
OVER_TREE = _world([("a", "/mnt/top/a", "/mnt"), ("b", "/mnt/top/b", "/srv")],
                   {"a": (_sub("a", "@top"),), "b": (_sub("b", "@x"),)})


@given(_ROOT_WORLDS)
@example(ROOT_LEAF)
@example(OVER_TREE)
def test_make_plan_invariant_no_mount_at_protected_places(world: World) -> None:
    """No mount at /, in /proc /sys /dev /run, over or inside any tree's location."""
    plan = make_plan(world.config, world.snapshot)
    locations = tree_locations(world.config, world.snapshot)
    for mount in plan.mounts:
        assert mount.where != "/"
        assert not any(is_within(mount.where, p) for p in SYSTEM_MOUNT_POINTS)
        for _, location, own in locations:
            assert not is_within(location, mount.where)
            assert not (own and is_within(mount.where, location))
    refused = {(s.tree, s.path) for s in plan.skips if s.reason is SkipReason.PROTECTED}
    assert all(protected_reason(s.where or "", locations) for s in plan.skips
               if (s.tree, s.path) in refused)


@given(_ROOT_WORLDS)
@example(ROOT_LEAF)
def test_check_invariant_protected_leaf_hides_nothing(world: World) -> None:
    """A refused protected leaf is reported (LT043) and never reported as hiding others."""
    report = check(world.config, world.snapshot)
    plan = make_plan(world.config, world.snapshot)
    protected = [s for s in plan.skips if s.reason is SkipReason.PROTECTED]
    rules = [f.rule for f in report.findings]
    assert rules.count("LT043") >= len({s.where for s in protected})
    hidden = [f for f in report.findings if f.rule == "LT041"]
    assert all(not any(s.where and s.where in f.message for s in protected) for f in hidden)


@given(worlds(hostile=True), st.data())
def test_overlapping_trees_metamorphic_order_and_invariant_disjoint(world: World,
                                                                   data: st.DataObject) -> None:
    """The refused trees do not depend on order; the kept trees neither nest nor share a
    place or a destination."""
    refused = overlapping_trees(world.config, world.snapshot)
    other = data.draw(permuted(world))
    assert overlapping_trees(other.config, other.snapshot) == refused
    scans = {s.name: s for s in world.snapshot.trees}
    kept = [t for t in world.config.trees if t.name not in refused]
    for a in kept:
        for b in kept:
            if a.name == b.name:
                continue
            assert not is_within(b.path, a.path), (a.name, b.name)
            assert effective_destination(a, scans.get(a.name)) != effective_destination(
                b, scans.get(b.name))


def _with_reserved(world: World, names: list[str]) -> World:
    """The world with snapshot-directory and work-name entries added at every tree root."""
    trees = []
    for scan in world.snapshot.trees:
        if scan.entries or scan.status.value == "ok":
            extra = [Entry((name,), EntryKind.DIRECTORY) for name in names]
            extra += [_sub("x", name, "@leaf") for name in names]
            extra += [Entry((name, "sub"), EntryKind.DIRECTORY, uid=1000, mode=0o777)
                      for name in names]
            known = {e.path for e in scan.entries}
            extra = [e for e in extra if e.path not in known and e.path[:1] not in known]
            scan = replace(scan, entries=scan.entries + tuple(extra), root_subvol_path="/")
        trees.append(scan)
    return World(world.config, replace(world.snapshot, trees=tuple(trees)))


@given(worlds(hostile=True), st.lists(st.sampled_from(
    [DEFAULT_SNAPSHOT_DIR, RESERVED_PREFIX, RESERVED_PREFIX + "-build", RESERVED_PREFIX + ".x"]),
    min_size=1, max_size=3, unique=True))
def test_reserved_entries_metamorphic_change_nothing(world: World, names: list[str]) -> None:
    """Adding the snapshot directory and work names to a tree at the top level changes
    neither the plan nor the check findings."""
    base = World(world.config, replace(world.snapshot, trees=tuple(
        replace(s, root_subvol_path="/") for s in world.snapshot.trees)))
    more = _with_reserved(base, names)
    assert without_reserved(base.config, more.snapshot) == without_reserved(
        base.config, base.snapshot)
    assert make_plan(more.config, more.snapshot) == make_plan(base.config, base.snapshot)
    assert check(more.config, more.snapshot) == check(base.config, base.snapshot)


def test_reserved_default_is_the_policy_default() -> None:
    """The reserved default snapshot directory is BackupPolicy's default (one value)."""
    assert BackupPolicy(targets=("/mnt/b",)).snapshot_dir == DEFAULT_SNAPSHOT_DIR


@given(worlds(), st.sampled_from(["/var/home", "/sysroot/srv"]))
def test_resolved_destination_metamorphic_moves_every_mount(world: World, real: str) -> None:
    """A destination resolved by the scan moves every mount of the tree below the resolved
    path, unchanged otherwise, and the plan says so."""
    trees = world.config.trees
    if not trees or not world.snapshot.trees:
        return
    scan = world.snapshot.trees[0]
    tree = world.config.tree(scan.name)
    assert tree is not None
    moved = replace(scan, destination_real=real + tree.destination.rstrip("/"))
    other = replace(world.snapshot, trees=(moved, *world.snapshot.trees[1:]))
    after = make_plan(world.config, other)
    new_dest = effective_destination(tree, moved)
    for mount in after.mounts_of(tree.name):
        assert is_within(mount.where, new_dest)
    if after.mounts_of(tree.name):
        assert [(r.tree, r.resolved) for r in after.resolved] == [(tree.name, new_dest)]


@given(st.text(max_size=6))
@example(".")
@example("..")
@example("")
@example("a/b")
def test_leaf_name_problem_reference_model(rest: str) -> None:
    """'@' + rest names a mount point exactly when rest is empty or a plain component."""
    ok = rest == "" or (rest not in (".", "..") and "/" not in rest and "\x00" not in rest)
    assert (leaf_name_problem("@" + rest) is None) == ok
    assert is_plain_component(rest) == (ok and rest != "")


def test_dot_leaf_skipped_and_bare_at_kept() -> None:
    """'@.' is skipped as an unsafe name; '@' mounts at the destination itself."""
    world = _world([("t", "/mnt/top/t", "/srv/t")], {"t": (_sub("t", "@."), _sub("t", "@"))})
    plan = make_plan(world.config, world.snapshot)
    assert [m.where for m in plan.mounts] == ["/srv/t"]
    assert [(s.path, s.reason) for s in plan.skips] == [(("@.",), SkipReason.UNSAFE_NAME)]


def test_mount_options_carry_the_subvolume_id() -> None:
    """Options= is subvol=PATH,subvolid=ID when the scan knows the id, subvol= alone else."""
    world = _world([("t", "/mnt/top/t", "/srv/t")], {"t": (_sub("t", "@a"),)})
    [mount] = make_plan(world.config, world.snapshot).mounts
    assert mount.options[:2] == ("subvol=/t/@a", "subvolid=301") and mount.subvol_id == 301
    no_id = replace(world.snapshot.trees[0], entries=(Entry(
        ("@a",), EntryKind.SUBVOLUME, subvolume=Subvolume("/t/@a")),))
    [mount] = make_plan(world.config, replace(world.snapshot, trees=(no_id,))).mounts
    assert mount.options == ("subvol=/t/@a",) and mount.subvol_id is None


def _owned(path: str, uid: int, mode: int) -> Entry:
    return Entry(tuple(path.split("/")), EntryKind.DIRECTORY, uid=uid, gid=uid, mode=mode)


def _nested(mode: int) -> World:
    """Tree ``a`` at /home owns ``alice`` (1000, 0700); tree ``b`` at /home/alice has a
    root of mode ``mode``."""
    world = _world([("a", "/mnt/top/a", "/home"), ("b", "/mnt/top/b", "/home/alice")],
                   {"a": (_owned("alice", 1000, 0o700), _sub("a", "alice", "@ws")),
                    "b": (_sub("b", "@docs"),)})
    b = replace(world.snapshot.trees[1], uid=1000, gid=1000, mode=mode)
    return World(world.config, replace(world.snapshot, trees=(world.snapshot.trees[0], b)))


def test_nested_destinations_with_one_owner_are_kept() -> None:
    """Nested destinations that agree on a directory's owner and mode are both mounted."""
    plan = make_plan(*_astuple(_nested(0o700)))
    assert sorted(m.where for m in plan.mounts) == ["/home/alice/docs", "/home/alice/ws"]
    assert not plan.refused_trees


def test_tree_that_drops_another_trees_owners_is_refused() -> None:
    """Two trees giving one directory different modes: the later one is refused whole."""
    plan = make_plan(*_astuple(_nested(0o755)))
    assert [m.where for m in plan.mounts] == ["/home/alice/ws"]
    assert plan.refused_trees == {"b"}
    [skip] = [s for s in plan.skips if s.tree == "b"]
    assert "/home/alice" in skip.detail and "0755" in skip.detail


def test_destination_inside_another_trees_leaf_is_refused() -> None:
    """A destination below another tree's leaf mount would chown that leaf's content."""
    world = _world([("a", "/mnt/top/a", "/srv"), ("b", "/mnt/top/b", "/srv/www/static")],
                   {"a": (_sub("a", "@www"),), "b": (_sub("b", "@img"),)})
    plan = make_plan(world.config, world.snapshot)
    assert [m.where for m in plan.mounts] == ["/srv/www"]
    assert plan.refused_trees == {"b"}


def _astuple(world: World) -> tuple[Config, Snapshot]:
    return world.config, world.snapshot


@given(worlds(hostile=True))
def test_plan_to_text_invariant_one_line_per_item(world: World) -> None:
    """The text plan has one line per mount and skip, and no control character in any."""
    from layout_trees.core.plan_report import plan_to_text

    plan = make_plan(world.config, world.snapshot)
    text = plan_to_text(world.config, plan)
    items = [line for line in text.splitlines() if line.startswith(("├── ", "└── "))]
    shown = [line for line in items if line[4:] != "(no leaves)"]
    assert len(shown) == len(plan.mounts) + len(plan.skips)
    assert not any(ord(c) < 0x20 or ord(c) == 0x7F for c in text.replace("\n", ""))


def test_tree_location_and_parents_never_get_owners() -> None:
    """Destination '/' with a user's structure 'mnt': /mnt, a parent of the tree, keeps
    its owner; the leaf below is still mounted."""
    world = _world([("s", "/mnt/top/s", "/")],
                   {"s": (_owned("mnt", 1000, 0o700), _owned("mnt/top", 1000, 0o700),
                          _owned("mnt/x", 1000, 0o700), _sub("s", "mnt", "x", "@y"))})
    plan = make_plan(world.config, world.snapshot)
    assert [m.where for m in plan.mounts] == ["/mnt/x/y"]
    assert [d.path for d in plan.directories] == ["/mnt/x"]


@given(_ROOT_WORLDS)
def test_make_plan_invariant_no_owner_for_a_tree_location(world: World) -> None:
    """No directory the plan owns is a tree's location or a parent of one."""
    plan = make_plan(world.config, world.snapshot)
    locations = tree_locations(world.config, world.snapshot)
    for spec in plan.directories:
        assert not any(is_within(loc, spec.path) for _, loc, _ in locations)


@given(st.integers(240, 260), st.booleans())
def test_every_planned_unit_name_fits(length: int, automount: bool) -> None:
    """Invariant: every unit a planned mount needs (its .mount and, with
    x-systemd.automount, its .automount) has a name systemd can load; a leaf whose name
    would be too long is skipped, so rendering never fails on it."""
    from layout_trees.core.escape import UNIT_NAME_MAX
    from layout_trees.core.units import render

    name = "@" + "n" * length
    tree = TreeConfig("t", "/mnt/top/t", "/d",
                      options=("x-systemd.automount",) if automount else ())
    scan = TreeScan("t", "/mnt/top/t", device="/dev/vdb", root_subvol_path="/t",
                    entries=(Entry((name,), EntryKind.SUBVOLUME,
                                   subvolume=Subvolume(f"/t/{name}", id=300)),))
    plan = make_plan(Config((tree,)), Snapshot((scan,)))
    for mount in plan.mounts:
        assert len(mount.unit) <= UNIT_NAME_MAX
        if automount:
            assert len(mount.automount_unit) <= UNIT_NAME_MAX
    assert len(plan.mounts) + len(plan.skips) == 1
    render(plan)
