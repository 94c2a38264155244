"""The planner's reasons and names at their edges, compared exactly: protected mount
points, the places a mount must not hide, ``subvol=`` from a tree prefix, a tree that
was not scanned."""

from __future__ import annotations

import pytest
from layout_trees.core.config import Config, TreeConfig
from layout_trees.core.model import Entry, EntryKind, Snapshot, Subvolume, TreeScan, TreeStatus
from layout_trees.core.paths import is_within
from layout_trees.core.plan import (
    ResolvedDestination,
    classify,
    join,
    make_plan,
    protected_reason,
    subvol_for,
    tree_locations,
    without_reserved,
)
from layout_trees.core.reserved import reserved_paths

LOCATIONS = (("t", "/mnt/fs", False), ("t", "/trees/t", True))


@pytest.mark.parametrize(("where", "reason"), [
    ("/", "is the root filesystem; a leaf never replaces it"),
    ("/proc/x", "is /proc or below it, which systemd mounts itself"),
    ("/trees", "would hide the tree 't' at /trees/t"),
    ("/trees/t", "would hide the tree 't' at /trees/t"),
    ("/mnt", "would hide the filesystem holding the tree 't' at /mnt/fs"),
    ("/trees/t/x", "lies inside tree 't' at /trees/t"),
    ("/mnt/fs/x", None),
    ("/srv/x", None),
])
def test_protected_reason_exact(where: str, reason: str | None) -> None:
    """Each protected place gives its own reason; the inside of a filesystem mount point
    (not a tree) and other places give none."""
    assert protected_reason(where, LOCATIONS) == reason


def test_tree_locations_reference() -> None:
    """A tree's locations: its path and resolved path (its own), and its filesystem's
    mount point (not its own), sorted; a tree without a scan has its path only."""
    config = Config((TreeConfig(name="t", path="/trees/t", destination="/srv/t"),
                     TreeConfig(name="u", path="/trees/u", destination="/srv/u")))
    snapshot = Snapshot((TreeScan("t", "/trees/t", real_root="/real//t/",
                                  fs_mountpoint="/mnt/fs/"),))
    assert tree_locations(config, snapshot) == (
        ("t", "/mnt/fs", False), ("t", "/real/t", True), ("t", "/trees/t", True),
        ("u", "/trees/u", True))


@pytest.mark.parametrize(("prefix", "path", "subvol"), [
    ("/pool", "/pool/Xa", "/Xa/d/@x"),
    ("/", "/Xa", "/Xa/d/@x"),
    ("/pool/", "/pool/trees/t", "/trees/t/d/@x"),
])
def test_subvol_for_tree_prefix(prefix: str, path: str, subvol: str) -> None:
    """With a tree prefix, subvol= is the tree's path below the prefix, then the entry's."""
    tree = TreeConfig(name="t", path=path, destination="/srv/t", tree_prefix=prefix)
    scan = TreeScan("t", path)
    entry = Entry(("d", "@x"), EntryKind.SUBVOLUME, subvolume=Subvolume("/other"))
    assert subvol_for(tree, scan, entry) == subvol


def test_tree_not_scanned_is_skipped_with_detail() -> None:
    """A configured tree missing from the snapshot is skipped as not scanned, naming it."""
    config = Config((TreeConfig(name="t", path="/trees/t", destination="/srv/t"),))
    plan = make_plan(config, Snapshot())
    assert [(s.tree, s.path, s.reason.value, s.detail) for s in plan.skips] == [
        ("t", (), "tree-not-scanned", "/trees/t: not scanned")]


def skips_of(tree: TreeConfig, scan: TreeScan) -> list[tuple[str, tuple[str, ...], str, str]]:
    plan = make_plan(Config((tree,)), Snapshot((scan,)))
    return [(s.tree, s.path, s.reason.value, s.detail) for s in plan.skips]


LEAF = (Entry(("@a",), EntryKind.SUBVOLUME, subvolume=Subvolume("/t/@a")),)


def test_tree_refused_as_a_whole_exact() -> None:
    """No device, an option that cannot be read, or a destination through a symlink others
    can change: the whole tree is skipped with its own reason and detail."""
    tree = TreeConfig(name="t", path="/trees/t", destination="/srv/t")
    assert skips_of(tree, TreeScan("t", "/trees/t", entries=LEAF)) == [
        ("t", (), "no-device", "/trees/t: the device holding the tree is unknown; set 'device'")]
    bad = TreeConfig(name="t", path="/trees/t", destination="/srv/t",
                     options=("x-systemd.idle-timeout=abc",))
    assert skips_of(bad, TreeScan("t", "/trees/t", device="/dev/vdb", entries=LEAF)) == [
        ("t", (), "bad-options",
         "mount option 'x-systemd.idle-timeout=abc': time span 'abc' cannot be parsed")]
    scan = TreeScan("t", "/trees/t", device="/dev/vdb", destination_error="crosses /srv (uid 5)",
                    entries=LEAF)
    assert skips_of(tree, scan) == [
        ("t", (), "destination-symlink",
         "/srv/t: destination of tree 't': crosses /srv (uid 5); not mounted")]


def leaf(*path: str) -> Entry:
    return Entry(path, EntryKind.SUBVOLUME, subvolume=Subvolume("/t/" + "/".join(path)))


@pytest.mark.parametrize("automount", [False, True])
def test_unsafe_leaves_skipped_and_the_others_mounted(automount: bool) -> None:
    """A control character in a leaf's name or in a directory above it, or a unit name
    longer than 255 (the .automount unit's when the leaf mounts on demand), skips that
    leaf with the offending name; the leaves after it are still mounted."""
    long = "a" * 240
    tree = TreeConfig(name="t", path="/trees/t", destination="/srv/t",
                      options=("x-systemd.automount",) if automount else ())
    entries = (leaf("@a\x01b"), Entry(("d\x02",), EntryKind.DIRECTORY), leaf("d\x02", "@c"),
               leaf("@" + long), leaf("@z"))
    plan = make_plan(Config((tree,)), Snapshot((TreeScan("t", "/trees/t", device="/dev/vdb",
                                                          entries=entries),)))
    control = "contains a control character (e.g. a newline), which would inject unit lines"
    expected = [
        ("t", ("@a\x01b",), "unsafe-name", f"/trees/t/@a\x01b: the name '@a\\x01b' {control}"),
        ("t", ("d\x02", "@c"), "unsafe-name", f"/trees/t/d\x02/@c: the name 'd\\x02' {control}"),
    ]
    if automount:
        expected.append(("t", ("@" + long,), "unsafe-name",
                         f"/trees/t/@{long}: the unit name for '/srv/t/{long}' would be 256 "
                         "characters, systemd allows 255"))
    assert sorted((s.tree, s.path, s.reason.value, s.detail) for s in plan.skips) == sorted(
        expected)
    assert [m.where for m in plan.mounts] == (
        ["/srv/t/z"] if automount else [f"/srv/t/{long}", "/srv/t/z"])


def test_unsafe_subvolume_path_names_the_component() -> None:
    """A control character in the subvolume's path (not the leaf's name) skips the leaf,
    naming the component that holds it."""
    tree = TreeConfig(name="t", path="/trees/t", destination="/srv/t")
    entry = Entry(("@a",), EntryKind.SUBVOLUME, subvolume=Subvolume("/pool/b\x01d/@a"))
    assert skips_of(tree, TreeScan("t", "/trees/t", device="/dev/vdb", entries=(entry,))) == [
        ("t", ("@a",), "unsafe-name",
         "/trees/t/@a: 'b\\x01d' in '/pool/b\\x01d/@a' or '/srv/t/a' contains a control "
         "character (e.g. a newline), which would inject unit lines")]


def test_directories_of_every_holder() -> None:
    """Each directory above a leaf is owned as scanned, for leaves in sibling directories
    and for leaves after several in one directory."""
    def d(*path: str, uid: int) -> Entry:
        return Entry(path, EntryKind.DIRECTORY, uid=uid, gid=uid, mode=0o750)

    tree = TreeConfig(name="t", path="/trees/t", destination="/srv/t")
    entries = (leaf("@x"), leaf("@y"), d("a", uid=1), d("a", "b", uid=2), d("a", "c", uid=3),
               leaf("a", "b", "@p"), leaf("a", "c", "@q"), d("e", uid=4), leaf("e", "@r"))
    plan = make_plan(Config((tree,)), Snapshot((TreeScan("t", "/trees/t", device="/dev/vdb",
                                                          entries=entries),)))
    assert [(s.path, s.uid) for s in plan.directories] == [
        ("/srv/t", 0), ("/srv/t/a", 1), ("/srv/t/a/b", 2), ("/srv/t/a/c", 3), ("/srv/t/e", 4)]


def test_protected_leaf_skip_names_its_mount_point() -> None:
    """A leaf that would mount on a place systemd mounts itself is skipped; the skip keeps
    the mount point."""
    tree = TreeConfig(name="t", path="/trees/t", destination="/")
    plan = make_plan(Config((tree,)), Snapshot((TreeScan("t", "/trees/t", device="/dev/vdb",
                                                          entries=(leaf("@proc"),)),)))
    assert [(s.reason.value, s.detail, s.where) for s in plan.skips] == [
        ("protected-mount-point",
         "/trees/t/@proc: mount point /proc is /proc or below it, which systemd mounts itself",
         "/proc")]


def test_directories_below_a_destination_holding_the_tree() -> None:
    """A destination that holds the tree itself is never given owners; the directories
    below it are, for every directory of leaves."""
    tree = TreeConfig(name="t", path="/srv/tree", destination="/srv")
    entries = (leaf("@x"), Entry(("d",), EntryKind.DIRECTORY, uid=5, gid=5, mode=0o750),
               leaf("d", "@y"))
    plan = make_plan(Config((tree,)), Snapshot((TreeScan("t", "/srv/tree", device="/dev/vdb",
                                                          entries=entries),)))
    assert [m.where for m in plan.mounts] == ["/srv/d/y", "/srv/x"]
    assert [(s.path, s.uid) for s in plan.directories] == [("/srv/d", 5)]


def test_tree_owning_a_directory_in_another_trees_leaf_is_refused() -> None:
    """A destination inside another tree's leaf mount would chown that leaf's content: the
    tree is refused, saying where."""
    a = TreeConfig(name="a", path="/trees/a", destination="/srv/a")
    b = TreeConfig(name="b", path="/trees/b", destination="/srv/a/x/sub")
    plan = make_plan(Config((a, b)), Snapshot((
        TreeScan("a", "/trees/a", device="/dev/vdb", entries=(leaf("@x"),)),
        TreeScan("b", "/trees/b", device="/dev/vdc", entries=(leaf("@y"),)))))
    assert [(s.tree, s.reason.value, s.detail) for s in plan.skips] == [
        ("b", "overlapping-tree", "/trees/b: tree 'b' would set the owner of /srv/a/x/sub, "
         "inside the leaf of tree 'a' mounted at /srv/a/x; not mounted")]
    assert [m.where for m in plan.mounts] == ["/srv/a/x"]


def test_directory_inside_own_leaf_knows_its_mount() -> None:
    """A directory below one of the tree's own leaf mounts is created within that mount."""
    tree = TreeConfig(name="t", path="/trees/t", destination="/srv/t")
    entries = (leaf("@x"), Entry(("x",), EntryKind.DIRECTORY),
               Entry(("x", "d"), EntryKind.DIRECTORY, uid=3), leaf("x", "d", "@y"))
    plan = make_plan(Config((tree,)), Snapshot((TreeScan("t", "/trees/t", device="/dev/vdb",
                                                          entries=entries),)))
    assert [(s.path, s.uid, s.within) for s in plan.directories] == [
        ("/srv/t", 0, None), ("/srv/t/x/d", 3, "/srv/t/x")]


def test_without_reserved_same_object_when_nothing_reserved() -> None:
    """A snapshot without the project's own entries comes back as the very same object."""
    config = Config((TreeConfig(name="t", path="/trees/t", destination="/srv/t"),))
    snapshot = Snapshot((TreeScan("t", "/trees/t", entries=(leaf("@x"),)),))
    assert without_reserved(config, snapshot) is snapshot


def test_trees_after_a_refused_tree_are_planned() -> None:
    """A tree refused for overlapping another does not stop the planning of the trees
    after it; a resolved destination records the configured one and where it leads."""
    trees = (TreeConfig(name="a", path="/trees/a", destination="/srv/x"),
             TreeConfig(name="b", path="/trees/b", destination="/srv/x"),
             TreeConfig(name="c", path="/trees/c", destination="/home"))
    scans = (TreeScan("a", "/trees/a", device="/dev/vda", entries=(leaf("@p"),)),
             TreeScan("b", "/trees/b", device="/dev/vdb", entries=(leaf("@q"),)),
             TreeScan("c", "/trees/c", device="/dev/vdc", destination_real="/var/home",
                      entries=(leaf("@r"),)))
    plan = make_plan(Config(trees), Snapshot(scans))
    assert [m.where for m in plan.mounts] == ["/srv/x/p", "/var/home/r"]
    assert [(s.tree, s.reason.value) for s in plan.skips] == [("b", "overlapping-tree")]
    assert plan.resolved == (ResolvedDestination("c", "/home", "/var/home"),)


def test_clash_skips_every_leaf_naming_all() -> None:
    """Leaves of two trees mapping to one mount point are all skipped; each skip names
    every one of them and keeps the mount point; fstab's mount points are skipped too."""
    trees = (TreeConfig(name="a", path="/trees/a", destination="/srv"),
             TreeConfig(name="b", path="/trees/b", destination="/srv/d"))
    scans = (TreeScan("a", "/trees/a", device="/dev/vda",
                      entries=(Entry(("d",), EntryKind.DIRECTORY), leaf("d", "@x"), leaf("@f"))),
             TreeScan("b", "/trees/b", device="/dev/vdb", entries=(leaf("@x"),)))
    plan = make_plan(Config(trees), Snapshot(scans, fstab_mountpoints=frozenset({"/srv/f"})))
    assert [(s.tree, s.path, s.reason.value, s.detail, s.where) for s in plan.skips] == [
        ("a", ("@f",), "fstab", "/srv/f: /etc/fstab already mounts this path", "/srv/f"),
        ("a", ("d", "@x"), "clash", "/srv/d/x: several leaves map here "
         "(a:d/@x, b:@x)", "/srv/d/x"),
        ("b", ("@x",), "clash", "/srv/d/x: several leaves map here "
         "(a:d/@x, b:@x)", "/srv/d/x")]
    assert plan.mounts == ()


@pytest.mark.parametrize(("root", "dirs", "reserved"), [
    (None, [".snapshots"], frozenset()),
    ("/", [".snapshots", "/pool/snaps"], {(".snapshots",), ("pool", "snaps")}),
    ("/pool", ["/pool/snaps", "pool/b/c", "/pool", "/other/x", "/poolx/y"],
     {("snaps",), ("b", "c")}),
    ("/pool/t", ["/pool"], frozenset()),
])
def test_reserved_paths_reference(root: str | None, dirs: list[str],
                                  reserved: frozenset[tuple[str, ...]]) -> None:
    """The snapshot directories strictly inside the tree, relative to it; the tree itself
    and places outside it are not reserved."""
    assert reserved_paths(root, dirs) == reserved


def refusals(*pairs: tuple[TreeConfig, TreeScan]) -> dict[str, str]:
    config = Config(tuple(t for t, _ in pairs))
    plan = make_plan(config, Snapshot(tuple(s for _, s in pairs)))
    return {s.tree: s.detail for s in plan.skips if s.reason.value == "overlapping-tree"}


def test_overlap_by_resolved_path_and_by_subvolume() -> None:
    """Two trees are the same when their resolved directories are, or when they sit on one
    device at one subvolume path; a subvolume path inside the other's is inside; on one
    device without subvolume paths, or when not scanned, nothing overlaps."""
    a = TreeConfig(name="a", path="/trees/a", destination="/srv/a")
    b = TreeConfig(name="b", path="/trees/b", destination="/srv/b")
    same = "/trees/b: tree 'b' is the same directory as tree 'a' (/trees/a); not mounted"
    assert refusals((a, TreeScan("a", "/trees/a", real_root="/real/x")),
                    (b, TreeScan("b", "/trees/b", real_root="/real/x"))) == {"b": same}
    assert refusals((a, TreeScan("a", "/trees/a", device="/dev/v", root_subvol_path="/s")),
                    (b, TreeScan("b", "/trees/b", device="/dev/v", root_subvol_path="/s"))
                    ) == {"b": same}
    assert refusals((a, TreeScan("a", "/trees/a", device="/dev/v", root_subvol_path="/s")),
                    (b, TreeScan("b", "/trees/b", device="/dev/v", root_subvol_path="/s/in"))
                    ) == {"b": "/trees/b: tree 'b' lies inside tree 'a' (/trees/a); its leaves "
                                "belong to that tree; not mounted"}
    assert refusals((a, TreeScan("a", "/trees/a", device="/dev/v")),
                    (b, TreeScan("b", "/trees/b", device="/dev/v"))) == {}
    assert refusals((a, TreeScan("a", "/trees/a", status=TreeStatus.MISSING)),
                    (b, TreeScan("b", "/trees/b", status=TreeStatus.MISSING))) == {}


def test_join_strips_only_slashes() -> None:
    """join appends components to a base, whatever its last letter, without doubling '/'."""
    assert join("/srv/X", ("a", "b")) == "/srv/X/a/b"
    assert join("/srv/", ("a",)) == "/srv/a"
    assert join("/", ("a",)) == "/a"


def test_overlap_inside_by_configured_or_resolved_path() -> None:
    """A tree is inside another when its configured path is (even unscanned), or when its
    resolved directory is inside the other's resolved directory."""
    a = TreeConfig(name="a", path="/trees/a", destination="/srv/a")
    inside = "/trees/{}: tree 'b' lies inside tree 'a' (/trees/a); its leaves belong to that " \
             "tree; not mounted"
    nested = TreeConfig(name="b", path="/trees/a/b", destination="/srv/b")
    assert refusals((a, TreeScan("a", "/trees/a", device="/dev/v")),
                    (nested, TreeScan("b", "/other", status=TreeStatus.MISSING))
                    ) == {"b": inside.format("a/b")}
    b = TreeConfig(name="b", path="/trees/b", destination="/srv/b")
    assert refusals((a, TreeScan("a", "/trees/a", real_root="/real/a")),
                    (b, TreeScan("b", "/trees/b", real_root="/real/a/b"))
                    ) == {"b": inside.format("b")}


def test_overlap_by_resolved_destination() -> None:
    """Two trees whose destinations resolve to one directory overlap; the reason shows it."""
    a = TreeConfig(name="a", path="/trees/a", destination="/home")
    b = TreeConfig(name="b", path="/trees/b", destination="/home2")
    assert refusals((a, TreeScan("a", "/trees/a", destination_real="/var/home")),
                    (b, TreeScan("b", "/trees/b", destination_real="/var/home"))) == {
        "b": "/trees/b: tree 'b' has the same destination as tree 'a' (/var/home); not mounted"}


def test_overlap_inside_a_refused_tree() -> None:
    """A tree inside a tree that is itself refused is refused too."""
    a = TreeConfig(name="a", path="/trees/a", destination="/srv/x")
    b = TreeConfig(name="b", path="/trees/c/b", destination="/srv/b")
    c = TreeConfig(name="c", path="/trees/c", destination="/srv/x")
    assert refusals((a, TreeScan("a", "/trees/a")), (b, TreeScan("b", "/trees/c/b")),
                    (c, TreeScan("c", "/trees/c"))) == {
        "b": "/trees/c/b: tree 'b' lies inside tree 'c' (/trees/c); its leaves belong to that "
             "tree; not mounted",
        "c": "/trees/c: tree 'c' has the same destination as tree 'a' (/srv/x); not mounted"}


@pytest.mark.parametrize(("entry", "reason"), [
    (Entry(("@a",), EntryKind.SUBVOLUME, subvolume=Subvolume("/a", read_only=True)),
     ("read-only", "is a read-only subvolume (a snapshot?), not mounted")),
    (Entry(("@a",), EntryKind.SYMLINK, target="/x"),
     ("symlink", "is a symlink (to '/x'), never followed")),
    (Entry(("@a",), EntryKind.MOUNTPOINT),
     ("mountpoint", "has another filesystem mounted on it, not mounted")),
    (Entry(("@a",), EntryKind.UNREADABLE, error="EIO"), ("unreadable", "could not be read: EIO")),
    (Entry(("@a",), EntryKind.DIRECTORY),
     ("not-subvolume", "starts with '@' but is a directory, not a subvolume")),
    (Entry(("@a",), EntryKind.OTHER),
     ("not-subvolume", "starts with '@' but is a file (no directory, subvolume or symlink), "
      "not a subvolume")),
])
def test_classify_exact(entry: Entry, reason: tuple[str, str]) -> None:
    """Every kind of '@' entry that is not a leaf has its own reason, word for word."""
    found = classify(entry)
    assert found is not None and (found[0].value, found[1]) == reason
    assert classify(leaf("@a")) is None


def test_is_within_base_ending_in_a_letter() -> None:
    """A base is a whole component: /srv/a is not within /srv/X, /srv/X/a is."""
    assert not is_within("/srv/a", "/srv/X")
    assert is_within("/srv/X/a", "/srv/X")
    assert not is_within("/srv/Xa", "/srv/X")
