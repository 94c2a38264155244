"""Restoring a layout tree from a target alone: what to receive, what to place.

Theory of operation.  The target holds the manifest and, per leaf, backups
named ``<snapshot name>.<timestamp>``.  A restore into a directory of a
(usually fresh) btrfs filesystem keeps every received backup read-only in the
policy's snapshot directory at that filesystem's top level, and makes each
leaf a writable snapshot of the latest one, at its place in the tree.  So

- the next restore, when the target has newer backups, sends only the
  difference: the newest backup of which a received copy is already here is
  the parent (``btrfs send -p``; btrfs finds the local copy by its received
  UUID);
- a leaf that still equals the received copy it was made from can be
  replaced silently; one with local changes is kept unless ``overwrite`` is
  asked for, and the step says so.

The shell gathers the facts (both listings, and for each existing leaf the
received copy it descends from and whether it changed since) and executes
the steps; :func:`plan_restore` decides, purely.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import UserError
from ..record import record
from .btrbk import ListedSubvolume, backups_of
from .manifest import Coverage, Leaf, Manifest, Tree


@record
class LocalLeaf:
    """A leaf that already exists where the restore would put it."""

    origin: str | None
    """Name of the received copy (in the snapshot directory) it is a snapshot of, if any."""
    changed: bool
    """Whether it differs from that copy (True when the origin is unknown)."""
    blocked: str | None = None
    """Why what is at the leaf's place is left alone whatever is asked: not a subvolume (a
    symlink, a file, a plain directory), or a directory on the way is not restored."""
    busy: str | None = None
    """Why it may not be replaced now: mounted, or a process has files in it open."""


@record
class RestoreStep:
    """What restore does for one leaf: receive a backup (against a parent already
    here), then place a writable snapshot of it at the leaf's path."""

    leaf: Leaf
    receive: str | None = None
    """Backup to receive from the target into the snapshot directory."""
    parent: str | None = None
    """Backup on the target to send against (its copy is here already)."""
    place: str | None = None
    """Received copy to snapshot (writable) into the leaf's place."""
    replace: bool = False
    """Delete the existing leaf first."""
    create_empty: bool = False
    """An excluded leaf: create an empty subvolume marked ``skip``."""
    error: bool = False
    message: str = ""


def _trees(manifest: Manifest) -> str:
    return ", ".join(t.name for t in manifest.trees) or "none"


def pick_tree(manifest: Manifest, name: str | None) -> Tree:
    """The tree to restore: the one named ``name``, or the manifest's only tree."""
    if name is None:
        if len(manifest.trees) == 1:
            return manifest.trees[0]
        if not manifest.trees:
            raise UserError("the target's manifest holds no layout tree",
                            "nothing was backed up there yet: run 'layout backup run' first")
        raise UserError("the target holds several layout trees; choose one with --tree",
                        f"its trees: {_trees(manifest)}")
    tree = manifest.tree(name)
    if tree is None:
        raise UserError(f"the target's manifest has no tree {name!r}",
                        f"its trees: {_trees(manifest)}")
    return tree


def select_leaves(manifest: Manifest, tree: str,
                  subvolume: tuple[str, ...] | None) -> tuple[Leaf, ...]:
    """The leaves of ``tree`` to restore: all of them, or only the one at ``subvolume``."""
    pick_tree(manifest, tree)
    leaves = manifest.leaves_of(tree)
    if subvolume is not None:
        leaves = tuple(leaf for leaf in leaves if leaf.path == subvolume)
        if not leaves:
            raise UserError(f"tree {tree!r} has no leaf {'/'.join(subvolume)!r} in the manifest",
                            "give the path inside the tree, e.g. 'a/@cache'")
    return leaves


def plan_restore(manifest: Manifest, tree: str, target: tuple[ListedSubvolume, ...],
                 local: tuple[ListedSubvolume, ...], existing: Mapping[tuple[str, ...], LocalLeaf],
                 subvolume: tuple[str, ...] | None = None,
                 overwrite: bool = False) -> tuple[RestoreStep, ...]:
    """The steps to restore ``tree`` (or one leaf of it) from a target's listing.

    ``local`` lists the snapshot directory on the destination, ``existing`` the leaves
    already in place (by path in the tree).
    """
    steps: list[RestoreStep] = []
    for leaf in select_leaves(manifest, tree, subvolume):
        present = existing.get(leaf.path)
        if present is not None and present.blocked is not None:
            steps.append(RestoreStep(leaf, error=True,
                                     message=f"NOT restored: {present.blocked}"))
            continue
        if leaf.coverage is Coverage.EXCLUDED:
            if present is None:
                steps.append(RestoreStep(leaf, create_empty=True,
                                         message="excluded from backups: created empty, "
                                         "still excluded"))
            else:
                steps.append(RestoreStep(leaf, message="excluded from backups: left as it is"))
            continue
        if leaf.coverage is not Coverage.COVERED:
            steps.append(RestoreStep(leaf, error=True,
                                     message=f"was not backed up ({leaf.reason}); not restored"))
            continue
        backups = backups_of(target, leaf.snapshot_name)
        if not backups:
            steps.append(RestoreStep(leaf, error=True,
                                     message="the target holds no complete backup of it"))
            continue
        latest = backups[-1]
        copies = {c.received_uuid: c for c in backups_of(local, leaf.snapshot_name)}
        have = copies.get(latest.received_uuid)
        receive = parent = None
        if have is None:
            receive = latest.name
            older = [b for b in backups[:-1] if b.received_uuid in copies]
            parent = older[-1].name if older else None
        copy = have.name if have is not None else latest.name
        how = "" if receive is None else (
            f"received {receive} incrementally (parent {parent})" if parent
            else f"received {receive} in full")
        if present is None:
            steps.append(RestoreStep(leaf, receive, parent, place=copy,
                                     message=_join(how, f"restored from {latest.name}")))
        elif present.origin == copy and not present.changed:
            steps.append(RestoreStep(leaf, receive, parent,
                                     message=_join(how, f"up to date with {latest.name}")))
        elif present.busy is not None and (overwrite or not present.changed):
            steps.append(RestoreStep(
                leaf, receive, parent, error=True,
                message=_join(how, f"NOT replaced by {latest.name}: {present.busy}; stop what "
                              "uses it and unmount it, then restore again")))
        elif not present.changed:
            steps.append(RestoreStep(leaf, receive, parent, place=copy, replace=True,
                                     message=_join(how, f"updated to {latest.name} (it had no "
                                                   "local changes)")))
        elif overwrite:
            steps.append(RestoreStep(leaf, receive, parent, place=copy, replace=True,
                                     message=_join(how, f"local changes overwritten by "
                                                   f"{latest.name}, as asked")))
        else:
            since = (f"since it was restored from {present.origin}" if present.origin
                     else "and does not descend from a restored backup")
            kept = "" if present.origin == copy else (
                f"; {latest.name} is received and kept in the snapshot directory")
            steps.append(RestoreStep(
                leaf, receive, parent, error=True,
                message=_join(how, f"NOT replaced: it has local changes {since}{kept}; "
                              "pass --overwrite to replace it")))
    return tuple(steps)


def _join(first: str, second: str) -> str:
    return f"{first}; {second}" if first else second
