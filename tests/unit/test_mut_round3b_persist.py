"""``layout persist``'s last words, compared exactly: :func:`describe` of a whole plan (one
line per step, each naming the plan's mount) and the refusal of a leaf whose tree the plan
would refuse as a whole, which takes that tree's own skip and not another tree's, or of a
leaf below a name the project reserves (which the plan would drop without a skip).

The world: tree ``a`` with destination ``/`` owns ``/srv/www`` through its structure,
tree ``b`` has destination ``/srv``; ``/srv/www/x`` is persisted into ``b``."""

from __future__ import annotations

import pytest
from layout_trees.core.backup.policy import BackupPolicy
from layout_trees.core.config import Config, TreeConfig
from layout_trees.core.model import Entry, EntryKind, Snapshot, Subvolume, TreeScan
from layout_trees.core.persist import PathFacts, PathKind, PersistRefused, describe, plan_persist

PATH = "/srv/www/x"


def _leaf(root: str, *path: str) -> Entry:
    """A writable leaf subvolume at ``path`` of a tree whose subvolume path is ``root``."""
    return Entry(path, EntryKind.SUBVOLUME, subvolume=Subvolume(root + "/" + "/".join(path)))


def _world(owner: tuple[int, int, int], *extra: TreeConfig) -> tuple[Config, Snapshot]:
    """Trees ``a`` (destination ``/``, giving ``/srv/www`` the owner ``owner``) and ``b``
    (destination ``/srv``), plus the unscanned trees ``extra``."""
    a = TreeScan("a", "/trees/a", device="/dev/vdb", root_subvol_path="/a", entries=(
        Entry(("srv",), EntryKind.DIRECTORY), Entry(("srv", "www"), EntryKind.DIRECTORY, *owner),
        _leaf("/a", "srv", "www", "@y")))
    b = TreeScan("b", "/trees/b", device="/dev/vdb", root_subvol_path="/b",
                 entries=(_leaf("/b", "@z"),))
    trees = (*extra, TreeConfig("a", "/trees/a", "/"), TreeConfig("b", "/trees/b", "/srv"))
    return Config(trees), Snapshot((a, b))


def _facts(uid: int, gid: int, mode: int) -> tuple[PathFacts, ...]:
    """``/``, ``/srv``, ``/srv/www`` and ``/srv/www/x``: directories with this owner."""
    return tuple(PathFacts(p, PathKind.DIRECTORY, uid, gid, mode)
                 for p in ("/", "/srv", "/srv/www", PATH))


def test_describe_gives_one_line_per_step_naming_the_plans_mount() -> None:
    """The structure directory, the staged subvolume, the copy, the rename and the mount,
    in this order, with owners and modes in octal; the mount line is the plan's mount."""
    config, snap = _world((1000, 100, 0o750))
    result = plan_persist(config, snap, (), PATH, _facts(1000, 100, 0o750))
    assert describe(result) == (
        "create directory /trees/b/www (owner 1000:100, mode 0750)",
        "create subvolume /trees/b/www/.layout-trees-persist (owner 1000:100, mode 0750)",
        "copy /srv/www/x/ into /trees/b/www/.layout-trees-persist/ (reflinks; owners, modes, "
        "times, xattrs, ACLs, hard links kept)",
        "rename /trees/b/www/.layout-trees-persist to /trees/b/www/@x (the leaf exists from "
        "here on)",
        "mount /dev/vdb at /srv/www/x with -o subvol=/b/www/@x (unit srv-www-x.mount)",
    )


def test_a_refused_tree_is_refused_with_its_own_skip_not_another_trees() -> None:
    """When the new leaf makes the plan refuse tree ``b`` (its new structure directory
    would give ``/srv/www`` another owner than tree ``a`` does), the refusal is ``b``'s
    skip, even though the unscanned tree ``attic``'s whole-tree skip comes first in the
    plan (skips are in tree order)."""
    config, snap = _world((1000, 100, 0o750), TreeConfig("attic", "/trees/attic", "/opt"))
    with pytest.raises(PersistRefused) as caught:
        plan_persist(config, snap, (), PATH, _facts(0, 0, 0o755))
    assert (caught.value.message, caught.value.hint) == (
        "/trees/b: tree 'b' gives /srv/www owner 0:0 mode 0755, tree 'a' gives 1000:100 mode "
        "0750; not mounted [overlapping-tree]",
        "choose another directory, or rename it")


@pytest.mark.parametrize(("backup", "directory", "refused"), [
    (None, ".layout-trees-x", "/trees/t/.layout-trees-x"),
    ("t/snaps", "snaps", "/trees/t/snaps"),
])
def test_a_leaf_below_a_reserved_name_is_refused_with_the_reason(
        backup: str | None, directory: str, refused: str) -> None:
    """Below a directory named ``.layout-trees…`` or the tree's backup snapshot directory
    (the project's own, which the plan drops without a skip) the refusal names that
    directory in the tree and why, before anything is planned."""
    tree = TreeConfig("t", "/trees/t", "/srv",
                      backup=None if backup is None else BackupPolicy(
                          targets=("/mnt/backup",), snapshot_dir=backup))
    scan = TreeScan("t", "/trees/t", device="/dev/vdb", root_subvol_path="/t")
    path = f"/srv/{directory}/y"
    facts = tuple(PathFacts(p, PathKind.DIRECTORY, 0, 0, 0o755)
                  for p in ("/", "/srv", f"/srv/{directory}", path))
    with pytest.raises(PersistRefused) as caught:
        plan_persist(Config((tree,)), Snapshot((scan,)), (), path, facts)
    assert (caught.value.message, caught.value.hint) == (
        f"{refused}: the project keeps this name for its own work (names starting with "
        "'.layout-trees', backup snapshot directories); nothing below it is ever mounted",
        "choose another directory, or rename it")
