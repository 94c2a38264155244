"""``layout restore``: rebuild a layout tree from a backup target alone.

Reads the manifest stored on the target, lists its backups, rebuilds the
tree's structure directories (owners and modes from the manifest), and for
every leaf receives the latest complete backup into the policy's snapshot
directory at the destination filesystem's top level (incrementally against
a copy received earlier, when there is one) and makes a writable snapshot of
it at the leaf's place.  Decisions come from
:func:`layout_trees.core.backup_restore.plan_restore`; this module gathers
the facts and carries the steps out.

A receive that fails midway leaves a writable subvolume without a received
UUID; it is deleted before the next attempt and never used as a copy.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass

from ..core.backup import Manifest, Tree, manifest_from_json
from ..core.backup_restore import LocalLeaf, RestoreStep, plan_restore
from ..core.errors import EnvironmentProblem, UserError
from . import btrfs
from .backup import changed_since, top_levels
from .backup_target import Target
from .run import run, run_pipeline

DEFAULT_SNAPSHOT_DIR = ".snapshots"


@dataclass
class RestoreReport:
    steps: list[tuple[RestoreStep, str | None]]
    """Each step with the error that stopped it, if any."""

    @property
    def failed(self) -> bool:
        return any(step.error or err for step, err in self.steps)


def _pick_tree(manifest: Manifest, name: str | None) -> Tree:
    if name is None:
        if len(manifest.trees) == 1:
            return manifest.trees[0]
        names = ", ".join(t.name for t in manifest.trees) or "none"
        raise UserError("the target holds several layout trees; choose one with --tree",
                        f"its trees: {names}")
    tree = manifest.tree(name)
    if tree is None:
        names = ", ".join(t.name for t in manifest.trees) or "none"
        raise UserError(f"the target's manifest has no tree {name!r}", f"its trees: {names}")
    return tree


def _make_dir(path: str, uid: int, gid: int, mode: int, subvolume: bool) -> None:
    if not os.path.lexists(path):
        if subvolume:
            btrfs.create_subvolume(path)
        else:
            os.mkdir(path, 0o700)
    os.chown(path, uid, gid, follow_symlinks=False)
    os.chmod(path, mode)


def restore(url: str, into: str, tree_name: str | None = None,
            subvolume: str | None = None, overwrite: bool = False,
            say: Callable[[str], None] = print) -> RestoreReport:
    target = Target(url)
    manifest = manifest_from_json(target.read_manifest())
    tree = _pick_tree(manifest, tree_name)
    wanted = None if subvolume is None else tuple(p for p in subvolume.split("/") if p)
    into = os.path.abspath(into)
    snapshot_dir = tree.policy.snapshot_dir if tree.policy else DEFAULT_SNAPSHOT_DIR
    parent = os.path.dirname(into)
    if not os.path.isdir(parent):
        raise UserError(f"{parent}: no such directory", "create it on the new btrfs filesystem")
    listing = target.listing()
    with top_levels({"into": parent}) as tops:
        snaps = os.path.join(tops["into"], snapshot_dir)
        os.makedirs(snaps, exist_ok=True)
        _make_dir(into, tree.uid, tree.gid, tree.mode, False)
        for directory in sorted(tree.directories, key=lambda d: d.path):
            _make_dir(os.path.join(into, *directory.path), directory.uid, directory.gid,
                      0o700, directory.subvolume)
        local = Target(snaps).listing()
        by_uuid = {s.uuid: s.name for s in local if s.read_only and s.received_uuid}
        existing: dict[tuple[str, ...], LocalLeaf] = {}
        for leaf in manifest.leaves_of(tree.name):
            path = os.path.join(into, *leaf.path)
            if not os.path.lexists(path):
                continue
            if not os.path.isdir(path) or not btrfs.is_subvolume(path):
                existing[leaf.path] = LocalLeaf(None, True)
                continue
            facts = btrfs.subvolume_facts(path, path, full=True)
            origin = by_uuid.get(facts.get("parent_uuid"))
            changed = True if origin is None else changed_since(
                os.path.join(snaps, origin), path, snaps)
            existing[leaf.path] = LocalLeaf(origin, changed)
        steps = plan_restore(manifest, tree.name, listing, local, existing, wanted, overwrite)
        report = RestoreReport([])
        incomplete = {s.name for s in local if not (s.read_only and s.received_uuid)}
        for step in steps:
            error = None
            try:
                _execute(step, target, into, snaps, incomplete)
            except (EnvironmentProblem, OSError) as exc:
                error = getattr(exc, "message", None) or str(exc)
            report.steps.append((step, error))
            mark = "FAILED" if (step.error or error) else "ok"
            say(f"{mark:6} {tree.name}:{step.leaf.relpath}: {step.message}"
                + (f" -- {error}" if error else ""))
        for directory in sorted(tree.directories, key=lambda d: d.path):
            path = os.path.join(into, *directory.path)
            if os.path.isdir(path):
                os.chmod(path, directory.mode)
    return report


def _execute(step: RestoreStep, target: Target, into: str, snaps: str,
             incomplete: set[str]) -> None:
    leaf = step.leaf
    path = os.path.join(into, *leaf.path)
    if step.receive is not None:
        stale = os.path.join(snaps, step.receive)
        if step.receive in incomplete and os.path.lexists(stale):
            run(["btrfs", "subvolume", "delete", stale])
        try:
            run_pipeline(target.send_argv(step.receive, step.parent),
                         ["btrfs", "receive", snaps],
                         hint="is there enough space on the destination?")
        except EnvironmentProblem:
            if os.path.lexists(stale):
                with contextlib.suppress(EnvironmentProblem):
                    run(["btrfs", "subvolume", "delete", stale])
            raise
    if step.replace and os.path.lexists(path):
        btrfs.delete_subvolume(path)
    if step.place is not None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        run(["btrfs", "subvolume", "snapshot", os.path.join(snaps, step.place), path])
    if step.create_empty:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        btrfs.create_subvolume(path)
        os.chown(path, leaf.uid, leaf.gid)
        os.chmod(path, leaf.mode)
        btrfs.set_backup_attr(path, "skip")
