"""``layout drop``'s decisions compared exactly: every reason :func:`drop_check` gives (a
change since the latest snapshot, a target that cannot be listed or is not listed at all, a
target without a complete copy), and which mounts :func:`in_use` counts as showing the leaf
when a sibling's name only extends the leaf's, or when the leaf's path is unknown.

The leaf is ``@db`` of the tree ``main`` (subvolume ``/trees/main/@db``, ID 260, on
``/dev/vdb``), backed up to ``/t1``, ``/t2`` and ``/t3``."""

from __future__ import annotations

import pytest
from layout_trees.core.backup.btrbk import ListedSubvolume
from layout_trees.core.backup.drop import drop_check, in_use
from layout_trees.core.backup.manifest import Coverage, Leaf
from layout_trees.core.backup.policy import BackupPolicy
from layout_trees.core.mountinfo import MountEntry

LEAF = Leaf("main", ("@db",), "/trees/main/@db", "main.@db", Coverage.COVERED,
            "covered by the tree's policy", uuid="leaf-uuid",
            policy=BackupPolicy(targets=("/t1", "/t2", "/t3")))
SNAP = ListedSubvolume("main.@db.20261125T120000+0000", "snap-uuid", None, "leaf-uuid", True)
"""The leaf's latest own snapshot."""
COPY = ListedSubvolume(SNAP.name, "copy-uuid", "snap-uuid", None, True)
"""A complete copy of it on a target."""
CHANGED = (f"it changed since its latest snapshot {SNAP.name}; run 'layout backup run' "
           "first")


def test_drop_check_all_copies_unchanged_is_no_reason() -> None:
    """An unchanged leaf whose latest snapshot is on every target may be dropped."""
    targets = {"/t1": (COPY,), "/t2": (COPY,), "/t3": (COPY,)}
    assert drop_check(LEAF, "leaf-uuid", (SNAP,), targets, False) == ()


@pytest.mark.parametrize("changed", [True, None])
def test_drop_check_names_every_reason(changed: bool | None) -> None:
    """A changed (or not compared) leaf, a target that could not be listed, one not listed
    at all and one without a complete copy: one reason each, targets in the policy's order."""
    unfinished = ListedSubvolume(SNAP.name, "copy-uuid", None, None, False)
    targets: dict[str, tuple[ListedSubvolume, ...] | str] = {
        "/t3": (unfinished,), "/t1": "ssh: connection refused"}
    assert drop_check(LEAF, "leaf-uuid", (SNAP,), targets, changed) == (
        CHANGED,
        "/t1: cannot be checked: ssh: connection refused",
        "/t2: cannot be checked: not listed",
        f"/t3: holds no complete copy of {SNAP.name} (no backup with its received UUID)",
    )


def test_drop_check_a_leaf_not_backed_up_is_refused_with_its_reason() -> None:
    """A leaf that is not backed up is refused with the manifest's reason alone."""
    leaf = Leaf("main", ("@db",), "/trees/main/@db", "main.@db", Coverage.EXCLUDED,
                "user.layout-trees.backup=skip on the subvolume", uuid="leaf-uuid")
    assert drop_check(leaf, "leaf-uuid", (SNAP,), {}, False) == (
        "it is not backed up (user.layout-trees.backup=skip on the subvolume)",)


def _mount(root: str, subvol_id: int = 300) -> MountEntry:
    return MountEntry(41, 1, root, "/srv/x", "btrfs", "/dev/vdb", ("rw",),
                      ("rw", f"subvolid={subvol_id}", f"subvol={root}"))


@pytest.mark.parametrize("root", ["/trees/main/@db ", "/trees/main/@dbX",
                                  "/trees/main/@dbX/", "/trees/main/@db X"])
def test_in_use_a_sibling_whose_name_extends_the_leafs_does_not_count(root: str) -> None:
    """A mount of another subvolume whose name is the leaf's followed by a space or an 'X'
    does not show the leaf."""
    assert in_use({"": (_mount(root),)}, "/dev/vdb", 260, "/trees/main/@db", ()) == ()


@pytest.mark.parametrize("root", ["/trees/main/@db/", "/trees/main/@db//", "/trees/main/@db/X"])
def test_in_use_a_mount_of_the_leaf_or_inside_it_counts(root: str) -> None:
    """A mount of the leaf itself (trailing slashes dropped) or of a directory inside it
    shows the leaf, whatever subvolume ID it reports."""
    assert in_use({"": (_mount(root),)}, "/dev/vdb", 260, "/trees/main/@db", ()) == (
        "it is mounted at /srv/x (mount ID 41)",)


def test_in_use_a_leaf_of_unknown_path_is_shown_by_every_mount_of_its_filesystem() -> None:
    """Fail closed: for a leaf whose path from the top level is unknown (``""``, what
    restore passes when btrfsutil cannot tell), every btrfs mount of its device counts,
    the top level's included; another device's does not."""
    top = MountEntry(40, 1, "/", "/mnt/top", "btrfs", "/dev/vdb", ("rw",),
                     ("rw", "subvolid=5", "subvol=/"))
    other = MountEntry(42, 1, "/", "/mnt/other", "btrfs", "/dev/vdc", ("rw",),
                       ("rw", "subvolid=5", "subvol=/"))
    assert in_use({"": (top, _mount("/srv"), other)}, "/dev/vdb", 260, "", ()) == (
        "it is mounted at /mnt/top (mount ID 40)", "it is mounted at /srv/x (mount ID 41)")
