"""``layout persist``'s refusals at their edges, compared exactly: the path checks
(not absolute, control characters, ``..``), the mount refusals (already persisted, inside
a leaf, something mounted there, inside another mount, mount points below), the
validation of :class:`PathFacts` and the words of each :class:`Step`.

The worlds are small and written out: one tree ``t`` at ``/trees/t`` whose destination
is ``/srv`` (leaves ``@data`` and ``www/@site``), and a pair of nested trees where the
outer tree's leaf ``@inner`` is the inner tree's destination."""

from __future__ import annotations

import pytest
from layout_trees.core.config import Config, TreeConfig
from layout_trees.core.errors import UserError
from layout_trees.core.model import Entry, EntryKind, Snapshot, Subvolume, TreeScan
from layout_trees.core.mountinfo import MountEntry
from layout_trees.core.persist import (
    PathFacts,
    PathKind,
    PersistPlan,
    PersistRefused,
    Step,
    StepKind,
    plan_persist,
)
from layout_trees.core.plan import Mount, make_plan

CONFIG = Config((TreeConfig("t", "/trees/t", "/srv"),))


def leaf(subvol_root: str, *path: str, id: int | None = None) -> Entry:
    """A leaf subvolume entry at ``path`` in a tree whose subvolume path is ``subvol_root``."""
    return Entry(path, EntryKind.SUBVOLUME,
                 subvolume=Subvolume(subvol_root + "/" + "/".join(path), id=id))


def directory(*path: str) -> Entry:
    """A structure directory entry."""
    return Entry(path, EntryKind.DIRECTORY)


def snapshot(*extra: Entry) -> Snapshot:
    """The scan of tree ``t``: leaves ``@data`` and ``www/@site``, and ``extra``."""
    return Snapshot((TreeScan("t", "/trees/t", device="/dev/vdb", root_subvol_path="/t",
                              entries=(leaf("/t", "@data"), directory("www"),
                                       leaf("/t", "www", "@site"), *extra)),))


def facts_for(path: str) -> tuple[PathFacts, ...]:
    """Every directory from ``/`` down to ``path``, plain directories owned by root."""
    parts = [p for p in path.split("/") if p]
    return tuple(PathFacts("/" + "/".join(parts[:i]), PathKind.DIRECTORY)
                 for i in range(len(parts) + 1))


def mounted(mountpoint: str, fstype: str = "tmpfs", source: str = "tmpfs",
            root: str = "/") -> MountEntry:
    """A mount table line for ``mountpoint``."""
    return MountEntry(50, 1, root, mountpoint, fstype, source, ("rw",), ())


def persist(path: str, mounts: tuple[MountEntry, ...] = (),
            snap: Snapshot | None = None, config: Config = CONFIG) -> PersistPlan:
    """``plan_persist`` for ``path`` with facts for every directory down to it."""
    return plan_persist(config, snapshot() if snap is None else snap, mounts, path,
                        facts_for(path) if isinstance(path, str) else ())


def refusal(path: str, mounts: tuple[MountEntry, ...] = (), snap: Snapshot | None = None,
            config: Config = CONFIG) -> tuple[str, str | None]:
    """The message and hint ``plan_persist`` refuses ``path`` with."""
    with pytest.raises(PersistRefused) as caught:
        persist(path, mounts, snap, config)
    return caught.value.message, caught.value.hint


# -- the path as given ---------------------------------------------------------------


@pytest.mark.parametrize("path", ["srv/new", "", "srv"])
def test_a_relative_path_is_refused_as_not_absolute(path: str) -> None:
    """A path without a leading ``/`` is refused by name (its repr) with the hint to give
    the full path, before any tree is chosen."""
    assert refusal(path) == (f"{path!r} is not an absolute path", "give the full path")


def test_a_path_that_is_not_a_string_is_refused_as_not_absolute() -> None:
    """A non-string path is refused with the same words, not a crash."""
    assert refusal(None) == ("None is not an absolute path",  # type: ignore[arg-type]
                             "give the full path")


@pytest.mark.parametrize("char", ["\x00", "\x01", "\n", "\x1f"])
def test_control_characters_are_refused_without_hint(char: str) -> None:
    """Any character below U+0020 is a control character: refused, the path shown as its
    repr, no hint."""
    path = f"/srv/a{char}b"
    assert refusal(path) == (f"{path!r} contains a control character", None)


def test_a_space_is_not_a_control_character() -> None:
    """U+0020 (the first character that is not a control character) passes the check:
    ``/srv/a b`` becomes the leaf ``@a b`` mounted at the path itself."""
    result = persist("/srv/a b")
    assert (result.tree, result.leaf, result.leaf_path) == ("t", ("@a b",), "/trees/t/@a b")
    assert (result.source, result.mount.where) == ("/srv/a b", "/srv/a b")


@pytest.mark.parametrize("path", ["/srv/a/../b", "/srv/..", "/srv//new/../x/"])
def test_dot_dot_components_are_refused(path: str) -> None:
    """A ``..`` component is refused, naming the path as given, with the hint to give it
    without ``..``."""
    assert refusal(path) == (f"{path}: contains '..'", "give the path without '..'")


def test_dots_inside_a_name_are_not_dot_dot() -> None:
    """A name that merely contains ``..`` (``a..b``) is an ordinary name."""
    assert persist("/srv/a..b").leaf == ("@a..b",)


# -- mounts and leaves at, above and below the path ------------------------------------


def test_a_leaf_not_mounted_yet_says_to_reload() -> None:
    """A path a leaf maps to, with no mount there, is refused as already persisted; the
    hint says to run ``layout reload``, whatever else is mounted elsewhere."""
    expected = ("/srv/data: already persisted by leaf t:@data",
                "it is not mounted yet: run 'layout reload'")
    assert refusal("/srv/data") == expected
    assert refusal("/srv/data", (mounted("/"), mounted("/srv/other"))) == expected


def test_a_mounted_leaf_says_nothing_to_do() -> None:
    """When the mount table shows the leaf's mount point, the hint names the subvolume it
    is mounted from."""
    mounts = (mounted("/"), mounted("/srv/data", "btrfs", "/dev/vdb", "/t/@data"))
    assert refusal("/srv/data", mounts) == (
        "/srv/data: already persisted by leaf t:@data",
        "nothing to do: it is mounted from /t/@data")


def test_an_already_persisted_nested_leaf_is_named_with_slashes() -> None:
    """A leaf deeper in the tree is named by its components joined with ``/``."""
    assert refusal("/srv/www/site") == (
        "/srv/www/site: already persisted by leaf t:www/@site",
        "it is not mounted yet: run 'layout reload'")


def test_a_path_inside_a_leaf_is_refused() -> None:
    """A path below a leaf's mount point is refused, naming the leaf and where it is
    mounted."""
    hint = "its data is persisted already; persist a path outside that leaf"
    assert refusal("/srv/data/x") == (
        "/srv/data/x: inside the leaf t:@data mounted at /srv/data", hint)
    assert refusal("/srv/www/site/a/b") == (
        "/srv/www/site/a/b: inside the leaf t:www/@site mounted at /srv/www/site", hint)


def test_a_path_inside_the_trees_own_root_leaf_is_refused() -> None:
    """The tree's own ``@`` leaf mounts on the destination itself: everything below is
    inside it."""
    assert refusal("/srv/new", snap=snapshot(leaf("/t", "@"))) == (
        "/srv/new: inside the leaf t:@ mounted at /srv",
        "its data is persisted already; persist a path outside that leaf")


NESTED_CONFIG = Config((TreeConfig("outer", "/trees/o", "/srv"),
                        TreeConfig("inner", "/trees/i", "/srv/inner")))
NESTED = Snapshot((
    TreeScan("outer", "/trees/o", device="/dev/vdb", root_subvol_path="/o",
             entries=(leaf("/o", "@inner", id=300),)),
    TreeScan("inner", "/trees/i", device="/dev/vdb", root_subvol_path="/i",
             entries=(leaf("/i", "@x"),)),
))


def test_an_outer_trees_leaf_may_hold_the_destination() -> None:
    """An outer tree's leaf mounted exactly on the inner tree's destination does not make
    the inner tree's paths 'inside a leaf': the inner tree persists below it."""
    result = persist("/srv/inner/new", snap=NESTED, config=NESTED_CONFIG)
    assert (result.tree, result.leaf, result.leaf_path) == ("inner", ("@new",), "/trees/i/@new")
    assert result.mount.where == "/srv/inner/new"
    assert result.mount.options == ("subvol=/i/@new",)


def test_something_mounted_on_the_path_is_refused() -> None:
    """A foreign mount exactly on the path is refused, naming its type and source."""
    assert refusal("/srv/new", (mounted("/"), mounted("/srv/new", "ext4", "/dev/sdb1"))) == (
        "/srv/new: something is mounted there already (ext4 /dev/sdb1)",
        "unmount it first, or persist another directory")


def test_a_path_inside_another_mount_below_the_destination_is_refused() -> None:
    """A path below a foreign mount point that is itself below the destination is refused,
    naming that mount point and its type."""
    assert refusal("/srv/new/deep/er", (mounted("/srv/new", "nfs4", "server:/x"),)) == (
        "/srv/new/deep/er: inside the mount point /srv/new (nfs4)",
        "persist a directory that is not inside another mount")


def test_a_mount_on_or_above_the_destination_is_not_another_mount() -> None:
    """A filesystem mounted on the destination itself (or above it) holds the path but is
    not 'another mount': the path is persisted."""
    mounts = (mounted("/"), mounted("/srv", "xfs", "/dev/sdc"))
    result = persist("/srv/new/deep", mounts)
    assert (result.leaf, result.mount.where) == (("new", "@deep"), "/srv/new/deep")
    assert [s.kind for s in result.steps] == [
        StepKind.MAKE_DIRECTORY, StepKind.CREATE_SUBVOLUME, StepKind.COPY, StepKind.RENAME,
        StepKind.MOUNT]


BELOW_HINT = "persist each directory beside them instead"


def www_leaves(*names: str) -> Snapshot:
    """Tree ``t`` with extra leaves ``www/@NAME``."""
    return snapshot(*(leaf("/t", "www", "@" + n) for n in names))


def test_mount_points_below_from_the_plan_are_listed() -> None:
    """Planned leaves below the path are refused as mount points below it, sorted; up to
    three are listed without an ellipsis."""
    assert refusal("/srv/www") == ("/srv/www: has mount points below it (/srv/www/site)",
                                   BELOW_HINT)
    assert refusal("/srv/www", snap=www_leaves("a", "b")) == (
        "/srv/www: has mount points below it (/srv/www/a, /srv/www/b, /srv/www/site)",
        BELOW_HINT)


def test_more_than_three_mount_points_below_end_in_an_ellipsis() -> None:
    """With four or more, the first three (sorted) are listed, then ``...``."""
    expected = "/srv/www: has mount points below it (/srv/www/a, /srv/www/b, /srv/www/c, ...)"
    assert refusal("/srv/www", snap=www_leaves("a", "b", "c")) == (expected, BELOW_HINT)
    assert refusal("/srv/www", snap=www_leaves("a", "b", "c", "d")) == (expected, BELOW_HINT)


def test_mount_points_below_from_the_mount_table_are_listed_too() -> None:
    """Mount points below the path from the mount table count as well as planned ones:
    the list is their union, without duplicates, sorted."""
    assert refusal("/srv/new", (mounted("/srv/new/tmp"),)) == (
        "/srv/new: has mount points below it (/srv/new/tmp)", BELOW_HINT)
    mounts = (mounted("/srv/www/site", "btrfs", "/dev/vdb", "/t/www/@site"),
              mounted("/srv/www/cache"))
    assert refusal("/srv/www", mounts) == (
        "/srv/www: has mount points below it (/srv/www/cache, /srv/www/site)", BELOW_HINT)


# -- PathFacts ---------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "message"), [
    ("srv/x", "'srv/x' is not an absolute path"),
    ("", "'' is not an absolute path"),
    (None, "None is not an absolute path"),
    (b"/srv", "b'/srv' is not an absolute path"),
])
def test_path_facts_need_an_absolute_path(path: object, message: str) -> None:
    """A fact about a relative path, or about something that is not a string, is refused
    by name."""
    with pytest.raises(UserError) as caught:
        PathFacts(path, PathKind.DIRECTORY)  # type: ignore[arg-type]
    assert (caught.value.message, caught.value.hint) == (message, None)


def test_path_facts_need_a_path_kind() -> None:
    """A kind given as its string value is not a PathKind; the message names the path and
    the kind's repr."""
    with pytest.raises(UserError) as caught:
        PathFacts("/srv/x", "directory")  # type: ignore[arg-type]
    assert caught.value.message == "/srv/x: kind 'directory' is not a PathKind"


@pytest.mark.parametrize(("owner", "message"), [
    ({"uid": -1}, "/srv/x: uid must be a non-negative integer"),
    ({"gid": True}, "/srv/x: gid must be a non-negative integer"),
    ({"mode": 0o17777}, "/srv/x: mode 17777 has more than permission bits"),
])
def test_path_facts_owner_errors_are_user_errors_naming_the_path(
        owner: dict[str, int], message: str) -> None:
    """A bad owner, group or mode is a plain UserError (the facts come from the shell, not
    from a snapshot document) whose message names the path."""
    with pytest.raises(UserError) as caught:
        PathFacts("/srv/x", PathKind.DIRECTORY, **owner)
    assert type(caught.value) is UserError
    assert (caught.value.message, caught.value.hint) == (message, None)


def test_path_facts_accept_every_kind_and_full_permission_bits() -> None:
    """Valid facts keep every field as given."""
    for kind in PathKind:
        fact = PathFacts("/", kind, 65534, 100, 0o7777)
        assert (fact.path, fact.kind, fact.uid, fact.gid, fact.mode) == (
            "/", kind, 65534, 100, 0o7777)


# -- Step.describe -----------------------------------------------------------------------


def outer_mount() -> Mount:
    """The planned mount of the outer tree's leaf ``@inner`` (two options: subvol= and
    subvolid=)."""
    (mount,) = [m for m in make_plan(NESTED_CONFIG, NESTED).mounts if m.tree == "outer"]
    return mount


def test_each_step_kind_has_its_own_words() -> None:
    """Every kind of step is described in its own words, with owners and modes in octal,
    sources and the mount's options joined by commas."""
    mount = outer_mount()
    assert mount.options == ("subvol=/o/@inner", "subvolid=300")
    steps_and_lines = [
        (Step(StepKind.MAKE_DIRECTORY, "/trees/t/www", 1000, 100, 0o2775),
         "create directory /trees/t/www (owner 1000:100, mode 2775)"),
        (Step(StepKind.CREATE_SUBVOLUME, "/trees/t/.layout-trees-persist", 0, 0, 0o700),
         "create subvolume /trees/t/.layout-trees-persist (owner 0:0, mode 0700)"),
        (Step(StepKind.COPY, "/trees/t/.layout-trees-persist", source="/srv/inner"),
         "copy /srv/inner/ into /trees/t/.layout-trees-persist/ (reflinks; owners, modes, "
         "times, xattrs, ACLs, hard links kept)"),
        (Step(StepKind.RENAME, "/trees/o/@inner", source="/trees/o/.layout-trees-persist"),
         "rename /trees/o/.layout-trees-persist to /trees/o/@inner (the leaf exists from "
         "here on)"),
        (Step(StepKind.MOUNT, "/srv/inner"),
         "mount /dev/vdb at /srv/inner with -o subvol=/o/@inner,subvolid=300 "
         "(unit srv-inner.mount)"),
    ]
    assert [step.describe(mount) for step, _ in steps_and_lines] == [
        line for _, line in steps_and_lines]


def test_a_planned_persist_describes_its_steps() -> None:
    """The steps of a real plan (a structure directory, then the leaf) read in order."""
    facts = (*facts_for("/srv/new")[:-1],
             PathFacts("/srv/new", PathKind.DIRECTORY, 1000, 1000, 0o750),
             PathFacts("/srv/new/deep", PathKind.DIRECTORY, 0, 0, 0o700))
    result = plan_persist(CONFIG, snapshot(), (), "/srv/new/deep", facts)
    assert [step.describe(result.mount) for step in result.steps] == [
        "create directory /trees/t/new (owner 1000:1000, mode 0750)",
        "create subvolume /trees/t/new/.layout-trees-persist (owner 0:0, mode 0700)",
        "copy /srv/new/deep/ into /trees/t/new/.layout-trees-persist/ (reflinks; owners, "
        "modes, times, xattrs, ACLs, hard links kept)",
        "rename /trees/t/new/.layout-trees-persist to /trees/t/new/@deep (the leaf exists "
        "from here on)",
        "mount /dev/vdb at /srv/new/deep with -o subvol=/t/new/@deep (unit "
        "srv-new-deep.mount)",
    ]
