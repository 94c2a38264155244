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
   resolved silently), as is a leaf whose mount point ``/etc/fstab`` mounts;
5. a leaf whose name after the ``@`` is not a plain path component (``@.``,
   ``@..``) is skipped: only a bare ``@`` mounts at its directory;
6. no mount point is ``/``, lies in what systemd mounts itself (``/proc``,
   ``/sys``, ``/dev``, ``/run``), hides a tree's location (the tree, its
   parents, the mount point of the filesystem holding it) or lies inside a tree;
7. trees that overlap (one inside another, or two with one destination) are
   refused whole (:func:`overlapping_trees`), so every subvolume belongs to one
   tree and is mounted and backed up once;
8. the project's own entries (:mod:`layout_trees.core.reserved`) are no part of
   any tree;
9. a destination reached through a symlink is resolved once, by the scan, as
   systemd-fstab-generator does (``/home`` -> ``/var/home``); the plan mounts
   below the resolved path and says so (``Plan.resolved``).

Every mount names the scanned subvolume twice: ``subvol=PATH`` and
``subvolid=ID`` (``Mount.subvol_id``), and the kernel refuses the mount when
the two disagree, so a name swapped between the scan and the mount makes the
mount fail instead of mounting another subvolume.
"""

from __future__ import annotations

from collections import defaultdict
from enum import Enum
from operator import attrgetter

from .config import Config, TreeConfig
from .errors import UnsafeNameError, UserError
from .escape import (
    device_node,
    device_unit_problem,
    is_plain_component,
    path_is_safe,
    simplify_path,
    unit_name,
    unit_value_problem,
    unsafe_reason,
)
from .model import Entry, EntryKind, Snapshot, TreeScan, TreeStatus
from .options import MountOptions, conflicting_options, interpret
from .paths import ancestors, is_within, parent_of
from .record import record, replace
from .reserved import DEFAULT_SNAPSHOT_DIR, is_reserved_below, reserved_paths


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
    PROTECTED = "protected-mount-point"
    OVERLAP = "overlapping-tree"
    DESTINATION_SYMLINK = "destination-symlink"


@record
class Mount:
    """One leaf to mount."""

    tree: str
    path: tuple[str, ...]
    """The leaf's path inside the tree."""
    what: str
    where: str
    subvol: str
    options: tuple[str, ...]
    """Every option for ``Options=``: ``subvol=`` first, then ``subvolid=`` when known."""
    semantics: MountOptions
    unit: str
    """The ``.mount`` unit name (systemd's escaping of ``where``)."""
    subvol_id: int | None = None
    """The scanned subvolume's id, also in ``options`` as ``subvolid=``: the kernel
    refuses to mount when ``subvol=`` names another subvolume by then."""

    @property
    def automount_unit(self) -> str:
        """The ``.automount`` unit name for ``where`` (used when the leaf mounts on demand)."""
        return unit_name(self.where, "automount")


@record
class Skip:
    """Something not mounted, and why."""

    tree: str
    path: tuple[str, ...]
    """Path inside the tree; empty for the whole tree."""
    reason: SkipReason
    detail: str
    where: str | None = None


@record
class DirectorySpec:
    """A directory that must exist with this owner and mode before mounts below it."""

    path: str
    uid: int
    gid: int
    mode: int
    tree: str
    within: str | None
    """Mount point of the leaf that contains this directory, or None (root filesystem)."""


@record
class ResolvedDestination:
    """A destination reached through a symlink, and where the plan mounts instead."""

    tree: str
    configured: str
    resolved: str


@record
class Plan:
    """What should be mounted where: the leaves to mount, what is skipped and why, the
    directories to create above the mount points and the destinations resolved through
    symlinks.  The same snapshot and configuration give the same plan."""

    mounts: tuple[Mount, ...] = ()
    skips: tuple[Skip, ...] = ()
    directories: tuple[DirectorySpec, ...] = ()
    resolved: tuple[ResolvedDestination, ...] = ()

    def mounts_of(self, tree: str) -> tuple[Mount, ...]:
        """The planned mounts of ``tree``."""
        return tuple(m for m in self.mounts if m.tree == tree)

    @property
    def refused_trees(self) -> frozenset[str]:
        """Trees not mounted at all because they overlap another tree (inside it, at its
        place or destination, or dropping its owners): their subvolumes belong to the
        tree that is kept, or to none, and are backed up once."""
        return frozenset(s.tree for s in self.skips if s.reason is SkipReason.OVERLAP)


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


SYSTEM_MOUNT_POINTS = ("/proc", "/sys", "/dev", "/run")
"""Where systemd mounts API filesystems itself: never a leaf's mount point, nor below."""


def effective_destination(tree: TreeConfig, scan: TreeScan | None) -> str:
    """Where ``tree`` mounts: its destination with symlinks resolved by the scan
    (``destination_real``), as systemd-fstab-generator resolves ``Where=``."""
    if scan is not None and scan.destination_real is not None:
        return scan.destination_real
    return tree.destination


Location = tuple[str, str, bool]
"""``(tree, path, is the tree's own directory)``: a place no mount may hide."""


def tree_locations(config: Config, snapshot: Snapshot) -> tuple[Location, ...]:
    """Every place a mount must not hide: each tree's directory (as configured and
    resolved), and the mount point of the filesystem holding it."""
    scans = {t.name: t for t in snapshot.trees}
    found: set[Location] = set()
    for tree in config.trees:
        found.add((tree.name, tree.path, True))
        scan = scans.get(tree.name)
        if scan is not None and scan.real_root is not None:
            found.add((tree.name, simplify_path(scan.real_root), True))
        if scan is not None and scan.fs_mountpoint is not None:
            found.add((tree.name, simplify_path(scan.fs_mountpoint), False))
    return tuple(sorted(found))


def protected_reason(where: str, locations: tuple[Location, ...]) -> str | None:
    """Why nothing may be mounted at ``where``, or None: the root filesystem, what
    systemd mounts itself, a tree's location or a parent of it, the inside of a tree."""
    if where == "/":
        return "is the root filesystem; a leaf never replaces it"
    for system in SYSTEM_MOUNT_POINTS:
        if is_within(where, system):
            return f"is {system} or below it, which systemd mounts itself"
    for tree, location, own in locations:
        if is_within(location, where):
            what = "the tree" if own else "the filesystem holding the tree"
            return f"would hide {what} {tree!r} at {location}"
        if own and is_within(where, location):
            return f"lies inside tree {tree!r} at {location}"
    return None


class Protection:
    """:func:`protected_reason` for the many mount points of a plan: the same answers,
    with the common one (nothing protected) found by two set lookups per mount point and
    one walk per directory holding mount points (leaves share them)."""

    __slots__ = ("by_parent", "hidden", "inside", "locations")

    def __init__(self, locations: tuple[Location, ...]) -> None:
        self.locations = locations
        # A mount point hides a location when it is the location or a directory above it.
        self.hidden = {p for _, loc, _ in locations for p in (loc, *ancestors(loc))}
        # A mount point may not be one of these or lie below it.
        self.inside = frozenset(SYSTEM_MOUNT_POINTS) | {loc for _, loc, own in locations if own}
        self.by_parent: dict[str, bool] = {}

    def reason(self, where: str) -> str | None:
        """``protected_reason(where, locations)``."""
        if where == "/" or where in self.hidden or where in self.inside:
            return protected_reason(where, self.locations)
        parent = parent_of(where)
        below = self.by_parent.get(parent)
        if below is None:
            below = self.by_parent[parent] = any(is_within(parent, p) for p in self.inside)
        return protected_reason(where, self.locations) if below else None


def leaf_name_problem(name: str) -> str | None:
    """Why an '@' name cannot name a mount point, or None: what follows the '@' must
    be empty (the directory itself) or a plain path component (not ``.`` or ``..``)."""
    rest = name[1:]
    if rest == "" or is_plain_component(rest):
        return None
    return f"{rest!r} after the '@' is not a plain path component"


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
    return (SkipReason.NOT_SUBVOLUME,
            f"starts with '@' but is {entry.kind.described}, not a subvolume")


def _tree_plan(
    tree: TreeConfig, scan: TreeScan | None, protection: Protection,
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
    if (problem := unit_value_problem(what) or device_unit_problem(what)) is not None:
        skips.append(Skip(tree.name, (), SkipReason.UNSAFE_NAME,
                          f"{tree.path}: the device {what!r} {problem}"))
        return mounts, skips, parents
    if scan.destination_error is not None:
        skips.append(Skip(tree.name, (), SkipReason.DESTINATION_SYMLINK,
                          f"{tree.destination}: destination of tree {tree.name!r}: "
                          f"{scan.destination_error}; not mounted"))
        return mounts, skips, parents
    extra = tuple(o for o in tree.options if o not in conflicting_options(tree.options))
    try:
        semantics = interpret(extra)
    except UserError as exc:
        skips.append(Skip(tree.name, (), SkipReason.BAD_OPTIONS, exc.message))
        return mounts, skips, parents
    destination = effective_destination(tree, scan)
    by_path = {e.path: e for e in scan.entries}
    # Per directory holding leaves (shared by many): whether the scan could not have
    # walked it, and the entries on the way to it.
    holders: dict[tuple[str, ...], tuple[bool, list[Entry]]] = {}
    for entry in scan.entries:
        if not entry.has_leaf_name:
            continue  # not '@', or below an '@' entry: a scan never walks there
        holder = entry.path[:-1]
        known = holders.get(holder)
        if known is None:
            prefixes = [holder[:i] for i in range(1, len(holder) + 1)]
            known = holders[holder] = (
                any(_not_walked(by_path.get(p)) for p in prefixes),
                [by_path[p] for p in prefixes if p in by_path])
        if known[0]:
            continue  # below a symlink, mount point or unreadable directory: nor there
        rel = "/".join(entry.path)
        reason = classify(entry)
        if reason is not None:
            skips.append(Skip(tree.name, entry.path, reason[0], f"{tree.path}/{rel}: {reason[1]}"))
            continue
        bad = None
        if not path_is_safe(rel):
            bad = next(((p, r) for p in entry.path if (r := unsafe_reason(p)) is not None), None)
        if bad is None and (problem := leaf_name_problem(entry.name)) is not None:
            bad = (entry.name, problem)
        if bad is not None:
            skips.append(Skip(tree.name, entry.path, SkipReason.UNSAFE_NAME,
                              f"{tree.path}/{rel}: the name {bad[0]!r} {bad[1]}"))
            continue
        where = join(destination, mount_components(entry.path))
        subvol = subvol_for(tree, scan, entry)
        try:
            unit = unit_name(where, "mount")
            if semantics.automount:  # its .automount unit's name is longer still
                unit_name(where, "automount")
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
        if (protected := protection.reason(where)) is not None:
            skips.append(Skip(tree.name, entry.path, SkipReason.PROTECTED,
                              f"{tree.path}/{rel}: mount point {where} {protected}", where))
            continue
        assert entry.subvolume is not None
        subvol_id = entry.subvolume.id
        mount = Mount(
            tree=tree.name,
            path=entry.path,
            what=what,
            where=where,
            subvol=subvol,
            options=(f"subvol={subvol}",
                     *((f"subvolid={subvol_id}",) if subvol_id is not None else ()),
                     *semantics.passed),
            semantics=semantics,
            unit=unit,
            subvol_id=subvol_id,
        )
        mounts.append(mount)
        parents.append((mount, known[1]))
    return mounts, skips, parents


def _directories(
    config: Config, scans: dict[str, TreeScan], parents: list[tuple[Mount, list[Entry]]],
    wheres: dict[str, str], locations: tuple[Location, ...],
) -> tuple[tuple[DirectorySpec, ...], dict[str, str]]:
    """The directories to own, and the trees that would drop another tree's owners
    (each with the reason): a directory two trees give different owners or modes, or a
    directory inside another tree's leaf mount (it would chown that leaf's content).
    A tree's location and its parents are never given owners (they are not the tree's)."""
    specs: dict[str, DirectorySpec] = {}
    excluded: set[str] = set()
    conflicts: dict[str, str] = {}
    done: set[tuple[str, tuple[str, ...]]] = set()
    for mount, chain in parents:
        # The leaves of one directory share their candidates: once kept, excluded or
        # compared for the first of them, nothing changes for the others.
        holder = (mount.tree, mount.path[:-1])
        if holder in done:
            continue
        done.add(holder)
        tree = config.tree(mount.tree)
        scan = scans[mount.tree]
        assert tree is not None
        candidates: list[tuple[str, int, int, int]] = []
        destination = effective_destination(tree, scan)
        if destination != "/":
            candidates.append((destination, scan.uid, scan.gid, scan.mode))
        for entry in chain:
            if entry.kind in (EntryKind.DIRECTORY, EntryKind.SUBVOLUME):
                path = join(destination, list(entry.path))
                candidates.append((path, entry.uid, entry.gid, entry.mode))
        for path, uid, gid, mode in candidates:
            # Leaves share their parents: a directory already kept is compared, one
            # already excluded is skipped, and only a new one is checked (once).
            known = specs.get(path)
            if known is not None:
                if known.tree != mount.tree and (known.uid, known.gid, known.mode) != (
                        uid, gid, mode):
                    conflicts.setdefault(mount.tree, (
                        f"gives {path} owner {uid}:{gid} mode {mode:04o}, tree "
                        f"{known.tree!r} gives {known.uid}:{known.gid} mode {known.mode:04o}"))
                continue
            if path in excluded:
                continue
            if path in wheres or any(is_within(loc, path) for _, loc, _ in locations):
                excluded.add(path)
                continue
            within = _containing_mount(path, frozenset(wheres))
            if within is not None and wheres[within] != mount.tree:
                conflicts.setdefault(mount.tree, (
                    f"would set the owner of {path}, inside the leaf of tree "
                    f"{wheres[within]!r} mounted at {within}"))
            specs[path] = DirectorySpec(path, uid, gid, mode, mount.tree, within)
    return tuple(sorted(specs.values(), key=lambda d: d.path)), conflicts


def _containing_mount(path: str, wheres: frozenset[str]) -> str | None:
    """The deepest mount point strictly above ``path``."""
    return next((p for p in ancestors(path) if p in wheres), None)


def snapshot_dirs(config: Config) -> frozenset[str]:
    """The snapshot directories of every configured policy, and the default one."""
    return frozenset({DEFAULT_SNAPSHOT_DIR} | {
        t.backup.snapshot_dir for t in config.trees if t.backup is not None})


def without_reserved(config: Config, snapshot: Snapshot) -> Snapshot:
    """``snapshot`` without the project's own entries (:mod:`layout_trees.core.reserved`),
    for snapshots made before the scan left them out; the same object when it has none."""
    dirs = snapshot_dirs(config)
    trees = []
    changed = False
    for scan in snapshot.trees:
        reserved = reserved_paths(scan.root_subvol_path, dirs)
        known: dict[tuple[str, ...], bool] = {}
        kept = tuple(e for e in scan.entries if not is_reserved_below(e.path, reserved, known))
        if len(kept) != len(scan.entries):
            changed = True
            scan = replace(scan, entries=kept)
        trees.append(scan)
    return replace(snapshot, trees=tuple(trees)) if changed else snapshot


def _location(scan: TreeScan | None, tree: TreeConfig) -> tuple[str | None, str, str | None]:
    """``(device, path from the top level, resolved directory)`` of a scanned tree."""
    if scan is None or scan.status is not TreeStatus.OK:
        return None, "", None
    return scan.device, scan.root_subvol_path or "", simplify_path(scan.real_root or tree.path)


def overlapping_trees(config: Config, snapshot: Snapshot) -> dict[str, str]:
    """Trees refused because they overlap another one, each with the reason.

    A tree inside another tree (in its structure or inside one of its leaves, seen
    by path or by the subvolume path on the same device) is refused, the outer one
    kept; of two trees at the same place or with the same destination, the one whose
    name sorts first is kept.  So every subvolume belongs to one tree, is mounted
    once and backed up once; the backup manifest uses this (through the plan, or by
    calling this function) to list each leaf once.
    """
    scans = {t.name: t for t in snapshot.trees}
    trees = sorted(config.trees, key=lambda t: t.name)
    refused: dict[str, str] = {}
    for i, outer in enumerate(trees):
        for inner in trees[i + 1:]:
            for first, second in ((outer, inner), (inner, outer)):
                if second.name in refused:
                    continue
                reason = _overlap(first, scans.get(first.name), second, scans.get(second.name))
                if reason is not None and (second is inner or reason.startswith("lies inside")):
                    refused[second.name] = reason
                    break
    return refused


def _overlap(keep: TreeConfig, keep_scan: TreeScan | None, other: TreeConfig,
             other_scan: TreeScan | None) -> str | None:
    """Why ``other`` overlaps ``keep`` (and is refused in its favour), or None."""
    k_dev, k_sub, k_dir = _location(keep_scan, keep)
    o_dev, o_sub, o_dir = _location(other_scan, other)
    same = other.path == keep.path or (o_dir is not None and o_dir == k_dir) or (
        k_dev is not None and k_dev == o_dev and k_sub and k_sub == o_sub)
    if same:
        return f"is the same directory as tree {keep.name!r} ({keep.path})"
    inside = (other.path != keep.path and is_within(other.path, keep.path)) or (
        o_dir is not None and k_dir is not None and o_dir != k_dir and is_within(o_dir, k_dir)) or (
        k_dev is not None and k_dev == o_dev and bool(k_sub) and bool(o_sub)
        and o_sub != k_sub and is_within(o_sub, k_sub))
    if inside:
        return f"lies inside tree {keep.name!r} ({keep.path}); its leaves belong to that tree"
    if effective_destination(keep, keep_scan) == effective_destination(other, other_scan):
        return (f"has the same destination as tree {keep.name!r} "
                f"({effective_destination(keep, keep_scan)})")
    return None


def make_plan(config: Config, snapshot: Snapshot) -> Plan:
    """The mount plan for ``config`` over ``snapshot``; pure and order-independent.

    Trees that overlap (:func:`overlapping_trees`) are refused first; a tree whose
    directories would drop another tree's owners is refused next, and the plan made
    again without it, until no tree conflicts (at most once per tree)."""
    snapshot = without_reserved(config, snapshot)
    refused = overlapping_trees(config, snapshot)
    while True:
        plan, conflicts = _plan_once(config, snapshot, refused)
        if not conflicts:
            return plan
        refused = {**refused, **conflicts}


def _plan_once(config: Config, snapshot: Snapshot,
               refused: dict[str, str]) -> tuple[Plan, dict[str, str]]:
    scans = {t.name: t for t in snapshot.trees}
    locations = tree_locations(config, snapshot)
    protection = Protection(locations)
    mounts: list[Mount] = []
    skips: list[Skip] = []
    parents: list[tuple[Mount, list[Entry]]] = []
    resolved: list[ResolvedDestination] = []
    for tree in sorted(config.trees, key=lambda t: t.name):
        if tree.name in refused:
            skips.append(Skip(tree.name, (), SkipReason.OVERLAP,
                              f"{tree.path}: tree {tree.name!r} {refused[tree.name]}; "
                              "not mounted"))  # Plan.refused_trees lists these
            continue
        scan = scans.get(tree.name)
        destination = effective_destination(tree, scan)
        if destination != tree.destination:
            resolved.append(ResolvedDestination(tree.name, tree.destination, destination))
        tree_mounts, tree_skips, tree_parents = _tree_plan(tree, scan, protection)
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
    kept.sort(key=attrgetter("where", "tree"))
    kept_ids = {(m.tree, m.path) for m in kept}
    wheres = {m.where: m.tree for m in kept}
    kept_parents = [(m, chain) for m, chain in parents if (m.tree, m.path) in kept_ids]
    directories, conflicts = _directories(config, scans, kept_parents, wheres, locations)
    skips.sort(key=lambda s: (s.tree, s.path, s.reason.value, s.detail))
    return Plan(tuple(kept), tuple(skips), directories, tuple(resolved)), conflicts
