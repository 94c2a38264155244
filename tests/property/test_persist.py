"""Properties of ``plan_persist``: which tree, which leaf, which steps, which refusals."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st
from layout_trees.core.config import Config, TreeConfig
from layout_trees.core.errors import LayoutError
from layout_trees.core.escape import unsafe_reason
from layout_trees.core.model import Entry, EntryKind, Snapshot, Subvolume, TreeScan
from layout_trees.core.mountinfo import MountEntry
from layout_trees.core.persist import (
    STAGING,
    PathFacts,
    PathKind,
    PersistPlan,
    PersistRefused,
    StepKind,
    leaf_for,
    plan_persist,
    relative_parts,
)
from layout_trees.core.plan import Plan, join, make_plan
from layout_trees.core.record import replace
from strategies import World, permuted, safe_names, worlds

owners = st.sampled_from([0, 1000, 65534])
modes = st.sampled_from([0o755, 0o700, 0o2775, 0o1777])


def mount_table(plan: Plan, world: World) -> tuple[MountEntry, ...]:
    """Every planned leaf mounted, as the kernel would show it."""
    entries = []
    for i, mount in enumerate(plan.mounts):
        scan = world.snapshot.tree(mount.tree)
        source = (scan.device if scan and scan.device else mount.what)
        entries.append(MountEntry(100 + i, 1, mount.subvol, mount.where, "btrfs", source,
                                  ("rw",), ("rw", f"subvol={mount.subvol}")))
    return tuple(entries)


def facts_for(path: str, owner_draws: list[tuple[int, int, int]]) -> tuple[PathFacts, ...]:
    parts = [p for p in path.split("/") if p]
    out = []
    for i in range(len(parts) + 1):
        uid, gid, mode = owner_draws[i % len(owner_draws)]
        out.append(PathFacts("/" + "/".join(parts[:i]), PathKind.DIRECTORY, uid, gid, mode))
    return tuple(out)


@st.composite
def persist_cases(draw: st.DrawFn, hostile: bool = False, single: bool = False):
    """A world, a path below one of its destinations, facts and the mount table."""
    world = draw(worlds(hostile=hostile))
    if single:  # only the first tree
        first = world.config.trees[0]
        world = World(replace(world.config, trees=(first,)),
                      replace(world.snapshot, trees=tuple(
                          t for t in world.snapshot.trees if t.name == first.name)))
    tree = draw(st.sampled_from(world.config.trees))
    scan = world.snapshot.tree(tree.name)
    # Often walk into the tree's existing structure, sometimes into new names.
    existing = [e.path for e in (scan.entries if scan else ())
                if all(not p.startswith("@") for p in e.path)]
    base: tuple[str, ...] = draw(st.sampled_from(existing)) if existing and draw(
        st.booleans()) else ()
    extra = draw(st.lists(safe_names(max_size=5), max_size=2))
    leaves = [e.path for e in (scan.entries if scan else ()) if e.is_at_name]
    if leaves and draw(st.integers(0, 4)) == 0:  # aim at (or into) an existing leaf
        leaf = draw(st.sampled_from(leaves))
        name = leaf[-1][1:]
        base, extra = leaf[:-1] + ((name,) if name else ()), draw(
            st.lists(safe_names(max_size=3), max_size=1))
    path = join(tree.destination, [*base, *extra])
    owner_draws = draw(st.lists(st.tuples(owners, owners, modes), min_size=1, max_size=4))
    plan = make_plan(world.config, world.snapshot)
    return world, path, facts_for(path, owner_draws), mount_table(plan, world)


def _grown(world: World, result: PersistPlan) -> Snapshot:
    """The snapshot after the plan's steps ran (what the next scan will see)."""
    scan = world.snapshot.tree(result.tree)
    assert scan is not None and scan.root_subvol_path is not None
    added = []
    for step in result.steps:
        inner = relative_parts(step.path, scan.root)
        if step.kind is StepKind.MAKE_DIRECTORY:
            added.append(Entry(inner, EntryKind.DIRECTORY, step.uid, step.gid, step.mode))
        elif step.kind is StepKind.CREATE_SUBVOLUME:
            made = step
        elif step.kind is StepKind.RENAME:  # the subvolume becomes a leaf only here
            added.append(Entry(inner, EntryKind.SUBVOLUME, made.uid, made.gid, made.mode,
                               subvolume=Subvolume(join(scan.root_subvol_path, inner))))
    grown = replace(scan, entries=scan.entries + tuple(added))
    return replace(world.snapshot,
                   trees=tuple(grown if t.name == scan.name else t for t in world.snapshot.trees))


def _innermost(config: Config, path: str) -> TreeConfig:
    holders = [t for t in config.trees
               if path == t.destination or t.destination == "/"
               or path.startswith(t.destination + "/")]
    return max(holders, key=lambda t: (len(t.destination), t.name))


@given(persist_cases())
def test_persisted_leaf_is_planned_where_the_directory_was(case) -> None:
    """Invariant/round trip: after the steps, a fresh plan mounts the new leaf exactly at PATH
    and keeps every mount it had before, unchanged."""
    world, path, facts, mounts = case
    try:
        result = plan_persist(world.config, world.snapshot, mounts, path, facts)
    except PersistRefused:
        return
    before = make_plan(world.config, world.snapshot)
    after = make_plan(world.config, _grown(world, result))
    new = [m for m in after.mounts if (m.tree, m.path) == (result.tree, result.leaf)]
    assert len(new) == 1 and new[0].where == path == result.mount.where
    assert new[0] == result.mount
    assert set(before.mounts) <= set(after.mounts)
    assert len(after.mounts) == len(before.mounts) + 1


@given(persist_cases())
def test_steps_follow_the_destination(case) -> None:
    """Invariant: the innermost tree is chosen; structure directories are exactly the missing
    parents, created with the owners and modes of the matching destination directories; the
    subvolume gets the source's; the order is directories, subvolume, copy, mount."""
    world, path, facts, mounts = case
    try:
        result = plan_persist(world.config, world.snapshot, mounts, path, facts)
    except PersistRefused:
        return
    tree = _innermost(world.config, path)
    assert result.tree == tree.name
    parts = relative_parts(path, tree.destination)
    assert result.leaf == leaf_for(parts)
    assert result.leaf_path == join(tree.path, result.leaf)
    kinds = [s.kind for s in result.steps]
    n = kinds.count(StepKind.MAKE_DIRECTORY)
    assert kinds == [StepKind.MAKE_DIRECTORY] * n + [StepKind.CREATE_SUBVOLUME, StepKind.COPY,
                                                     StepKind.RENAME, StepKind.MOUNT]
    scan = world.snapshot.tree(tree.name)
    assert scan is not None
    existing = {e.path for e in scan.entries}
    missing = [result.leaf[:i] for i in range(1, len(result.leaf))
               if result.leaf[:i] not in existing]
    assert result.created_directories == tuple(join(tree.path, m) for m in missing)
    by_path = {f.path: f for f in facts}
    for step in result.steps[:n]:
        inner = relative_parts(step.path, tree.path)
        fact = by_path[join(tree.destination, inner)]
        assert (step.uid, step.gid, step.mode) == (fact.uid, fact.gid, fact.mode)
    sub = result.steps[n]
    # built under the reserved staging name beside the leaf, renamed to the leaf last
    assert sub.path == result.staging_path == result.leaf_path.rsplit("/", 1)[0] + "/" + STAGING
    assert STAGING.startswith(".layout-trees-") and "@" not in STAGING
    assert (result.steps[n + 2].source, result.steps[n + 2].path) == (sub.path,
                                                                      result.leaf_path)
    assert (sub.uid, sub.gid, sub.mode) == (by_path[path].uid, by_path[path].gid,
                                             by_path[path].mode)
    assert result.steps[n + 1].source == path


@given(persist_cases())
def test_persisted_or_inside_leaves_are_refused(case) -> None:
    """Reference model: a path that a planned leaf of its tree mounts, or that lies inside or
    above one, is always refused."""
    world, path, facts, mounts = case
    tree = _innermost(world.config, path)
    plan = make_plan(world.config, world.snapshot)
    dest = tree.destination

    def inside(p: str, base: str) -> bool:
        return p != base and (base == "/" or p.startswith(base + "/"))

    touching = [m for m in plan.mounts
                if (m.where == path)
                or ((inside(m.where, dest) or (m.where == dest and m.tree == tree.name))
                    and inside(path, m.where))
                or inside(m.where, path)]
    if not touching:
        return
    try:
        plan_persist(world.config, world.snapshot, mounts, path, facts)
    except PersistRefused as exc:
        assert exc.hint is None or isinstance(exc.hint, str)
        return
    raise AssertionError(f"{path} was not refused although {touching[0].where} is a leaf")


@given(persist_cases(single=True), st.data())
def test_free_directories_are_accepted(case, data) -> None:
    """Reference model: with one valid tree, a directory whose path holds no leaf, no '@'
    name and no mount at, above or below it within the destination is always accepted."""
    world, path, facts, mounts = case
    tree = world.config.trees[0]
    scan = world.snapshot.tree(tree.name)
    plan = make_plan(world.config, world.snapshot)
    parts = relative_parts(path, tree.destination)
    if any(p.startswith("@") for p in parts) or scan is None:
        return
    if any(unsafe_reason(c) for c in path.split("/") + tree.path.split("/") if c):
        return  # the plan itself skips such names (a separate refusal)
    leaf = leaf_for(parts)
    entries = {e.path for e in scan.entries}
    if leaf in entries:
        return
    for m in plan.mounts:
        if m.where == path or path.startswith(m.where.rstrip("/") + "/") or \
                m.where.startswith(path.rstrip("/") + "/"):
            return
    if path in world.snapshot.fstab_mountpoints:
        return
    result = plan_persist(world.config, world.snapshot, mounts, path, facts)
    assert result.mount.where == path


@given(persist_cases(hostile=True), st.sampled_from(list(PathKind)), st.integers(0, 5))
@example(case=(World(Config((TreeConfig("t", "/mnt/top/t", "/d"),)),
                     Snapshot((TreeScan("t", "/mnt/top/t", root_subvol_path="/t",
                                        device="/dev/vdb"),))),
               "/d", (PathFacts("/d", PathKind.DIRECTORY),), ()),
         kind=PathKind.DIRECTORY, which=0)
def test_hostile_inputs_return_or_refuse(case, kind, which) -> None:
    """Invariant: for hostile worlds and odd facts (symlinks, missing, files on the way), the
    planner returns a plan or raises the project's error, never anything else."""
    world, path, facts, mounts = case
    if facts:
        i = which % len(facts)
        facts = (*facts[:i], replace(facts[i], kind=kind), *facts[i + 1:])
    try:
        result = plan_persist(world.config, world.snapshot, mounts, path, facts)
    except LayoutError:
        return
    assert result.mount.where == path
    # every directory on the way really is a directory
    tree = _innermost(world.config, path)
    by_path = {f.path: f for f in facts}
    for i in range(1, len(relative_parts(path, tree.destination)) + 1):
        here = join(tree.destination, relative_parts(path, tree.destination)[:i])
        assert by_path[here].kind is PathKind.DIRECTORY


@given(st.data())
def test_order_of_the_scan_does_not_matter(data) -> None:
    """Metamorphic: listing trees and entries in another order gives the same plan or the same
    refusal."""
    world, path, facts, mounts = data.draw(persist_cases())
    other = data.draw(permuted(world))

    def outcome(w: World) -> object:
        try:
            return plan_persist(w.config, w.snapshot, mounts, path, facts)
        except PersistRefused as exc:
            return ("refused", exc.message)

    assert outcome(world) == outcome(other)


@given(worlds(), safe_names())
def test_paths_outside_every_destination_are_refused(world, name) -> None:
    """Invariant: a path below no destination is refused, naming the destinations."""
    path = "/outside-" + name.replace("/", "")
    if any(path == t.destination or t.destination == "/" or path.startswith(t.destination + "/")
           for t in world.config.trees):
        return
    try:
        plan_persist(world.config, world.snapshot, (), path, (PathFacts(path, PathKind.DIRECTORY),))
    except PersistRefused as exc:
        assert "not below the destination" in exc.message
        assert exc.hint and world.config.trees[0].destination in exc.hint
        return
    raise AssertionError("not refused")


@given(persist_cases())
def test_a_mount_on_the_path_is_refused(case) -> None:
    """Invariant: a path something is mounted on (not a leaf) is refused as already mounted."""
    world, path, facts, mounts = case
    foreign = MountEntry(9999, 1, "/", path, "tmpfs", "tmpfs", ("rw",), ())
    try:
        plan_persist(world.config, world.snapshot, (*mounts, foreign), path, facts)
    except PersistRefused:
        return
    raise AssertionError("not refused")


@given(st.lists(safe_names(max_size=5), max_size=4), st.sampled_from(["/", "/d", "/home/a b"]))
def test_leaf_for_inverts_mount_components(parts, base) -> None:
    """Round trip: the leaf chosen for DEST/parts mounts back at DEST/parts, and relative_parts
    recovers parts from the joined path."""
    from layout_trees.core.plan import mount_components

    parts = tuple(p for p in parts if p)
    assert mount_components(leaf_for(parts)) == parts
    assert relative_parts(join(base, parts), base) == parts
    assert leaf_for(parts)[-1].startswith("@")


@given(persist_cases())
def test_describe_has_one_line_per_step(case) -> None:
    """Invariant: the dry-run text has one line per step, each naming the path it acts on."""
    from layout_trees.core.persist import describe

    world, path, facts, mounts = case
    try:
        result = plan_persist(world.config, world.snapshot, mounts, path, facts)
    except PersistRefused:
        return
    lines = describe(result)
    assert len(lines) == len(result.steps)
    for line, step in zip(lines, result.steps, strict=True):
        assert step.path in line


@given(worlds(), st.booleans())
def test_trees_themselves_are_never_persisted(world, above) -> None:
    """Invariant: a path that is a tree's directory, inside it or above it is refused (a
    tree would be copied into itself)."""
    tree = world.config.trees[0]
    path = tree.path.rsplit("/", 1)[0] if above else tree.path + "/x"
    config = type(world.config)(tuple(
        t if t is not tree else type(t)(t.name, t.path, "/") for t in world.config.trees))
    try:
        plan_persist(config, world.snapshot, (), path, facts_for(path, [(0, 0, 0o755)]))
    except PersistRefused as exc:
        assert "layout tree" in exc.message
        return
    raise AssertionError("not refused")
