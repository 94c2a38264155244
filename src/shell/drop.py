"""``layout drop PATH``: delete a leaf, only when that loses nothing and hurts no one.

The decisions are :func:`layout_trees.core.backup.drop.drop_check` and
:func:`~layout_trees.core.backup.drop.in_use`; this module gathers their facts and
deletes.  It holds the trees lock throughout (no persist, reload or restore
runs meanwhile), reaches the leaf through a directory descriptor (a symlink
at its place is refused, never followed), and deletes the subvolume it
checked by its ID (``BTRFS_IOC_SNAP_DESTROY_V2`` by subvolume ID), not whatever
carries the name by then.  Interrupted at any point before the delete,
nothing is deleted; the only thing it makes, a read-only snapshot to compare
against, lives in the snapshot directory under a ``.layout-trees-`` name, is
removed by the undo and, after a SIGKILL, by the next run.

Also the comparison that ``restore`` uses: :func:`leaf_changed`.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

from ..core.backup.drop import drop_check, dump_changes, in_use, latest_own_snapshot
from ..core.backup.manifest import Leaf
from ..core.errors import EnvironmentProblem, UserError
from ..core.mountinfo import MountEntry, containing_mount
from ..core.reserved import RESERVED_PREFIX
from . import btrfs
from .backup import Live, find_leaf, list_dirs, scanned_trees, snapshot_listings, top_levels
from .beneath import NotBeneath, fd_path, lstat_at, open_below, open_dir, opened
from .interrupt import Undo
from .mounttable import mount_tables

CHECK_PREFIX = RESERVED_PREFIX + "-check."


def _mtime_at(root_fd: int, rel: str) -> int | None:
    parts = [p for p in rel.split("/") if p]
    if not parts:
        return os.fstat(root_fd).st_mtime_ns
    try:
        with opened(open_below(root_fd, parts[:-1])) as fd:
            st = lstat_at(fd, parts[-1])
    except (FileNotFoundError, NotBeneath):
        return None
    return None if st is None else st.st_mtime_ns


def remove_stale_checks(scratch: str) -> None:
    """Delete comparison snapshots a killed run left (only lock holders make them)."""
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        for name in os.listdir(scratch):
            if name.startswith(CHECK_PREFIX):
                btrfs.delete_subvolume(os.path.join(scratch, name))


def leaf_changed(snapshot: str, leaf: str, scratch: str, undo: Undo) -> bool:
    """Whether ``leaf`` differs from the read-only ``snapshot`` of it: content, names,
    owners, modes, extended attributes, and modification times (to the nanosecond).

    A read-only snapshot of the leaf is made in ``scratch`` for the comparison and deleted
    again (``undo`` deletes it when interrupted)."""
    tmp = os.path.join(scratch, f"{CHECK_PREFIX}{os.getpid()}")

    def delete() -> None:
        if os.path.lexists(tmp):
            btrfs.delete_subvolume(tmp)

    undo.add(f"delete the comparison snapshot {tmp}", delete)
    btrfs.create_snapshot(leaf, tmp, read_only=True)
    try:
        changes = dump_changes(btrfs.changes_dump(snapshot, tmp))
        if changes.other:
            return True
        if not changes.times:
            return False
        with opened(open_dir(snapshot)) as old, opened(open_dir(tmp)) as new:
            for rel in changes.times:
                before, after = _mtime_at(old, rel), _mtime_at(new, rel)
                if before is None or after is None or before != after:
                    return True  # fail closed: what cannot be compared counts as changed
            return False
    finally:
        delete()
        undo.steps.pop()


def _command(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as handle:
            return handle.read().strip()
    except OSError:
        return "?"


def holders(devs: set[int]) -> dict[int, list[tuple[int, str]]]:
    """Per device in ``devs``, the processes (but this one) with an open file, a working or
    root directory, or a mapping on it (a btrfs subvolume has a device number of its own)."""
    found: dict[int, list[tuple[int, str]]] = {}
    me = str(os.getpid())
    hexdevs = {f"{os.major(d):02x}:{os.minor(d):02x}": d for d in devs}
    for pid in (e for e in os.listdir("/proc") if e.isdigit() and e != me):
        links = [f"/proc/{pid}/cwd", f"/proc/{pid}/root"]
        with contextlib.suppress(OSError):
            links += [f"/proc/{pid}/fd/{n}" for n in os.listdir(f"/proc/{pid}/fd")]
        hits: set[int] = set()
        for link in links:
            with contextlib.suppress(OSError):
                dev = os.stat(link).st_dev
                if dev in devs:
                    hits.add(dev)
        with contextlib.suppress(OSError), open(f"/proc/{pid}/maps", encoding="ascii",
                                                errors="replace") as handle:
            for line in handle:
                fields = line.split()
                if len(fields) > 3 and fields[3] in hexdevs:
                    hits.add(hexdevs[fields[3]])
        for dev in hits:
            found.setdefault(dev, []).append((int(pid), _command(pid)))
    return found


def busy(path: str, leaf_fd: int, subvol_path: str,
         tables: dict[str, tuple[MountEntry, ...]] | None = None,
         users: dict[int, list[tuple[int, str]]] | None = None) -> tuple[str, ...]:
    """Why the leaf open as ``leaf_fd`` (at ``path``) is in use; empty when it is not."""
    tables = mount_tables() if tables is None else tables
    mount = containing_mount(tables.get("", ()), os.path.realpath(path))
    if mount is None or mount.fstype != "btrfs":
        raise EnvironmentProblem(f"{path}: not on a mounted btrfs filesystem")
    dev = os.fstat(leaf_fd).st_dev
    users = holders({dev}) if users is None else users
    sub_id = btrfs.subvolume_id_of(leaf_fd)
    return in_use(tables, mount.source, sub_id, subvol_path, tuple(users.get(dev, ())))


@dataclass(frozen=True)
class Dropped:
    """A leaf that was dropped, and the targets holding its latest state."""

    path: str
    targets: tuple[str, ...]


def _open_leaf(path: str) -> tuple[int, str, int]:
    """(parent fd, name, leaf fd) of the leaf at ``path``; a symlink there is refused."""
    parent, name = os.path.split(os.path.abspath(path))
    st = None
    with contextlib.suppress(OSError):
        st = os.lstat(path)
    if st is None:
        raise UserError(f"{path}: no such leaf", "give the path of a leaf, e.g. "
                        "/path/to/tree/a/@cache")
    if os.path.islink(path):
        raise UserError(f"{path}: is a symlink (to {os.path.realpath(path)}); not followed",
                        "give the leaf's own path")
    parent_fd = open_dir(parent)
    try:
        leaf_fd = open_below(parent_fd, [name], parent)
    except BaseException:
        os.close(parent_fd)
        raise
    return parent_fd, name, leaf_fd


def drop(live: Live, path: str, dry_run: bool = False) -> Dropped:
    """Delete the leaf at ``path``; :class:`Refused` (with every reason) when it may not be.
    ``dry_run``: every check, and no deletion."""
    try:
        return _drop(live, path, dry_run)
    except OSError as exc:
        where = exc.filename if isinstance(exc.filename, str) else path
        raise EnvironmentProblem(f"{where}: {exc.strerror or exc}",
                                 "nothing was deleted; fix the cause and run it again") from None


def _drop(live: Live, path: str, dry_run: bool) -> Dropped:
    parent_fd, name, leaf_fd = _open_leaf(path)
    with opened(parent_fd), opened(leaf_fd):
        if os.fstat(leaf_fd).st_ino != btrfs.SUBVOLUME_INODE:
            raise UserError(f"{path}: not a subvolume", "a leaf is a writable '@…' subvolume")
        tree, parts = find_leaf(live, os.path.join(os.path.realpath(os.path.dirname(
            os.path.abspath(path))), name))
        leaf = next(x for x in live.manifest.leaves_of(tree) if x.path == parts)
        facts = btrfs.subvolume_facts(fd_path(leaf_fd), leaf.subvol, full=True)
        if leaf.uuid is not None and facts.get("uuid") != leaf.uuid:
            raise EnvironmentProblem(f"{path}: changed while it was being checked",
                                     "run the command again")
        nested = facts.get("nested") or ()
        if nested:
            raise UserError(f"{path}: holds nested subvolume(s) {', '.join(nested)}, which are "
                            "in no backup (btrfs send stops at them)",
                            "delete or move them first, or make them leaves of their own")
        reasons = list(_busy(path, leaf_fd, leaf, facts))
        reasons += _backup_reasons(live, tree, leaf, leaf_fd, dry_run)
        if reasons:
            raise Refused(path, tuple(reasons))
        if dry_run:
            return Dropped(path, leaf.policy.targets if leaf.policy else ())
        try:
            btrfs.delete_subvolume_by_id(parent_fd, int(facts["id"]))
        except OSError as exc:
            raise EnvironmentProblem(f"{path}: cannot delete: {exc.strerror}",
                                     "nothing was deleted") from None
    targets = leaf.policy.targets if leaf.policy else ()
    return Dropped(path, targets)


class Refused(EnvironmentProblem):
    """The leaf may not be dropped yet; ``reasons`` says why."""

    def __init__(self, path: str, reasons: tuple[str, ...]) -> None:
        super().__init__(f"refusing to drop {path}: " + "; ".join(reasons))
        self.path = path
        self.reasons = reasons


def _busy(path: str, leaf_fd: int, leaf: Leaf, facts: dict[str, object]) -> tuple[str, ...]:
    reasons = busy(path, leaf_fd, str(facts.get("path") or leaf.subvol))
    if reasons:
        return (*reasons, "stop what uses it and unmount it (e.g. 'systemctl stop' its "
                "mount unit, or 'umount'), then drop again")
    return ()


def _backup_reasons(live: Live, tree: str, leaf: Leaf, leaf_fd: int,
                    dry_run: bool = False) -> tuple[str, ...]:
    if leaf.policy is None:
        return drop_check(leaf, None, (), {}, None)
    targets = list_dirs(leaf.policy.targets)
    undo = Undo()
    try:
        with top_levels(scanned_trees(live, {tree})) as tops:
            snaps_dir = os.path.join(tops[tree], leaf.policy.snapshot_dir)
            if not dry_run:  # what an interrupted check left behind
                remove_stale_checks(snaps_dir)
            listing = snapshot_listings(live, tops).get(tree, ())
            snaps = () if isinstance(listing, str) else listing
            latest = latest_own_snapshot(leaf.snapshot_name, leaf.uuid, snaps)
            changed = None if latest is None else leaf_changed(
                os.path.join(snaps_dir, latest.name), fd_path(leaf_fd), snaps_dir, undo)
    except BaseException:
        undo.run(lambda _line: None)
        raise
    return drop_check(leaf, leaf.uuid, snaps, targets, changed)
