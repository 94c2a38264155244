"""Backup status and the coverage guarantee (``layout backup status`` / ``verify``).

Theory of operation.  The shell lists what each target holds and what each
snapshot directory holds (:class:`~layout_trees.core.btrbk.ListedSubvolume`,
or the error it got) and passes the clock in as ``now`` (seconds since the
epoch).  :func:`backup_status` says, per leaf, which is the latest source
snapshot and the latest *complete* backup on each target of its policy.
:func:`verify` turns that into findings: every leaf that has no complete
backup younger than ``max_age`` on *every* target of its policy, every leaf
that is not covered for a reason other than a deliberate exclusion, every
tree that could not be scanned.  No findings means the guarantee holds.

Ages come from the timestamp in a backup's name, i.e. when its source
snapshot was taken: a backup received late is as old as the data it holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .backup import Coverage, Leaf, Manifest
from .btrbk import BackupName, ListedSubvolume, backups_of, format_age

Listing = tuple[ListedSubvolume, ...] | str
"""What the shell saw in a directory: its subvolumes, or why it could not look."""


@dataclass(frozen=True, slots=True)
class TargetState:
    target: str
    latest: BackupName | None
    count: int = 0
    error: str | None = None


@dataclass(frozen=True, slots=True)
class LeafStatus:
    leaf: Leaf
    snapshot: BackupName | None
    targets: tuple[TargetState, ...] = ()


@dataclass(frozen=True, slots=True)
class Finding:
    """One reason the guarantee does not hold."""

    tree: str
    path: tuple[str, ...]
    """Empty for a whole tree."""
    message: str

    @property
    def where(self) -> str:
        return self.tree + (":" + "/".join(self.path) if self.path else "")


def _latest(listing: Listing, name: str,
            received: bool = True) -> tuple[BackupName | None, int, str | None]:
    if isinstance(listing, str):
        return None, 0, listing
    found = backups_of(listing, name, received=received)
    if not found:
        return None, 0, None
    return found[-1].parsed, len(found), None


def backup_status(manifest: Manifest, targets: Mapping[str, Listing],
                  snapshots: Mapping[str, Listing]) -> tuple[LeafStatus, ...]:
    """Per leaf (by tree and path): its latest snapshot and latest backup per target.

    ``snapshots`` maps a tree name to the listing of its policy's snapshot directory.
    """
    rows = []
    for leaf in sorted(manifest.leaves, key=lambda x: x.key):
        snap = None
        states: list[TargetState] = []
        if leaf.policy is not None:
            snap, _, _ = _latest(snapshots.get(leaf.tree, "not listed"), leaf.snapshot_name,
                                 received=False)
            for target in leaf.policy.targets:
                latest, count, error = _latest(targets.get(target, "not listed"),
                                               leaf.snapshot_name)
                states.append(TargetState(target, latest, count, error))
        rows.append(LeafStatus(leaf, snap, tuple(states)))
    return tuple(rows)


def verify(manifest: Manifest, status: tuple[LeafStatus, ...], now: int,
           max_age: int) -> tuple[Finding, ...]:
    """Every way the guarantee fails at ``now`` for ``max_age`` seconds; empty when it holds."""
    findings: list[Finding] = []
    for tree in manifest.trees:
        if tree.error is not None:
            findings.append(Finding(tree.name, (), f"the tree could not be scanned: {tree.error}"))
    for row in status:
        leaf = row.leaf
        if leaf.coverage is Coverage.EXCLUDED:
            continue
        if leaf.coverage is not Coverage.COVERED:
            findings.append(Finding(leaf.tree, leaf.path, f"not backed up: {leaf.reason}"))
            continue
        if leaf.nested:
            findings.append(Finding(
                leaf.tree, leaf.path,
                f"nested subvolume(s) {', '.join(leaf.nested)} are not in its backups "
                "(btrfs send stops at subvolume boundaries); make them leaves of their own"))
        for state in row.targets:
            if state.error is not None:
                findings.append(Finding(leaf.tree, leaf.path,
                                        f"{state.target}: cannot be checked: {state.error}"))
            elif state.latest is None:
                findings.append(Finding(leaf.tree, leaf.path, f"{state.target}: no backup yet"))
            elif now - state.latest.time > max_age:
                findings.append(Finding(
                    leaf.tree, leaf.path,
                    f"{state.target}: latest backup is {format_age(now - state.latest.time)} "
                    f"old, more than {format_age(max_age)}"))
    return tuple(sorted(findings, key=lambda f: (f.tree, f.path, f.message)))


def _age(name: BackupName | None, now: int) -> str:
    return "never" if name is None else f"{format_age(now - name.time)} ago"


def status_to_text(status: tuple[LeafStatus, ...], now: int) -> str:
    lines: list[str] = []
    for row in status:
        leaf = row.leaf
        lines.append(f"{leaf.tree}:{leaf.relpath}  ({leaf.coverage.value})")
        if leaf.coverage is not Coverage.COVERED:
            lines.append(f"  {leaf.reason}")
            continue
        lines.append(f"  snapshot  {_age(row.snapshot, now)}")
        for state in row.targets:
            what = f"error: {state.error}" if state.error else (
                f"{_age(state.latest, now)} ({state.count} kept)")
            lines.append(f"  {state.target}  {what}")
    return "\n".join(lines) + ("\n" if lines else "")


def status_to_data(status: tuple[LeafStatus, ...], now: int) -> list[dict[str, Any]]:
    def when(name: BackupName | None) -> dict[str, Any] | None:
        return None if name is None else {"time": name.time, "age": now - name.time}

    return [
        {
            "tree": row.leaf.tree, "path": list(row.leaf.path),
            "coverage": row.leaf.coverage.value, "snapshot": when(row.snapshot),
            "targets": [{"target": s.target, "latest": when(s.latest), "count": s.count,
                         "error": s.error} for s in row.targets],
        }
        for row in status
    ]


def plan_to_text(manifest: Manifest) -> str:
    """What is covered, by which policy, to which targets; what is not and why."""
    lines: list[str] = []
    for tree in manifest.trees:
        head = f"tree {tree.name} ({tree.path})"
        if tree.policy is None:
            lines.append(f"{head}: no backup policy")
        else:
            p = tree.policy
            lines.append(f"{head}: {p.schedule}, snapshots in {p.snapshot_dir} "
                         f"(keep {p.snapshot_preserve}), to {', '.join(p.targets)} "
                         f"(keep {p.target_preserve})")
        if tree.error is not None:
            lines.append(f"  not scanned: {tree.error}")
        for leaf in manifest.leaves_of(tree.name):
            mark = "+" if leaf.coverage is Coverage.COVERED else "-"
            where = f" -> {leaf.mount_point}" if leaf.mount_point else ""
            detail = "" if leaf.coverage is Coverage.COVERED else f"  [{leaf.coverage.value}: " \
                f"{leaf.reason}]"
            lines.append(f"  {mark} {leaf.relpath}{where}  as {leaf.snapshot_name}{detail}")
            if leaf.nested and leaf.coverage is Coverage.COVERED:
                lines.append(f"      not included: nested subvolume(s) {', '.join(leaf.nested)}")
    covered = len(manifest.covered())
    lines.append(f"{covered} of {len(manifest.leaves)} leaves covered")
    return "\n".join(lines) + "\n"
