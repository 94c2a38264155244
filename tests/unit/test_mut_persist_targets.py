"""``layout persist``'s choice of tree, target and leaf, compared exactly: a destination
reached through a symlink (``/home`` to ``/var/home``), the refusals about the tree and
the directories on the way (each message and hint), the structure directories and
their owners, the mount the plan gives the new leaf (or why it gives none), and the
helpers ``live`` commands use to find symlinks on the way to a mount point.

The worlds are small and written out: tree ``t`` at ``/trees/t`` with destination
``/srv``, tree ``h`` whose destination ``/home`` resolves to ``/var/home``."""

from __future__ import annotations

import pytest
from layout_trees.core.config import Config, TreeConfig
from layout_trees.core.model import Entry, EntryKind, Snapshot, Subvolume, TreeScan, TreeStatus
from layout_trees.core.persist import (
    PathFacts,
    PathKind,
    PersistPlan,
    PersistRefused,
    Step,
    StepKind,
    choose_tree,
    crossed_at,
    crossing,
    crossings_of,
    mount_destination,
    persist_target,
    plan_persist,
)
from layout_trees.core.plan import Mount, Plan, make_plan

T = TreeConfig("t", "/trees/t", "/srv")
H = TreeConfig("h", "/trees/h", "/home")
STAGED = ".layout-trees-persist"


def scan_t(*entries: Entry, destination_error: str | None = None) -> TreeScan:
    """The scan of tree ``t`` with ``entries`` (and the scan's ``destination_error``)."""
    return TreeScan("t", "/trees/t", device="/dev/vdb", root_subvol_path="/t",
                    entries=entries, destination_error=destination_error)


def scan_h() -> TreeScan:
    """The scan of tree ``h``: its destination ``/home`` is a symlink to ``/var/home``."""
    return TreeScan("h", "/trees/h", device="/dev/vdb", root_subvol_path="/h",
                    destination_real="/var/home")


def leaf(root: str, *path: str, read_only: bool = False) -> Entry:
    """A leaf subvolume at ``path`` of a tree whose subvolume path is ``root``."""
    return Entry(path, EntryKind.SUBVOLUME,
                 subvolume=Subvolume(root + "/" + "/".join(path), read_only=read_only))


def facts_for(path: str, uid: int = 0, gid: int = 0, mode: int = 0o755,
              kinds: dict[str, PathKind] | None = None) -> tuple[PathFacts, ...]:
    """Every directory from ``/`` down to ``path`` with the given owner, except the
    paths in ``kinds``, which get that kind."""
    parts = [p for p in path.split("/") if p]
    out = []
    for i in range(len(parts) + 1):
        here = "/" + "/".join(parts[:i])
        kind = (kinds or {}).get(here, PathKind.DIRECTORY)
        out.append(PathFacts(here, kind, uid, gid, mode))
    return tuple(out)


def refusal(config: Config, snapshot: Snapshot, path: str,
            facts: tuple[PathFacts, ...] | None = None) -> tuple[str, str | None]:
    """The message and hint ``plan_persist`` refuses ``path`` with."""
    with pytest.raises(PersistRefused) as caught:
        plan_persist(config, snapshot, (), path, facts_for(path) if facts is None else facts)
    return caught.value.message, caught.value.hint


def mount_fields(mount: Mount) -> tuple[object, ...]:
    """A mount's fields, its option semantics left out (the planner's own business)."""
    return (mount.tree, mount.path, mount.what, mount.where, mount.subvol, mount.options,
            mount.unit, mount.subvol_id)


def plan_fields(result: PersistPlan) -> tuple[object, ...]:
    """Every field of a persist plan, the mount as :func:`mount_fields`."""
    return (result.tree, result.source, result.leaf, result.leaf_path,
            mount_fields(result.mount), result.steps)


def staged_steps(staging: str, leaf_path: str, source: str, uid: int = 0, gid: int = 0,
                 mode: int = 0o755) -> tuple[Step, ...]:
    """The last four steps: build the subvolume at ``staging``, copy, rename, mount."""
    return (Step(StepKind.CREATE_SUBVOLUME, staging, uid, gid, mode),
            Step(StepKind.COPY, staging, source=source),
            Step(StepKind.RENAME, leaf_path, source=staging),
            Step(StepKind.MOUNT, source))


# -- a destination reached through a symlink -----------------------------------------

HOME = Config((H,))


@pytest.mark.parametrize(("path", "target"), [
    ("/home/alice", "/var/home/alice"),
    ("/home/alice/docs", "/var/home/alice/docs"),
    ("/home", "/var/home"),
    ("/var/home/alice", "/var/home/alice"),
    ("/home//alice/", "/var/home/alice"),
])
def test_persist_target_resolves_only_the_destination(path: str, target: str) -> None:
    """Below a destination the scan resolved, the configured part becomes the resolved
    one; a path given in its resolved form (or simplified to it) stays as it is."""
    assert persist_target(HOME, Snapshot((scan_h(),)), path) == target


def test_persist_target_leaves_an_unresolved_destination_alone() -> None:
    """A tree whose destination is no symlink gives back the (simplified) path."""
    snap = Snapshot((scan_h(), scan_t()))
    assert persist_target(Config((H, T)), snap, "/srv//a/") == "/srv/a"


def test_choose_tree_finds_a_tree_by_its_resolved_destination() -> None:
    """A path below the resolved destination belongs to the tree; without the scan only
    the configured destination counts, so the same path is refused."""
    assert choose_tree(HOME, "/var/home/alice", Snapshot((scan_h(),))) == H
    assert choose_tree(HOME, "/home/alice") == H
    with pytest.raises(PersistRefused) as caught:
        choose_tree(HOME, "/var/home/alice")
    assert (caught.value.message, caught.value.hint) == (
        "/var/home/alice: not below the destination of any layout tree",
        "persist a directory below one of: /home")


def test_choose_tree_ranks_by_the_resolved_destination() -> None:
    """The innermost destination wins, measured by the destination that holds the path:
    ``/data`` resolved to ``/srv/deep`` holds ``/srv/deep/x`` more closely than ``/srv``."""
    data = TreeConfig("a", "/trees/a", "/data")
    config = Config((data, TreeConfig("b", "/trees/b", "/srv")))
    snap = Snapshot((TreeScan("a", "/trees/a", destination_real="/srv/deep"),))
    assert choose_tree(config, "/srv/deep/x", snap) == data
    assert choose_tree(config, "/srv/deep", snap) == data
    assert choose_tree(config, "/srv/other", snap).name == "b"


def test_plan_persist_mounts_below_the_resolved_destination() -> None:
    """``/home/alice`` is persisted as ``/var/home/alice``: the source, the mount point
    and the copy's source are the resolved path, the leaf is ``@alice``."""
    snap = Snapshot((scan_h(),))
    result = plan_persist(HOME, snap, (), "/home/alice", facts_for("/var/home/alice"))
    assert plan_fields(result) == (
        "h", "/var/home/alice", ("@alice",), "/trees/h/@alice",
        ("h", ("@alice",), "/dev/vdb", "/var/home/alice", "/h/@alice",
         ("subvol=/h/@alice",), "var-home-alice.mount", None),
        staged_steps(f"/trees/h/{STAGED}", "/trees/h/@alice", "/var/home/alice"))
    again = plan_persist(HOME, snap, (), "/var/home/alice", facts_for("/var/home/alice"))
    assert again == result


def test_plan_persist_creates_structure_below_the_resolved_destination() -> None:
    """Structure directories take the owners of the resolved directories on the way."""
    snap = Snapshot((scan_h(),))
    facts = facts_for("/var/home/alice/docs", 1000, 100, 0o700)
    result = plan_persist(HOME, snap, (), "/home/alice/docs", facts)
    assert plan_fields(result) == (
        "h", "/var/home/alice/docs", ("alice", "@docs"), "/trees/h/alice/@docs",
        ("h", ("alice", "@docs"), "/dev/vdb", "/var/home/alice/docs", "/h/alice/@docs",
         ("subvol=/h/alice/@docs",), "var-home-alice-docs.mount", None),
        (Step(StepKind.MAKE_DIRECTORY, "/trees/h/alice", 1000, 100, 0o700),
         *staged_steps(f"/trees/h/alice/{STAGED}", "/trees/h/alice/@docs",
                       "/var/home/alice/docs", 1000, 100, 0o700)))


# -- no tree, or a tree that cannot be used --------------------------------------------


def test_no_tree_names_every_destination_once_sorted() -> None:
    """The hint lists the configured destinations, sorted, each once, comma-separated."""
    config = Config((TreeConfig("a", "/trees/a", "/srv"), TreeConfig("b", "/trees/b", "/opt"),
                     TreeConfig("c", "/trees/c", "/srv")))
    assert refusal(config, Snapshot(), "/x") == (
        "/x: not below the destination of any layout tree",
        "persist a directory below one of: /opt, /srv")


def test_no_tree_configured_says_so() -> None:
    """Without trees the hint says that none is configured."""
    assert refusal(Config(()), Snapshot(), "/x") == (
        "/x: not below the destination of any layout tree",
        "persist a directory below one of: none configured")


FIX_TREE = "fix the tree first ('layout check' says what is wrong)"


@pytest.mark.parametrize(("snapshot", "detail"), [
    (Snapshot(), "was not scanned"),
    (Snapshot((TreeScan("t", "/trees/t", TreeStatus.UNREADABLE, error="permission denied"),)),
     "permission denied"),
    (Snapshot((TreeScan("t", "/trees/t", TreeStatus.NOT_BTRFS),)), "not-btrfs"),
])
def test_a_tree_not_scanned_or_failed_is_refused(snapshot: Snapshot, detail: str) -> None:
    """A tree missing from the snapshot, or whose scan failed, is refused naming the tree
    and what went wrong (the scan's error, else its status)."""
    assert refusal(Config((T,)), snapshot, "/srv/a") == (
        f"tree 't' at /trees/t: {detail}", FIX_TREE)


@pytest.mark.parametrize("path", ["/srv/trees", "/srv/trees/t", "/srv/trees/t/x"])
def test_a_path_holding_or_inside_a_tree_is_refused(path: str) -> None:
    """A tree inside its own destination cannot be persisted, nor anything around it."""
    tree = TreeConfig("t", "/srv/trees/t", "/srv")
    snap = Snapshot((TreeScan("t", "/srv/trees/t", device="/dev/vdb", root_subvol_path="/t"),))
    assert refusal(Config((tree,)), snap, path) == (
        f"{path}: holds or is inside the layout tree 't' (/srv/trees/t)",
        "persist a directory outside the trees")


def test_a_destination_behind_an_untrusted_symlink_is_refused() -> None:
    """The scan's reason the destination cannot be used is passed on, with the LT045 hint."""
    snap = Snapshot((scan_t(destination_error="/srv is a symlink owned by uid 1000"),))
    assert refusal(Config((T,)), snap, "/srv/a") == (
        "tree 't': /srv is a symlink owned by uid 1000",
        "make the destination a real directory, or a symlink only root controls "
        "('layout check' reports it as LT045)")


def test_a_tree_sharing_its_destination_is_refused() -> None:
    """Of two trees with one destination the second is refused (LT044), and it is the one
    chosen (same length, later name)."""
    u = TreeConfig("u", "/trees/u", "/srv")
    snap = Snapshot((scan_t(), TreeScan("u", "/trees/u", device="/dev/vdb",
                                        root_subvol_path="/u")))
    assert refusal(Config((T, u)), snap, "/srv/a") == (
        "tree 'u' has the same destination as tree 't' (/srv)",
        "give every tree its own directory and destination (LT044)")


def test_a_tree_without_its_subvolume_path_is_refused() -> None:
    """A scan that could not learn the tree's path inside the filesystem is refused."""
    snap = Snapshot((TreeScan("t", "/trees/t", device="/dev/vdb"),))
    assert refusal(Config((T,)), snap, "/srv/a") == (
        "tree 't': its path inside the filesystem is unknown", "scan the tree as root")


# -- the directories on the way ---------------------------------------------------------

CONFIG = Config((T,))
SNAP = Snapshot((scan_t(),))


@pytest.mark.parametrize(("kind", "what", "hint"), [
    (PathKind.MISSING, "does not exist", "persist an existing directory"),
    (PathKind.SYMLINK, "is a symlink", "give the path without symlinks"),
    (PathKind.OTHER, "is not a directory", "persist an existing directory"),
])
@pytest.mark.parametrize("where", ["/srv/a", "/srv/a/b"])
def test_a_directory_on_the_way_must_be_a_directory(kind: PathKind, what: str, hint: str,
                                                    where: str) -> None:
    """Each path from below the destination down to PATH must be a directory: the first
    that is not is named with what it is; only a symlink gets the symlink hint."""
    facts = facts_for("/srv/a/b", kinds={where: kind})
    assert refusal(CONFIG, SNAP, "/srv/a/b", facts) == (f"{where}: {what}", hint)


def test_a_directory_without_facts_does_not_exist() -> None:
    """A path the shell gave no ``lstat`` for is taken as missing."""
    facts = tuple(f for f in facts_for("/srv/a/b") if f.path != "/srv/a")
    assert refusal(CONFIG, SNAP, "/srv/a/b", facts) == (
        "/srv/a: does not exist", "persist an existing directory")


def test_the_destination_itself_becomes_the_leaf_at() -> None:
    """Persisting the destination makes the leaf ``@`` with the destination's owner."""
    facts = facts_for("/srv", 1000, 1000, 0o750)
    assert plan_fields(plan_persist(CONFIG, SNAP, (), "/srv", facts)) == (
        "t", "/srv", ("@",), "/trees/t/@",
        ("t", ("@",), "/dev/vdb", "/srv", "/t/@", ("subvol=/t/@",), "srv.mount", None),
        staged_steps(f"/trees/t/{STAGED}", "/trees/t/@", "/srv", 1000, 1000, 0o750))


@pytest.mark.parametrize("kind", [None, PathKind.MISSING, PathKind.SYMLINK, PathKind.OTHER])
def test_the_destination_itself_must_be_a_directory(kind: PathKind | None) -> None:
    """The destination as PATH needs facts showing a directory; anything else (or no
    facts) is one refusal."""
    facts = facts_for("/srv")[:-1] if kind is None else facts_for("/srv", kinds={"/srv": kind})
    assert refusal(CONFIG, SNAP, "/srv", facts) == (
        "/srv: is not an existing directory", "persist an existing directory")


@pytest.mark.parametrize("path", ["/srv/a/@b/c", "/srv/@b/c", "/srv/a/b/@c/d"])
def test_an_at_name_above_the_path_is_refused(path: str) -> None:
    """A directory on the way whose name starts with '@' is refused by name, wherever it
    is above PATH."""
    name = next(p for p in path.split("/") if p.startswith("@"))
    assert refusal(CONFIG, SNAP, path) == (
        f"{path}: the directory name {name!r} starts with '@', which a layout tree "
        "reserves for leaves",
        "rename the directory, or persist a path below no '@' name")


def test_an_at_name_as_the_last_component_is_allowed() -> None:
    """Only names above PATH are checked: ``/srv/a/@b`` becomes the leaf ``a/@@b``."""
    result = plan_persist(CONFIG, SNAP, (), "/srv/a/@b", facts_for("/srv/a/@b"))
    assert (result.leaf, result.mount.where) == (("a", "@@b"), "/srv/a/@b")


@pytest.mark.parametrize(("entry", "kind"), [
    (Entry(("@x",), EntryKind.DIRECTORY), "directory"),
    (Entry(("www", "@x"), EntryKind.SYMLINK, target="/elsewhere"), "symlink"),
])
def test_something_at_the_leaf_name_is_refused(entry: Entry, kind: str) -> None:
    """A non-leaf already at the leaf's name in the tree (the plan skips it) is refused,
    naming its path in the tree and its kind."""
    snap = Snapshot((scan_t(Entry(("www",), EntryKind.DIRECTORY), entry),))
    path = "/srv/" + "/".join(entry.path).replace("@", "")
    assert refusal(CONFIG, snap, path) == (
        f"/trees/t/{'/'.join(entry.path)}: already exists in the tree ({kind})",
        "remove or rename it first")


@pytest.mark.parametrize("kind", [EntryKind.DIRECTORY, EntryKind.SUBVOLUME])
def test_existing_structure_is_reused(kind: EntryKind) -> None:
    """A directory (or plain subvolume) already in the tree's structure is used as it is:
    only the missing one below it is created, with the owner of its destination twin."""
    existing = (Entry(("www",), kind, 5, 5, 0o700) if kind is EntryKind.DIRECTORY
                else leaf("/t", "www"))
    snap = Snapshot((scan_t(existing),))
    facts = facts_for("/srv/www/a/b", 1000, 100, 0o750)
    result = plan_persist(CONFIG, snap, (), "/srv/www/a/b", facts)
    assert plan_fields(result) == (
        "t", "/srv/www/a/b", ("www", "a", "@b"), "/trees/t/www/a/@b",
        ("t", ("www", "a", "@b"), "/dev/vdb", "/srv/www/a/b", "/t/www/a/@b",
         ("subvol=/t/www/a/@b",), "srv-www-a-b.mount", None),
        (Step(StepKind.MAKE_DIRECTORY, "/trees/t/www/a", 1000, 100, 0o750),
         *staged_steps(f"/trees/t/www/a/{STAGED}", "/trees/t/www/a/@b", "/srv/www/a/b",
                       1000, 100, 0o750)))


def test_a_structure_path_that_is_not_a_directory_is_refused() -> None:
    """A symlink in the tree where a structure directory would be is refused."""
    snap = Snapshot((scan_t(Entry(("www",), EntryKind.SYMLINK, target="/x")),))
    assert refusal(CONFIG, snap, "/srv/www/a") == (
        "/trees/t/www: is a symlink in the tree, not a directory",
        "the structure of a tree is plain directories")


# -- the mount of the new leaf ----------------------------------------------------------

RENAME = "choose another directory, or rename it"


def test_a_leaf_the_plan_would_skip_is_refused_with_its_skip() -> None:
    """A path ``/etc/fstab`` mounts gets the plan's skip as the refusal, with its reason;
    another skip of the same tree (``@a``, read-only) is not taken for it."""
    snap = Snapshot((scan_t(leaf("/t", "@a", read_only=True)),),
                    fstab_mountpoints=frozenset({"/srv/new"}))
    assert refusal(CONFIG, snap, "/srv/new") == (
        "/srv/new: /etc/fstab already mounts this path [fstab]", RENAME)


def _root_and_srv(owner: tuple[int, int, int]) -> tuple[Config, Snapshot]:
    """Tree ``a`` with destination ``/`` gives ``/srv/www`` the owner ``owner`` (its
    structure ``srv/www`` above the leaf ``srv/www/@y``); tree ``b`` has destination
    ``/srv``."""
    a = TreeScan("a", "/trees/a", device="/dev/vdb", root_subvol_path="/a", entries=(
        Entry(("srv",), EntryKind.DIRECTORY), Entry(("srv", "www"), EntryKind.DIRECTORY, *owner),
        leaf("/a", "srv", "www", "@y")))
    b = TreeScan("b", "/trees/b", device="/dev/vdb", root_subvol_path="/b",
                 entries=(leaf("/b", "@z"),))
    return (Config((TreeConfig("a", "/trees/a", "/"), TreeConfig("b", "/trees/b", "/srv"))),
            Snapshot((a, b)))


@pytest.mark.parametrize("owner", [(1000, 100, 0o750), (0, 0, 0o755), (7, 0, 0o1777)])
def test_structure_owners_that_agree_with_another_tree_are_accepted(
        owner: tuple[int, int, int]) -> None:
    """A structure directory another tree also owns is created with exactly the owner and
    mode of its destination twin, so both trees agree and the leaf is mounted."""
    config, snap = _root_and_srv(owner)
    facts = facts_for("/srv/www/x", *owner)
    result = plan_persist(config, snap, (), "/srv/www/x", facts)
    assert plan_fields(result) == (
        "b", "/srv/www/x", ("www", "@x"), "/trees/b/www/@x",
        ("b", ("www", "@x"), "/dev/vdb", "/srv/www/x", "/b/www/@x", ("subvol=/b/www/@x",),
         "srv-www-x.mount", None),
        (Step(StepKind.MAKE_DIRECTORY, "/trees/b/www", *owner),
         *staged_steps(f"/trees/b/www/{STAGED}", "/trees/b/www/@x", "/srv/www/x", *owner)))


def test_a_leaf_whose_tree_would_be_refused_is_refused() -> None:
    """When the new structure directory's owner differs from the one another tree gives
    it, the plan would refuse the whole tree (no skip for the leaf): the refusal gives the
    planner's reason for refusing the tree."""
    config, snap = _root_and_srv((1000, 100, 0o750))
    assert refusal(config, snap, "/srv/www/x", facts_for("/srv/www/x")) == (
        "/trees/b: tree 'b' gives /srv/www owner 0:0 mode 0755, tree 'a' gives 1000:100 mode "
        "0750; not mounted [overlapping-tree]", RENAME)


# -- symlinks on the way to a mount point ----------------------------------------------


def test_crossing_reports_the_first_symlink_or_non_directory_below() -> None:
    """The first path strictly below the destination down to (and including) the path
    that is a symlink or not a directory; the destination itself and missing paths do
    not count."""
    def facts(kinds: dict[str, PathKind]) -> tuple[PathFacts, ...]:
        return facts_for("/srv/a/b/c", kinds=kinds)

    symlink, other, missing = PathKind.SYMLINK, PathKind.OTHER, PathKind.MISSING
    assert crossing("/srv", "/srv/a/b/c", facts({})) is None
    assert crossing("/srv", "/srv/a/b/c", facts({"/srv": symlink})) is None
    assert crossing("/srv", "/srv/a/b/c", facts({"/srv/a": missing})) is None
    first = facts({"/srv/a": symlink, "/srv/a/b": other})
    assert crossing("/srv", "/srv/a/b/c", first) == first[2]
    second = facts({"/srv/a/b": other})
    assert crossing("/srv", "/srv/a/b/c", second) == second[3]
    last = facts({"/srv/a/b/c": symlink})
    assert crossing("/srv", "/srv/a/b/c", last) == last[4]
    assert crossing("/srv", "/srv", facts({"/srv": symlink})) is None


def test_crossing_tolerates_paths_without_facts() -> None:
    """Paths the shell did not ``lstat`` are skipped, the next one still checked."""
    facts = (PathFacts("/srv/a/b", PathKind.SYMLINK),)
    assert crossing("/srv", "/srv/a/b", facts) == facts[0]
    assert crossing("/srv", "/srv/a/b", ()) is None
    assert crossing("/", "/a", (PathFacts("/a", PathKind.OTHER),)) == PathFacts(
        "/a", PathKind.OTHER)


def test_crossings_of_a_plan() -> None:
    """For each planned mount the first crossing below its destination, collected; mounts
    without one add nothing."""
    tree = TreeConfig("t", "/trees/t", "/srv")
    scan = scan_t(Entry(("a",), EntryKind.DIRECTORY), Entry(("a", "b"), EntryKind.DIRECTORY),
                  leaf("/t", "a", "b", "@c"), leaf("/t", "@d"), leaf("/t", "@e"))
    plan = make_plan(Config((tree,)), Snapshot((scan,)))
    assert [m.where for m in plan.mounts] == ["/srv/a/b/c", "/srv/d", "/srv/e"]
    facts = (*facts_for("/srv/a/b/c", kinds={"/srv/a/b": PathKind.SYMLINK}),
             PathFacts("/srv/d", PathKind.OTHER), PathFacts("/srv/e", PathKind.DIRECTORY))
    assert crossings_of(plan, facts) == frozenset({"/srv/a/b", "/srv/d"})
    assert crossings_of(plan, facts_for("/srv/a/b/c")) == frozenset()
    assert crossings_of(Plan(), facts) == frozenset()


@pytest.mark.parametrize(("crossings", "destination", "where", "found"), [
    ({"/srv/a"}, "/srv", "/srv/a/b", "/srv/a"),
    ({"/srv/a/b", "/srv/a"}, "/srv", "/srv/a/b/c", "/srv/a"),
    ({"/srv/a/b"}, "/srv", "/srv/a/b", "/srv/a/b"),
    ({"/srv"}, "/srv", "/srv/a", None),
    ({"/srv/b"}, "/srv", "/srv/a", None),
    ({"/srv/ab"}, "/srv", "/srv/a", None),
    ({"/other/a"}, "/srv", "/other/a/b", None),
    (set(), "/srv", "/srv/a", None),
    ({"/a"}, "/", "/a/b", "/a"),
])
def test_crossed_at(crossings: set[str], destination: str, where: str,
                    found: str | None) -> None:
    """The outermost crossing strictly below the destination that the mount point is at
    or below; crossings elsewhere (the destination itself, a sibling, another tree's)
    do not count."""
    assert crossed_at(frozenset(crossings), destination, where) == found


def _mount(path: tuple[str, ...], destination: str) -> Mount:
    """The planned mount of the leaf ``path`` of tree ``t`` with ``destination``."""
    scan = scan_t(*(Entry(path[:i], EntryKind.DIRECTORY) for i in range(1, len(path))),
                  leaf("/t", *path))
    plan = make_plan(Config((TreeConfig("t", "/trees/t", destination),)), Snapshot((scan,)))
    (mount,) = plan.mounts
    return mount


@pytest.mark.parametrize(("path", "where", "destination"), [
    (("@b",), "/srv/b", "/srv"),
    (("a", "@b"), "/srv/a/b", "/srv"),
    (("a", "b", "@c"), "/srv/x/a/b/c", "/srv/x"),
    (("@",), "/srv", "/srv"),
    (("a", "@"), "/srv/a", "/srv"),
    (("@x",), "/x", "/"),
    (("a", "@"), "/a", "/"),
    (("a", "@b"), "/home user/a/b", "/home user"),
])
def test_mount_destination(path: tuple[str, ...], where: str, destination: str) -> None:
    """A mount's destination is its mount point without the leaf's mount components
    (``@`` adds none), ``/`` when nothing is left."""
    mount = _mount(path, destination)
    assert (mount.where, mount_destination(mount)) == (where, destination)
