"""Dropping a leaf, and telling whether a leaf changed: the decisions, purely.

Theory of operation.  ``layout drop`` deletes a leaf only when deleting it
loses nothing and hurts no one:

- its latest state is on every target of its policy (:func:`drop_check`:
  its latest snapshot is unchanged since and a complete copy of that
  snapshot, by received UUID, is on each target);
- nothing uses it (:func:`in_use`): no mount of it or of anything inside it
  in any mount namespace (a process writing into a deleted subvolume writes
  nowhere), and no process holding a file, directory or mapping in it;
- it holds no nested subvolume (``btrfs send`` stops at them, so they are in
  no backup, and the delete would fail halfway).

Whether a leaf differs from a read-only snapshot of it comes from
``btrfs send --no-data -p SNAPSHOT COPY`` read back with
``btrfs receive --dump`` (:func:`dump_changes`).  Every operation but the
stream's header is a change, except ``utimes``: btrfs sends it for an inode
whose times or ctime changed, and a mere read updates the access time.  So
the paths with ``utimes`` are returned, and the shell compares their
modification times (to the nanosecond) in the two read-only subvolumes: a
``touch -m`` is a change (timestamps are data), an access is not.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..mountinfo import MountEntry
from ..paths import is_within
from ..record import record
from .btrbk import ListedSubvolume, backups_of, data_id
from .manifest import Coverage, Leaf

Listing = tuple[ListedSubvolume, ...] | str


def latest_own_snapshot(name: str, leaf_uuid: str | None,
                        snapshots: tuple[ListedSubvolume, ...]) -> ListedSubvolume | None:
    """The newest read-only snapshot named after ``name`` that was taken of the leaf whose
    UUID is ``leaf_uuid`` (its parent UUID); None when there is none (or no UUID is known).

    A snapshot of another subvolume that carries the same name (a leaf deleted and made
    again, a copy moved in) is not the leaf's own: its content says nothing about the leaf.
    """
    if leaf_uuid is None:
        return None
    mine = [s for s in backups_of(snapshots, name, received=False) if s.parent_uuid == leaf_uuid]
    return mine[-1] if mine else None


def drop_check(leaf: Leaf, leaf_uuid: str | None, snapshots: tuple[ListedSubvolume, ...],
               targets: Mapping[str, Listing], changed: bool | None) -> tuple[str, ...]:
    """Why ``leaf`` may not be dropped yet; empty when its latest state is on every target.

    ``changed`` says whether the leaf differs from its latest snapshot (None: no snapshot).
    """
    if leaf.coverage is not Coverage.COVERED or leaf.policy is None:
        return (f"it is not backed up ({leaf.reason})",)
    latest = latest_own_snapshot(leaf.snapshot_name, leaf_uuid, snapshots)
    if latest is None:
        return ("it has no snapshot in the snapshot directory; run 'layout backup run' first",)
    reasons = []
    if changed is not False:
        reasons.append(f"it changed since its latest snapshot {latest.name}; "
                       "run 'layout backup run' first")
    for target in leaf.policy.targets:
        listing = targets.get(target, "not listed")
        if isinstance(listing, str):
            reasons.append(f"{target}: cannot be checked: {listing}")
        elif not any(b.received_uuid == data_id(latest)
                     for b in backups_of(listing, leaf.snapshot_name)):
            reasons.append(f"{target}: holds no complete copy of {latest.name} "
                           "(no backup with its received UUID)")
    return tuple(reasons)


def _shows(entry: MountEntry, source: str, subvol_id: int, subvol_path: str) -> bool:
    if entry.fstype != "btrfs" or entry.source != source:
        return False
    if entry.subvol_id == subvol_id:
        return True
    return is_within(entry.root.rstrip("/") or "/", subvol_path)


def in_use(mounts: Mapping[str, tuple[MountEntry, ...]], source: str, subvol_id: int,
           subvol_path: str, holders: tuple[tuple[int, str], ...]) -> tuple[str, ...]:
    """Why a leaf is in use: mounts that show it (or a directory inside it) in any mount
    namespace, and processes (pid, command) that hold something in it.

    ``mounts`` maps a namespace's name to its mount table; ``source`` is the device the
    leaf's filesystem is mounted from."""
    reasons: list[str] = []
    for namespace, entries in sorted(mounts.items()):
        for entry in entries:
            if _shows(entry, source, subvol_id, subvol_path):
                reasons.append(f"it is mounted at {entry.mountpoint} (mount ID "
                               f"{entry.mount_id}{namespace})")
    for pid, command in sorted(holders)[:10]:
        reasons.append(f"process {pid} ({command}) has files in it open")
    if len(holders) > 10:
        reasons.append(f"and {len(holders) - 10} more processes")
    return tuple(reasons)


_DUMP_ESCAPES = {"a": 7, "b": 8, "e": 27, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11,
                 " ": 32, "\\": 92}


def unescape_dump_path(text: str) -> str:
    """Undo ``btrfs receive --dump``'s escaping of a path (``\\n``, ``\\ ``, ``\\\\``,
    ``\\ooo`` for other unprintable bytes); bytes that are not UTF-8 come back as
    surrogate escapes, as ``os`` functions take them."""
    out = bytearray()
    raw = text.encode("utf-8", "surrogateescape")
    i = 0
    while i < len(raw):
        byte = raw[i]
        if byte == 0x5C and i + 1 < len(raw):
            nxt = chr(raw[i + 1])
            digits = raw[i + 1:i + 4]
            if len(digits) == 3 and all(0x30 <= b <= 0x37 for b in digits):
                out.append(int(digits, 8) & 0xFF)
                i += 4
                continue
            if nxt in _DUMP_ESCAPES:
                out.append(_DUMP_ESCAPES[nxt])
                i += 2
                continue
        out.append(byte)
        i += 1
    return out.decode("utf-8", "surrogateescape")


@record
class DumpChanges:
    """What a ``--no-data`` send stream between two snapshots says changed."""

    other: bool
    """Anything but times: content, names, links, owners, modes, extended attributes."""
    times: tuple[str, ...] = ()
    """Paths (relative to the subvolume's root, ``""`` for the root) whose times were sent;
    a change only if their modification time differs."""


_HEADER_OPS = frozenset({"snapshot", "subvol"})


def _first_field(text: str) -> str:
    """The first field of a dump line's rest: up to the first space not escaped."""
    i = 0
    while i < len(text) and text[i] != " ":
        i += 2 if text[i] == "\\" else 1
    return text[:i]


def dump_changes(dump: str) -> DumpChanges:
    """Read ``btrfs receive --dump`` output of an incremental ``--no-data`` stream."""
    times: list[str] = []
    for line in dump.splitlines():
        op, _, rest = line.partition(" ")
        if not op or op in _HEADER_OPS:
            continue
        if op != "utimes":
            return DumpChanges(True)
        path = unescape_dump_path(_first_field(rest.lstrip(" ")))
        # "./<name of the received subvolume>/rest/of/path"
        parts = path.split("/", 2)
        if len(parts) < 2 or parts[0] != ".":
            return DumpChanges(True)
        times.append(parts[2] if len(parts) == 3 else "")
    return DumpChanges(False, tuple(sorted(set(times))))
