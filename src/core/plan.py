"""From a snapshot and a configuration to the mount plan.

The plan says, for every configured tree, which leaves are mounted where
(``Mount``), which entries are not and why (``Skip``), and which directories
between a destination and its mount points must get the tree's owners and
modes (``DirectorySpec``).  The unit files are a rendering of the plan
(``layout_trees.core.units``); ``layout plan`` prints it; ``layout check``
turns its skips into findings.

Rules, in order of application:

1. an entry whose name starts with ``@`` and that is a writable subvolume is a
   leaf; ``TREE/a/b/@c`` mounts at ``DEST/a/b/c`` and ``TREE/a/@`` at ``DEST/a``;
2. read-only subvolumes, ``@`` entries that are not subvolumes, symlinks,
   mount points and unreadable entries are skipped with a reason;
3. a leaf whose path has a component that cannot be written safely into a
   unit file is skipped (comma, control character, not UTF-8, ...);
4. leaves that map to the same mount point are all skipped (a clash is never
   resolved silently), as is a leaf whose mount point ``/etc/fstab`` mounts.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from enum import Enum

from .config import Config, TreeConfig
from .errors import UnsafeNameError, UserError
from .escape import device_node, path_is_safe, simplify_path, unit_name, unsafe_reason
from .model import Entry, EntryKind, Snapshot, TreeScan, TreeStatus
from .options import MountOptions, conflicting_options, interpret


class SkipReason(Enum):
    """Why something in (or about) a tree is not mounted."""

    TREE_MISSING = "tree-missing"
    TREE_NOT_DIRECTORY = "tree-not-directory"
    TREE_NOT_BTRFS = "tree-not-btrfs"
    TREE_UNREADABLE = "tree-unreadable"
    TREE_NOT_SCANNED = "tree-not-scanned"
    BAD_OPTIONS = "bad-options"
    NO_DEVICE = "no-device"
    NOT_SUBVOLUME = "not-subvolume"
    READ_ONLY = "read-only"
    SYMLINK = "symlink"
    MOUNTPOINT = "mountpoint"
    UNREADABLE = "unreadable"
    UNSAFE_NAME = "unsafe-name"
    CLASH = "clash"
    FSTAB = "fstab"


@dataclass(frozen=True, slots=True)
class Mount:
    """One leaf to mount."""

    tree: str
    path: tuple[str, ...]
    """The leaf's path inside the tree."""
    what: str
    where: str
    subvol: str
    options: tuple[str, ...]
    """Every option for ``Options=``, ``subvol=`` first."""
    semantics: MountOptions
    unit: str
    """The ``.mount`` unit name (systemd's escaping of ``where``)."""


@dataclass(frozen=True, slots=True)
class Skip:
    """Something not mounted, and why."""

    tree: str
    path: tuple[str, ...]
    """Path inside the tree; empty for the whole tree."""
    reason: SkipReason
    detail: str
    where: str | None = None


@dataclass(frozen=True, slots=True)
class DirectorySpec:
    """A directory that must exist with this owner and mode before mounts below it."""

    path: str
    uid: int
    gid: int
    mode: int
    tree: str
    within: str | None
    """Mount point of the leaf that contains this directory, or None (root filesystem)."""


@dataclass(frozen=True, slots=True)
class Plan:
    mounts: tuple[Mount, ...] = ()
    skips: tuple[Skip, ...] = ()
    directories: tuple[DirectorySpec, ...] = ()

    def mounts_of(self, tree: str) -> tuple[Mount, ...]:
        return tuple(m for m in self.mounts if m.tree == tree)


_STATUS_REASON = {
    TreeStatus.MISSING: SkipReason.TREE_MISSING,
    TreeStatus.NOT_DIRECTORY: SkipReason.TREE_NOT_DIRECTORY,
    TreeStatus.NOT_BTRFS: SkipReason.TREE_NOT_BTRFS,
    TreeStatus.UNREADABLE: SkipReason.TREE_UNREADABLE,
}


def join(base: str, parts: tuple[str, ...] | list[str]) -> str:
    """``base`` (a simplified absolute path) joined with single components."""
    if not parts:
        return base
    return base.rstrip("/") + "/" + "/".join(parts)


def mount_components(path: tuple[str, ...]) -> tuple[str, ...]:
    """Where a leaf mounts relative to the destination: its '@' removed."""
    leaf = path[-1][1:]
    return path[:-1] + ((leaf,) if leaf else ())


def subvol_for(tree: TreeConfig, scan: TreeScan, entry: Entry) -> str:
    """The ``subvol=`` value: from ``tree_prefix`` when configured (the prototype's
    way), otherwise the path btrfs reported for the subvolume."""
    if tree.tree_prefix is not None:
        prefix = simplify_path(tree.tree_prefix)
        root = simplify_path(tree.path)
        inner = root[len(prefix) :] if prefix != "/" else root
        return join("/" + inner.lstrip("/"), entry.path)
    assert entry.subvolume is not None
    return entry.subvolume.path


def _not_walked(entry: Entry | None) -> bool:
    """True for entries a scan never descends into (a snapshot may still claim it did)."""
    return entry is not None and entry.kind not in (EntryKind.DIRECTORY, EntryKind.SUBVOLUME)


def classify(entry: Entry) -> tuple[SkipReason, str] | None:
    """Why an '@' entry is not a leaf, or None when it is one."""
    if entry.kind is EntryKind.SUBVOLUME:
        assert entry.subvolume is not None
        if entry.subvolume.read_only:
            return SkipReason.READ_ONLY, "is a read-only subvolume (a snapshot?), not mounted"
        return None
    if entry.kind is EntryKind.SYMLINK:
        return SkipReason.SYMLINK, f"is a symlink (to {entry.target!r}), never followed"
    if entry.kind is EntryKind.MOUNTPOINT:
        return SkipReason.MOUNTPOINT, "has another filesystem mounted on it, not mounted"
    if entry.kind is EntryKind.UNREADABLE:
        return SkipReason.UNREADABLE, f"could not be read: {entry.error}"
    return SkipReason.NOT_SUBVOLUME, f"starts with '@' but is a {entry.kind.value}, not a subvolume"


def _tree_plan(
    tree: TreeConfig, scan: TreeScan | None
) -> tuple[list[Mount], list[Skip], list[tuple[Mount, list[Entry]]]]:
    mounts: list[Mount] = []
    skips: list[Skip] = []
    parents: list[tuple[Mount, list[Entry]]] = []
    if scan is None:
        skips.append(Skip(tree.name, (), SkipReason.TREE_NOT_SCANNED, f"{tree.path}: not scanned"))
        return mounts, skips, parents
    if scan.status is not TreeStatus.OK:
        detail = f"{tree.path}: {scan.error or scan.status.value}"
        skips.append(Skip(tree.name, (), _STATUS_REASON[scan.status], detail))
        return mounts, skips, parents
    what = device_node(tree.device or scan.device or "")
    if not what:
        skips.append(Skip(tree.name, (), SkipReason.NO_DEVICE,
                          f"{tree.path}: the device holding the tree is unknown; set 'device'"))
        return mounts, skips, parents
    extra = tuple(o for o in tree.options if o not in conflicting_options(tree.options))
    try:
        semantics = interpret(extra)
    except UserError as exc:
        skips.append(Skip(tree.name, (), SkipReason.BAD_OPTIONS, exc.message))
        return mounts, skips, parents
    by_path = {e.path: e for e in scan.entries}
    for entry in scan.entries:
        if not entry.is_at_name:
            continue
        if any(p.startswith("@") for p in entry.path[:-1]):
            continue  # below an '@' entry: a scan never walks there
        if any(_not_walked(by_path.get(entry.path[:i])) for i in range(1, len(entry.path))):
            continue  # below a symlink, mount point or unreadable directory: nor there
        rel = "/".join(entry.path)
        reason = classify(entry)
        if reason is not None:
            skips.append(Skip(tree.name, entry.path, reason[0], f"{tree.path}/{rel}: {reason[1]}"))
            continue
        bad = None
        if not path_is_safe(rel):
            bad = next(((p, r) for p in entry.path if (r := unsafe_reason(p)) is not None), None)
        if bad is not None:
            skips.append(Skip(tree.name, entry.path, SkipReason.UNSAFE_NAME,
                              f"{tree.path}/{rel}: the name {bad[0]!r} {bad[1]}"))
            continue
        where = join(tree.destination, mount_components(entry.path))
        subvol = subvol_for(tree, scan, entry)
        try:
            unit = unit_name(where, "mount")
        except UnsafeNameError as exc:
            skips.append(Skip(tree.name, entry.path, SkipReason.UNSAFE_NAME,
                              f"{tree.path}/{rel}: {exc.message}"))
            continue
        outside = None
        if not (path_is_safe(subvol) and path_is_safe(where)):
            components = (*subvol.split("/"), *where.split("/"))
            outside = next((c for c in components if c and unsafe_reason(c)), None)
        if outside is not None:
            skips.append(Skip(tree.name, entry.path, SkipReason.UNSAFE_NAME,
                              f"{tree.path}/{rel}: {outside!r} in {subvol!r} or {where!r} "
                              f"{unsafe_reason(outside)}"))
            continue
        mount = Mount(
            tree=tree.name,
            path=entry.path,
            what=what,
            where=where,
            subvol=subvol,
            options=(f"subvol={subvol}", *semantics.passed),
            semantics=semantics,
            unit=unit,
        )
        mounts.append(mount)
        chain = [by_path[entry.path[:i]] for i in range(1, len(entry.path))
                 if entry.path[:i] in by_path]
        parents.append((mount, chain))
    return mounts, skips, parents


def _directories(
    config: Config, scans: dict[str, TreeScan], parents: list[tuple[Mount, list[Entry]]],
    wheres: frozenset[str],
) -> tuple[DirectorySpec, ...]:
    specs: dict[str, DirectorySpec] = {}
    for mount, chain in parents:
        tree = config.tree(mount.tree)
        scan = scans[mount.tree]
        assert tree is not None
        candidates: list[tuple[str, int, int, int]] = []
        if tree.destination != "/":
            candidates.append((tree.destination, scan.uid, scan.gid, scan.mode))
        for entry in chain:
            if entry.kind in (EntryKind.DIRECTORY, EntryKind.SUBVOLUME):
                path = join(tree.destination, list(entry.path))
                candidates.append((path, entry.uid, entry.gid, entry.mode))
        for path, uid, gid, mode in candidates:
            if path in wheres or path in specs:
                continue
            within = _containing_mount(path, wheres)
            specs[path] = DirectorySpec(path, uid, gid, mode, mount.tree, within)
    return tuple(sorted(specs.values(), key=lambda d: d.path))


def _containing_mount(path: str, wheres: frozenset[str]) -> str | None:
    """The deepest mount point strictly above ``path``."""
    while path != "/":
        path = path.rsplit("/", 1)[0] or "/"
        if path in wheres:
            return path
    return None


def make_plan(config: Config, snapshot: Snapshot) -> Plan:
    """The mount plan for ``config`` over ``snapshot``; pure and order-independent."""
    scans = {t.name: t for t in snapshot.trees}
    mounts: list[Mount] = []
    skips: list[Skip] = []
    parents: list[tuple[Mount, list[Entry]]] = []
    for tree in sorted(config.trees, key=lambda t: t.name):
        tree_mounts, tree_skips, tree_parents = _tree_plan(tree, scans.get(tree.name))
        mounts += tree_mounts
        skips += tree_skips
        parents += tree_parents
    by_where: dict[str, list[Mount]] = defaultdict(list)
    for mount in mounts:
        by_where[mount.where].append(mount)
    kept: list[Mount] = []
    for where, group in by_where.items():
        if len(group) > 1:
            names = ", ".join(f"{m.tree}:{'/'.join(m.path)}"
                              for m in sorted(group, key=lambda m: (m.tree, m.path)))
            for m in group:
                skips.append(Skip(m.tree, m.path, SkipReason.CLASH,
                                  f"{where}: several leaves map here ({names})", where))
            continue
        mount = group[0]
        if where in snapshot.fstab_mountpoints:
            skips.append(Skip(mount.tree, mount.path, SkipReason.FSTAB,
                              f"{where}: /etc/fstab already mounts this path", where))
            continue
        kept.append(mount)
    kept.sort(key=lambda m: (m.where, m.tree))
    kept_ids = {(m.tree, m.path) for m in kept}
    wheres = frozenset(m.where for m in kept)
    kept_parents = [(m, chain) for m, chain in parents if (m.tree, m.path) in kept_ids]
    directories = _directories(config, scans, kept_parents, wheres)
    skips.sort(key=lambda s: (s.tree, s.path, s.reason.value, s.detail))
    return Plan(tuple(kept), tuple(skips), directories)
