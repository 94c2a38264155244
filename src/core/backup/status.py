"""Backup status and the coverage guarantee (``layout backup status`` / ``verify``).

Theory of operation.  The shell lists what each target holds and what each
snapshot directory holds (:class:`~layout_trees.core.backup.btrbk.ListedSubvolume`,
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
from typing import Any

from ..check import show
from ..record import record
from ..wording import count
from .btrbk import BackupName, ListedSubvolume, backup_index, format_age, format_time
from .manifest import Coverage, Leaf, Manifest

Listing = tuple[ListedSubvolume, ...] | str
"""What the shell saw in a directory: its subvolumes, or why it could not look."""


@record
class TargetState:
    """A leaf's backups on one target: the latest complete one and how many there are."""

    target: str
    latest: BackupName | None
    count: int = 0
    error: str | None = None


@record
class LeafStatus:
    """A leaf's latest own snapshot and its state on every target of its policy."""

    leaf: Leaf
    snapshot: BackupName | None
    targets: tuple[TargetState, ...] = ()


@record
class VerifyFinding:
    """One reason the guarantee does not hold."""

    tree: str
    path: tuple[str, ...]
    """Empty for a whole tree."""
    message: str
    target: str | None = None
    """The target a finding is about (its message names it too); None for the leaf itself."""

    @property
    def where(self) -> str:
        return show(self.tree + (":" + "/".join(self.path) if self.path else ""))


ALL_TREES = "(all trees)"


Index = dict[str, tuple[ListedSubvolume, ...]] | str


def _index(listing: Listing, received: bool) -> Index:
    return listing if isinstance(listing, str) else backup_index(listing, received=received)


def _latest(index: Index, name: str) -> tuple[BackupName | None, int, str | None]:
    if isinstance(index, str):
        return None, 0, index
    found = index.get(name, ())
    if not found:
        return None, 0, None
    return found[-1].parsed, len(found), None


def backup_status(manifest: Manifest, targets: Mapping[str, Listing],
                  snapshots: Mapping[str, Listing]) -> tuple[LeafStatus, ...]:
    """Per leaf (by tree and path): its latest snapshot and latest backup per target.

    ``snapshots`` maps a tree name to the listing of its policy's snapshot directory.
    Each listing is indexed once, so thousands of leaves against tens of thousands of
    backups take a moment, not a quadratic while.
    """
    target_index = {t: _index(listing, True) for t, listing in targets.items()}
    snapshot_index = {t: _index(listing, False) for t, listing in snapshots.items()}
    rows = []
    for leaf in sorted(manifest.leaves, key=lambda x: x.key):
        snap = None
        states: list[TargetState] = []
        if leaf.policy is not None:
            snap, _, _ = _latest(snapshot_index.get(leaf.tree, "not listed"), leaf.snapshot_name)
            for target in leaf.policy.targets:
                latest, count, error = _latest(target_index.get(target, "not listed"),
                                               leaf.snapshot_name)
                states.append(TargetState(target, latest, count, error))
        rows.append(LeafStatus(leaf, snap, tuple(states)))
    return tuple(rows)


def verify(manifest: Manifest, status: tuple[LeafStatus, ...], now: int,
           max_age: int) -> tuple[VerifyFinding, ...]:
    """Every way the guarantee fails at ``now`` for ``max_age`` seconds; empty when it holds."""
    findings: list[VerifyFinding] = []

    def fail(tree: str, path: tuple[str, ...], message: str, target: str | None = None) -> None:
        findings.append(VerifyFinding(tree, path, message, target))

    for tree in manifest.trees:
        if tree.error is not None:
            fail(tree.name, (), f"the tree could not be scanned: {tree.error}")
        elif tree.policy is None:
            fail(tree.name, (), "the tree has no backup policy, so none of its "
                 f"{len(manifest.leaves_of(tree.name))} leaves is backed up; add a "
                 f"[tree.{tree.name}.backup] table")
    if not manifest.covered():
        fail(ALL_TREES, (), "no leaf is covered by a backup policy: nothing is protected")
    for row in status:
        leaf = row.leaf
        if leaf.coverage in (Coverage.EXCLUDED, Coverage.NO_POLICY):
            continue  # deliberate, or one finding for its whole tree above
        if leaf.coverage is not Coverage.COVERED:
            fail(leaf.tree, leaf.path, f"not backed up: {leaf.reason}")
            continue
        if leaf.nested:
            fail(
                leaf.tree, leaf.path,
                f"nested subvolume(s) {', '.join(leaf.nested)} are not in its backups "
                "(btrfs send stops at subvolume boundaries); make them leaves of their own")
        for state in row.targets:
            if state.error is not None:
                fail(leaf.tree, leaf.path, f"{state.target}: cannot be checked: {state.error}",
                     state.target)
            elif state.latest is None:
                fail(leaf.tree, leaf.path, f"{state.target}: no backup yet", state.target)
            elif now - state.latest.time > max_age:
                fail(
                    leaf.tree, leaf.path,
                    f"{state.target}: latest backup is {format_age(now - state.latest.time)} "
                    f"old, more than {format_age(max_age)}", state.target)
    return tuple(sorted(findings, key=lambda f: (f.tree, f.path, f.message)))


def _age(name: BackupName | None, now: int) -> str:
    return "never" if name is None else f"{format_age(now - name.time)} ago"


def status_to_text(status: tuple[LeafStatus, ...], now: int,
                   manifest: Manifest | None = None) -> str:
    """Per leaf, its snapshot and backups; first, every tree that is not protected at all."""
    lines: list[str] = []
    for tree in manifest.trees if manifest is not None else ():
        if tree.error is not None:
            lines.append(f"tree {show(tree.name)}: NOT SCANNED ({tree.error}); its leaves are "
                         "unknown")
        elif tree.policy is None:
            lines.append(f"tree {show(tree.name)}: no backup policy; none of its leaves is "
                         "backed up")
    if manifest is not None and not manifest.leaves:
        lines.append("no leaves found in the configured trees")
    for row in status:
        leaf = row.leaf
        lines.append(f"{show(leaf.tree)}:{show(leaf.relpath)}  ({leaf.coverage.value})")
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


def manifest_to_text(manifest: Manifest) -> str:
    """What is covered, by which policy, to which targets; what is not and why."""
    lines: list[str] = []
    for tree in manifest.trees:
        head = f"tree {show(tree.name)} ({show(tree.path)})"
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
            where = f" -> {show(leaf.mount_point)}" if leaf.mount_point else ""
            detail = "" if leaf.coverage is Coverage.COVERED else f"  [{leaf.coverage.value}: " \
                f"{leaf.reason}]"
            lines.append(f"  {mark} {show(leaf.relpath)}{where}  as {leaf.snapshot_name}{detail}")
            if leaf.nested and leaf.coverage is Coverage.COVERED:
                lines.append(f"      not included: nested subvolume(s) {', '.join(leaf.nested)}")
    covered = len(manifest.covered())
    lines.append(f"{covered} of {count(len(manifest.leaves), 'leaf')} covered")
    if not covered:
        lines.append("nothing is protected: no leaf is covered by a backup policy")
    return "\n".join(lines) + "\n"


@record
class RunVerdict:
    """What, besides btrbk and the targets, makes ``layout backup run`` fail."""

    unscanned: tuple[tuple[str, str], ...]
    """(tree, why) of the trees that could not be scanned: exit 3."""
    unprotected: tuple[str, ...]
    """Trees without a policy (only for a run of every tree): exit 1."""
    nothing_covered: bool
    """No leaf at all is covered (only for a run of every tree): exit 1."""


def run_verdict(manifest: Manifest, names: frozenset[str], whole: bool) -> RunVerdict:
    """The tree-level failures of a run of the trees ``names``; ``whole``: no ``--tree`` or
    ``--schedule`` selection, so the guarantee as a whole is at stake."""
    return RunVerdict(
        tuple((t.name, t.error) for t in manifest.trees
              if t.error is not None and (whole or t.name in names)),
        tuple(t.name for t in manifest.trees if whole and t.policy is None and t.error is None),
        whole and not manifest.covered(),
    )


def fresh_per_target(status: tuple[LeafStatus, ...],
                     trees: frozenset[str]) -> dict[str, tuple[int, int]]:
    """Per target: how many covered leaves of ``trees`` it holds a backup of their latest
    snapshot for, out of how many it should (each target counted on its own)."""
    counts: dict[str, list[int]] = {}
    for row in status:
        if row.leaf.tree not in trees or row.leaf.policy is None:
            continue
        for state in row.targets:
            count = counts.setdefault(state.target, [0, 0])
            count[1] += 1
            count[0] += is_fresh(row, state)
    return {target: (done, total) for target, (done, total) in sorted(counts.items())}


def is_fresh(row: LeafStatus, state: TargetState) -> bool:
    """The target holds a complete backup of the leaf's latest snapshot."""
    return (state.latest is not None and row.snapshot is not None
            and state.latest.time >= row.snapshot.time)


def run_summary(manifest: Manifest, status: tuple[LeafStatus, ...], trees: frozenset[str],
                now: int, run_ok: bool, unusable: Mapping[str, str]) -> tuple[str, ...]:
    """The report of a run of ``trees`` at ``now``: a line per covered leaf (``ok`` when every
    target of its policy holds its latest snapshot, else ``kept`` when the run reported no
    failure and ``FAILED`` when it did; with each target's latest backup), a line per leaf
    left out, a line per target (with why for the ``unusable`` ones) and a total."""
    lines: list[str] = []
    done = 0
    for row in status:
        if row.leaf.tree not in trees or row.leaf.policy is None:
            continue
        parts = []
        for state in row.targets:
            age = "none" if state.latest is None else format_age(now - state.latest.time) + " old"
            when = "this run" if is_fresh(row, state) else "latest " + age
            parts.append(f"{state.target} ({when})")
        ok = all(is_fresh(row, state) for state in row.targets)
        done += ok
        mark = "ok" if ok else ("kept" if run_ok else "FAILED")
        lines.append(f"{mark:6} {show(row.leaf.tree)}:{show(row.leaf.relpath)} -> "
                     f"{', '.join(parts)}")
    skipped = [leaf for leaf in manifest.leaves if leaf.tree in trees and leaf.policy is None]
    lines += [f"{'skip':6} {show(leaf.tree)}:{show(leaf.relpath)} ({leaf.reason})"
              for leaf in skipped]
    for url, (fresh, total) in fresh_per_target(status, trees).items():
        why = f": not used: {unusable[url]}" if url in unusable else ""
        lines.append(f"target {url}: {fresh} of {count(total, 'leaf')} backed up{why}")
    lines.append(f"{count(done, 'leaf')} backed up to every target at {format_time(now)}, "
                 f"{len(skipped)} not covered")
    return tuple(lines)
