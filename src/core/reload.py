"""Planning ``layout reload``: what to mount and unmount after the trees changed.

Theory of operation: the truth about what *is* mounted is the mount table
(``/proc/self/mountinfo``); what *should* be mounted is the mount plan of a
fresh scan.  :func:`diff_mounts` compares the two, without any memory of
earlier plans, so a reload after a crash, a manual ``umount`` or a boot that
went half-way gives the same answer as one after a clean run.

A mounted filesystem is recognised as a leaf of tree T by *what* is
mounted, not by where: a btrfs mount of T's filesystem (same source as the
tree's mount) whose subvolume path, as the kernel reports it now, is
``T/…/@x`` (no other ``@`` component), or such a path followed by
``//deleted``, mounted at or below T's destination.  The kernel reports the
subvolume's current path, so a leaf renamed (``mv @ws @work``, ``mv proj
proj2``) or deleted after it was mounted is recognised and, when the plan
does not put that subvolume at that place, unmounted.  A planned mount is
"as planned" when the mount on top of its mount point shows its subvolume
(and, when the scan knows it, the same subvolume ID).  Nothing else is ever
unmounted: mounts made by hand or by fstab below a destination, and
anything stacked on a leaf, are foreign and stay.  Trees that could not be
scanned are left entirely alone.

A planned mount point whose path crosses a symlink (or a non-directory)
below the destination is refused (``CONFLICT``), as ``persist`` refuses it:
the shell passes an ``lstat`` of each component as :class:`PathFacts`.

Changes come out in execution order: unmounts deepest first, then mounts
shallowest first (so a new leaf below a vanished one can be mounted).
"""

from __future__ import annotations

from enum import Enum

from .config import Config, TreeConfig
from .errors import EnvironmentProblem, UnsafeNameError
from .escape import simplify_path, unit_name
from .model import Snapshot, TreeScan, TreeStatus
from .mountinfo import MountEntry
from .paths import is_leaf_path, is_strictly_below, is_within
from .persist import crossed_at, mount_destination
from .plan import DirectorySpec, Mount, Plan
from .record import record

DELETED_SUFFIX = "//deleted"
SUBVOLID = "subvolid="


def mount_shows(entry: MountEntry, subvol: str, subvol_id: int | None, *,
                deleted_too: bool = False) -> bool:
    """Whether ``entry`` is a btrfs mount of the subvolume now at path ``subvol`` (with the
    ID ``subvol_id``, when given); ``deleted_too`` also accepts it deleted since."""
    if entry.fstype != "btrfs":
        return False
    root = entry.root
    if root.endswith(DELETED_SUFFIX):
        if not deleted_too:
            return False
        root = root[: -len(DELETED_SUFFIX)]
    if simplify_path(root) != simplify_path(subvol):
        return False
    return subvol_id is None or entry.subvol_id == subvol_id


def pinned_options(options: tuple[str, ...], subvol_id: int) -> tuple[str, ...]:
    """The planned options with ``subvolid=`` of the subvolume that was checked next to
    ``subvol=``: the kernel then mounts that subvolume or nothing (a mismatch between the
    two is refused), whatever a path names by the time ``mount`` runs."""
    pinned = f"{SUBVOLID}{subvol_id}"
    given = [o for o in options if o.startswith(SUBVOLID)]
    if given:
        if given != [pinned]:
            raise EnvironmentProblem(
                f"the planned {', '.join(given)} is not the subvolume found ({pinned})",
                "the tree changed since it was scanned: run the command again")
        return options
    out: list[str] = []
    for option in options:
        out.append(option)
        if option.startswith("subvol="):
            out.append(pinned)
    return tuple(out) if pinned in out else (*options, pinned)


class ChangeKind(Enum):
    """What ``layout reload`` does about one mount point."""

    MOUNT = "mount"
    """A planned leaf that is not mounted: mount it."""
    UNMOUNT = "unmount"
    """A mounted leaf that the plan no longer has: unmount it (unless held open)."""
    BLOCKED = "blocked"
    """A mounted leaf that should go but has other mounts below it: left mounted."""
    CONFLICT = "conflict"
    """A planned leaf whose mount point holds something else: left alone."""
    NOT_STARTED = "not-started"
    """A planned leaf with ``noauto``: not mounted, as at boot."""


@record
class LeafMount:
    """A mount in the mount table recognised as a leaf of a tree."""

    tree: str
    leaf: tuple[str, ...]
    entry: MountEntry
    deleted: bool


@record
class Change:
    """One difference between the mount plan and what is mounted, and what to do about it."""

    kind: ChangeKind
    where: str
    tree: str
    leaf: tuple[str, ...]
    detail: str
    mount: Mount | None = None
    """The planned mount (for MOUNT, CONFLICT, NOT_STARTED)."""
    unit: str | None = None
    """The unit systemd knows the mount as."""
    entry: MountEntry | None = None
    """The mount to unmount, as identified in mountinfo (for UNMOUNT and BLOCKED)."""

    def describe(self) -> str:
        leaf = f"{self.tree}:{'/'.join(self.leaf)}"
        verb = {
            ChangeKind.MOUNT: "mount",
            ChangeKind.UNMOUNT: "unmount",
            ChangeKind.BLOCKED: "keep",
            ChangeKind.CONFLICT: "skip",
            ChangeKind.NOT_STARTED: "skip",
        }[self.kind]
        return f"{verb} {self.where} ({leaf}): {self.detail}"


@record
class ReloadPlan:
    """What ``layout reload`` would change to make the mounts match the trees: the changes,
    the directories to create or fix, and what is already as planned."""

    changes: tuple[Change, ...] = ()
    directories: tuple[DirectorySpec, ...] = ()
    """Directories that must exist with these owners and modes (created when missing, owner
    and mode set when they differ), shallowest first; those ``within`` a leaf mount once it
    is mounted."""
    unchanged: tuple[str, ...] = ()
    """Mount points already as planned."""
    notes: tuple[str, ...] = ()
    destinations: tuple[tuple[str, str], ...] = ()
    """``(tree, destination)``: where each tree's mounts and directories are below."""

    def destination(self, tree: str) -> str | None:
        """Where ``tree`` mounts, if it is in the plan."""
        return dict(self.destinations).get(tree)

    def of(self, kind: ChangeKind) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.kind is kind)


def tree_fs_root(tree: TreeConfig, scan: TreeScan) -> str | None:
    """The tree directory's path from the top of its filesystem."""
    if tree.tree_prefix is not None:
        prefix = simplify_path(tree.tree_prefix)
        root = simplify_path(tree.path)
        inner = root[len(prefix):] if prefix != "/" else root
        return simplify_path("/" + inner)
    return scan.root_subvol_path


def _leaf_of(root: str, fs_root: str) -> tuple[str, ...] | None:
    """The leaf path inside a tree (rooted at ``fs_root``) of subvolume path ``root``."""
    if not is_strictly_below(root, fs_root):
        return None
    rest = root[len(fs_root):] if fs_root != "/" else root
    leaf = tuple(p for p in rest.split("/") if p)
    if not is_leaf_path(leaf):
        return None
    return leaf


def recognise(config: Config, snapshot: Snapshot,
              mounts: tuple[MountEntry, ...]) -> tuple[LeafMount, ...]:
    """The mounts in ``mounts`` that are leaves of a configured, scanned tree: by the
    subvolume they show, mounted at or below the tree's destination."""
    found: list[LeafMount] = []
    trees = [(t, snapshot.tree(t.name)) for t in config.trees]
    for entry in mounts:
        if entry.fstype != "btrfs":
            continue
        root = entry.root
        deleted = root.endswith(DELETED_SUFFIX)
        if deleted:
            root = root[: -len(DELETED_SUFFIX)]
        root = simplify_path(root)
        where = simplify_path(entry.mountpoint)
        for tree, scan in trees:
            if scan is None or scan.status is not TreeStatus.OK:
                continue
            if scan.device is None or entry.source != scan.device:
                continue  # a tree on an unknown device recognises no mount: none is unmounted
            fs_root = tree_fs_root(tree, scan)
            leaf = None if fs_root is None else _leaf_of(root, fs_root)
            destination = simplify_path(tree.destination)
            if leaf is None or not (is_within(where, destination)):
                continue
            found.append(LeafMount(tree.name, leaf, entry, deleted))
            break
    return tuple(found)


def _scanned_ids(snapshot: Snapshot) -> dict[tuple[str, tuple[str, ...]], int]:
    """Subvolume IDs the scan recorded, by (tree, leaf path)."""
    return {(t.name, e.path): e.subvolume.id for t in snapshot.trees for e in t.entries
            if e.subvolume is not None and e.subvolume.id is not None}


def _matches(mount: Mount, entry: MountEntry, scan: TreeScan | None,
             subvol_id: int | None = None) -> bool:
    return (mount_shows(entry, mount.subvol, subvol_id)
            and (scan is None or scan.device is None or entry.source == scan.device))


def diff_mounts(config: Config, snapshot: Snapshot, plan: Plan,
                mounts: tuple[MountEntry, ...]) -> ReloadPlan:
    """What to mount and unmount so that the mount table matches ``plan``.

    A planned mount point below one of ``snapshot.crossings`` (a symlink below the
    destination) is refused."""
    by_where: dict[str, list[MountEntry]] = {}
    for entry in mounts:
        by_where.setdefault(simplify_path(entry.mountpoint), []).append(entry)
    planned = {m.where: m for m in plan.mounts}
    ids = _scanned_ids(snapshot)
    leaves = recognise(config, snapshot, mounts)
    unchanged: list[str] = []
    for mount in plan.mounts:
        here = by_where.get(mount.where, [])
        if here and _matches(mount, here[-1], snapshot.tree(mount.tree),
                             ids.get((mount.tree, mount.path))):
            unchanged.append(mount.where)

    # Leaves mounted that the plan does not have (or not like this): unmount.
    stale: list[LeafMount] = []
    for leaf in leaves:
        where = simplify_path(leaf.entry.mountpoint)
        want = planned.get(where)
        if want is not None and _matches(want, leaf.entry, snapshot.tree(want.tree),
                                         ids.get((want.tree, want.path))):
            continue
        stale.append(leaf)
    stale_ids = {id(s.entry) for s in stale}
    stale.sort(key=lambda s: (-s.entry.mountpoint.count("/"), s.entry.mountpoint))
    changes: list[Change] = []
    going: set[int] = set()
    for leaf in stale:
        where = simplify_path(leaf.entry.mountpoint)
        staying = sorted({simplify_path(m.mountpoint) for m in mounts
                          if is_strictly_below(simplify_path(m.mountpoint), where)
                          and id(m) not in going})
        if staying:
            changes.append(Change(ChangeKind.BLOCKED, where, leaf.tree, leaf.leaf,
                                  f"its leaf is gone but {', '.join(staying[:3])} "
                                  "is mounted below it", unit=_unit(where), entry=leaf.entry))
            continue
        why = "its subvolume was deleted" if leaf.deleted else "its leaf is gone"
        if where in planned:
            why = "a different subvolume is planned there"
        elif not leaf.deleted and any(m.tree == leaf.tree and m.path == leaf.leaf
                                      for m in plan.mounts):
            why = f"its subvolume is now {'/'.join(leaf.leaf)}, planned elsewhere"
        going.add(id(leaf.entry))
        changes.append(Change(ChangeKind.UNMOUNT, where, leaf.tree, leaf.leaf, why,
                              unit=_unit(where), entry=leaf.entry))

    # Planned leaves that are not mounted: mount them.
    for mount in sorted(plan.mounts, key=lambda m: (m.where.count("/"), m.where)):
        if mount.where in unchanged:
            continue
        here = by_where.get(mount.where, [])
        foreign = [e for e in here if id(e) not in going]
        if foreign:
            top = foreign[-1]
            held = id(top) in stale_ids
            detail = (f"the old leaf mounted there stays ({top.root})" if held else
                      f"{top.fstype} {top.source} is mounted there")
            changes.append(Change(ChangeKind.CONFLICT, mount.where, mount.tree, mount.path,
                                  detail, mount=mount, unit=mount.unit))
            continue
        crossed = crossed_at(snapshot.crossings, mount_destination(mount), mount.where)
        if crossed is not None:
            changes.append(Change(ChangeKind.CONFLICT, mount.where, mount.tree, mount.path,
                                  f"{crossed} is a symlink or not a directory below the "
                                  "destination; never followed", mount=mount,
                                  unit=mount.unit))
            continue
        if mount.semantics.noauto and not mount.semantics.automount:
            changes.append(Change(ChangeKind.NOT_STARTED, mount.where, mount.tree, mount.path,
                                  "noauto: mount it with 'systemctl start " + mount.unit + "'",
                                  mount=mount, unit=mount.unit))
            continue
        changes.append(Change(ChangeKind.MOUNT, mount.where, mount.tree, mount.path,
                              f"new leaf ({mount.subvol})", mount=mount, unit=mount.unit))
    ok_trees = {t.name for t in snapshot.trees if t.status is TreeStatus.OK}
    destinations = {m.tree: mount_destination(m) for m in plan.mounts}
    directories = tuple(sorted(
        (d for d in plan.directories if d.tree in ok_trees and d.tree in destinations
         and crossed_at(snapshot.crossings, destinations[d.tree], d.path) is None),
        key=lambda d: (d.path.count("/"), d.path)))
    notes = tuple(
        f"tree {t.name!r} could not be scanned ({s.error or s.status.value if s else 'no scan'}); "
        "its mounts are left alone"
        for t in sorted(config.trees, key=lambda t: t.name)
        if (s := snapshot.tree(t.name)) is None or s.status is not TreeStatus.OK
    )
    return ReloadPlan(tuple(changes), directories, tuple(sorted(unchanged)), notes,
                      tuple(sorted(destinations.items())))


def _unit(where: str) -> str | None:
    try:
        return unit_name(where, "mount")
    except UnsafeNameError:
        return None


def describe(plan: ReloadPlan) -> tuple[str, ...]:
    """One line per change and note, for the report."""
    return tuple(c.describe() for c in plan.changes) + plan.notes
