"""``layout restore``'s decisions compared exactly: which tree and leaves it takes (and the
refusals, with their hints), and for one leaf every kind of step ``plan_restore`` gives,
each as a whole :class:`RestoreStep` (what is received, against which parent, what is
placed, whether the leaf is replaced or made empty, whether it is an error, the message).

The world is small and written out: a tree ``main`` with the leaf ``a/@c`` backed up to
``/t``; the target holds its backups of the 24th (B1) and the 25th (B2), the destination's
snapshot directory holds received copies of some of them (C1, C2)."""

from __future__ import annotations

import pytest
from layout_trees.core.backup.btrbk import ListedSubvolume
from layout_trees.core.backup.manifest import Coverage, Leaf, Manifest, Tree
from layout_trees.core.backup.policy import BackupPolicy
from layout_trees.core.backup.restore import (
    LocalLeaf,
    RestoreStep,
    pick_tree,
    plan_restore,
    select_leaves,
)
from layout_trees.core.errors import UserError

POLICY = BackupPolicy(targets=("/t",))
PATH = ("a", "@c")
LEAF = Leaf("main", PATH, "/trees/main/a/@c", "main.a.@c", Coverage.COVERED,
            "covered by the tree's policy", uuid="u", policy=POLICY)
MAIN = Tree("main", "/trees/main", "/srv", POLICY)
MANIFEST = Manifest((MAIN,), (LEAF,))

B1 = "main.a.@c.20261124T120000+0000"
B2 = "main.a.@c.20261125T120000+0000"
ON_TARGET = (ListedSubvolume(B1, "t1", "r1", None, True),
             ListedSubvolume(B2, "t2", "r2", None, True))
C1 = ListedSubvolume(B1, "l1", "r1", None, True)
"""The destination's received copy of B1."""
C2 = ListedSubvolume(B2, "l2", "r2", None, True)
"""The destination's received copy of B2."""

FULL = f"received {B2} in full"
INCREMENTAL = f"received {B2} incrementally (parent {B1})"


def plan(local: tuple[ListedSubvolume, ...], present: LocalLeaf | None,
         overwrite: bool = False, leaf: Leaf = LEAF,
         target: tuple[ListedSubvolume, ...] = ON_TARGET) -> tuple[RestoreStep, ...]:
    """The restore plan of ``leaf`` alone, with ``present`` at its place (or nothing)."""
    manifest = Manifest((MAIN,), (leaf,))
    existing = {} if present is None else {leaf.path: present}
    return plan_restore(manifest, "main", target, local, existing, None, overwrite)


# --- which tree, which leaves -----------------------------------------------------------------

def test_pick_tree_refuses_to_guess_among_several_trees() -> None:
    """Without --tree, a manifest of several trees is refused, the hint naming them all in
    the manifest's order."""
    manifest = Manifest((Tree("home", "/trees/home", "/home"), MAIN))
    with pytest.raises(UserError) as caught:
        pick_tree(manifest, None)
    assert caught.value.message == ("the target holds several layout trees; choose one with "
                                    "--tree")
    assert caught.value.hint == "its trees: home, main"


def test_pick_tree_says_an_empty_manifest_holds_no_tree() -> None:
    """Without --tree, a manifest without trees is refused as empty, not as holding several
    trees."""
    with pytest.raises(UserError) as caught:
        pick_tree(Manifest(()), None)
    assert caught.value.message == "the target's manifest holds no layout tree"
    assert caught.value.hint == "nothing was backed up there yet: run 'layout backup run' first"


def test_pick_tree_names_the_only_tree_or_the_one_asked_for() -> None:
    """The only tree is taken without --tree; a named tree is taken among several."""
    assert pick_tree(MANIFEST, None) is MAIN
    home = Tree("home", "/trees/home", "/home")
    assert pick_tree(Manifest((home, MAIN)), "main") is MAIN


@pytest.mark.parametrize(("trees", "hint"), [
    ((), "its trees: none"),
    ((Tree("home", "/trees/home", "/home"), Tree("www", "/trees/www", "/var/www")),
     "its trees: home, www"),
])
def test_pick_tree_refuses_a_tree_the_manifest_lacks(trees: tuple[Tree, ...],
                                                      hint: str) -> None:
    """A tree the manifest lacks is refused by name; the hint lists the trees it holds, or
    says there are none."""
    with pytest.raises(UserError) as caught:
        pick_tree(Manifest(trees), "main")
    assert caught.value.message == "the target's manifest has no tree 'main'"
    assert caught.value.hint == hint


def test_select_leaves_refuses_a_leaf_the_tree_lacks() -> None:
    """A subvolume the tree does not hold is refused with its path joined by '/', and the
    hint shows how a path inside the tree is written."""
    with pytest.raises(UserError) as caught:
        select_leaves(MANIFEST, "main", ("a", "@nope"))
    assert caught.value.message == "tree 'main' has no leaf 'a/@nope' in the manifest"
    assert caught.value.hint == "give the path inside the tree, e.g. 'a/@cache'"


def test_select_leaves_takes_the_one_asked_for() -> None:
    """With a subvolume, only that leaf of the tree is taken."""
    other = Leaf("main", ("@d",), "/trees/main/@d", "main.@d", Coverage.COVERED, "covered",
                 policy=POLICY)
    manifest = Manifest((MAIN,), (LEAF, other))
    assert select_leaves(manifest, "main", PATH) == (LEAF,)
    assert select_leaves(manifest, "main", None) == (LEAF, other)


# --- the steps for one leaf -------------------------------------------------------------------

def test_nothing_there_nothing_here_receives_in_full() -> None:
    """Nothing at the leaf's place and no copy here: the latest backup is received in full
    and placed."""
    assert plan((), None) == (RestoreStep(
        LEAF, receive=B2, parent=None, place=B2, message=f"{FULL}; restored from {B2}"),)


def test_nothing_there_an_older_copy_here_receives_incrementally() -> None:
    """A copy of an older backup here is the parent of the receive."""
    assert plan((C1,), None) == (RestoreStep(
        LEAF, receive=B2, parent=B1, place=B2, message=f"{INCREMENTAL}; restored from {B2}"),)


def test_nothing_there_the_latest_copy_here_is_placed_by_its_own_name() -> None:
    """A copy of the latest backup already here (under a name of its own) is placed, and
    nothing is received."""
    copy = ListedSubvolume(B2 + "_1", "l2", "r2", None, True)
    assert plan((C1, copy), None) == (RestoreStep(
        LEAF, receive=None, parent=None, place=B2 + "_1", message=f"restored from {B2}"),)


def test_up_to_date_leaf_is_left_alone() -> None:
    """A leaf that is an unchanged snapshot of the latest copy needs nothing."""
    assert plan((C1, C2), LocalLeaf(B2, False)) == (
        RestoreStep(LEAF, message=f"up to date with {B2}"),)


def test_up_to_date_leaf_still_receives_the_missing_copy() -> None:
    """A leaf made from the latest backup whose copy is no longer here: the copy is received
    again (against the older one), the leaf is left alone."""
    assert plan((C1,), LocalLeaf(B2, False)) == (RestoreStep(
        LEAF, receive=B2, parent=B1, message=f"{INCREMENTAL}; up to date with {B2}"),)


@pytest.mark.parametrize(("changed", "overwrite"), [(False, False), (False, True),
                                                   (True, True)])
def test_busy_leaf_is_not_replaced(changed: bool, overwrite: bool) -> None:
    """A leaf in use that would be replaced is not: the backup is received, the step is an
    error saying what uses it and what to do."""
    present = LocalLeaf(B1, changed, busy="it is mounted at /srv/c")
    assert plan((C1,), present, overwrite) == (RestoreStep(
        LEAF, receive=B2, parent=B1, error=True,
        message=f"{INCREMENTAL}; NOT replaced by {B2}: it is mounted at /srv/c; stop what "
        "uses it and unmount it, then restore again"),)


def test_busy_leaf_up_to_date_is_no_error() -> None:
    """A leaf in use that is already up to date is fine: nothing to replace."""
    present = LocalLeaf(B2, False, busy="it is mounted at /srv/c")
    assert plan((C2,), present) == (RestoreStep(LEAF, message=f"up to date with {B2}"),)


def test_unchanged_leaf_is_updated() -> None:
    """A leaf without local changes is replaced by the latest backup."""
    assert plan((C1,), LocalLeaf(B1, False)) == (RestoreStep(
        LEAF, receive=B2, parent=B1, place=B2, replace=True,
        message=f"{INCREMENTAL}; updated to {B2} (it had no local changes)"),)


def test_unchanged_leaf_is_updated_from_the_copy_here() -> None:
    """With the latest copy already here, the update receives nothing."""
    assert plan((C1, C2), LocalLeaf(B1, False)) == (RestoreStep(
        LEAF, place=B2, replace=True, message=f"updated to {B2} (it had no local changes)"),)


def test_changed_leaf_is_overwritten_when_asked() -> None:
    """With overwrite, local changes are replaced and the message says so."""
    assert plan((C1,), LocalLeaf(B1, True), overwrite=True) == (RestoreStep(
        LEAF, receive=B2, parent=B1, place=B2, replace=True,
        message=f"{INCREMENTAL}; local changes overwritten by {B2}, as asked"),)


def test_changed_leaf_is_overwritten_from_the_copy_here() -> None:
    """With overwrite and the latest copy here, nothing is received."""
    assert plan((C2,), LocalLeaf(B2, True), overwrite=True) == (RestoreStep(
        LEAF, place=B2, replace=True, message=f"local changes overwritten by {B2}, as asked"),)


def test_changed_leaf_is_kept_and_the_backup_received() -> None:
    """Without overwrite, a leaf changed since it was restored is kept; the latest backup is
    received all the same and the message says where it is."""
    assert plan((C1,), LocalLeaf(B1, True)) == (RestoreStep(
        LEAF, receive=B2, parent=B1, error=True,
        message=f"{INCREMENTAL}; NOT replaced: it has local changes since it was restored "
        f"from {B1}; {B2} is received and kept in the snapshot directory; pass --overwrite "
        "to replace it"),)


def test_changed_busy_leaf_is_kept_for_its_changes() -> None:
    """Without overwrite, a changed leaf in use is refused for its changes, not its use."""
    present = LocalLeaf(B1, True, busy="it is mounted at /srv/c")
    assert plan((C1,), present) == (RestoreStep(
        LEAF, receive=B2, parent=B1, error=True,
        message=f"{INCREMENTAL}; NOT replaced: it has local changes since it was restored "
        f"from {B1}; {B2} is received and kept in the snapshot directory; pass --overwrite "
        "to replace it"),)


def test_foreign_leaf_is_kept() -> None:
    """A leaf that does not descend from a restored backup is kept; the message says so."""
    assert plan((), LocalLeaf(None, True)) == (RestoreStep(
        LEAF, receive=B2, parent=None, error=True,
        message=f"{FULL}; NOT replaced: it has local changes and does not descend from a "
        f"restored backup; {B2} is received and kept in the snapshot directory; pass "
        "--overwrite to replace it"),)


def test_changed_leaf_made_from_the_latest_copy_is_kept_without_news() -> None:
    """A leaf changed since it was made from the latest copy: nothing is received and the
    message does not claim a backup was kept."""
    assert plan((C2,), LocalLeaf(B2, True)) == (RestoreStep(
        LEAF, error=True,
        message=f"NOT replaced: it has local changes since it was restored from {B2}; pass "
        "--overwrite to replace it"),)


@pytest.mark.parametrize("overwrite", [False, True])
def test_blocked_place_is_not_touched(overwrite: bool) -> None:
    """Something that is not a restored leaf at the leaf's place is left alone, whatever is
    asked: an error naming it, nothing received."""
    present = LocalLeaf(None, True, blocked="a symlink is there")
    assert plan((C1,), present, overwrite) == (RestoreStep(
        LEAF, error=True, message="NOT restored: a symlink is there"),)


def _uncovered(coverage: Coverage, reason: str) -> Leaf:
    return Leaf("main", PATH, "/trees/main/a/@c", "main.a.@c", coverage, reason, uuid="u")


EXCLUDED = _uncovered(Coverage.EXCLUDED, "user.layout-trees.backup=skip on the subvolume")


def test_excluded_leaf_is_created_empty() -> None:
    """An excluded leaf with nothing at its place is created empty, and still excluded."""
    assert plan((C1,), None, leaf=EXCLUDED) == (RestoreStep(
        EXCLUDED, create_empty=True,
        message="excluded from backups: created empty, still excluded"),)


def test_excluded_leaf_present_is_left_alone() -> None:
    """An excluded leaf already there is left as it is, even with overwrite."""
    assert plan((C1,), LocalLeaf(None, True), True, leaf=EXCLUDED) == (
        RestoreStep(EXCLUDED, message="excluded from backups: left as it is"),)


def test_leaf_not_backed_up_is_an_error_with_its_reason() -> None:
    """A leaf that was not backed up is an error naming why."""
    leaf = _uncovered(Coverage.NO_POLICY, "its tree has no [backup] policy")
    assert plan((), None, leaf=leaf) == (RestoreStep(
        leaf, error=True,
        message="was not backed up (its tree has no [backup] policy); not restored"),)


def test_no_complete_backup_is_an_error() -> None:
    """A target holding only an unfinished receive of the leaf is an error."""
    unfinished = (ListedSubvolume(B2, "t2", None, None, False),)
    assert plan((C1,), None, target=unfinished) == (RestoreStep(
        LEAF, error=True, message="the target holds no complete backup of it"),)
