"""Planning ``layout persist PATH``: which tree, which leaf, which steps.

Theory of operation: the shell gathers facts (the configuration, a scan of
the trees, the mount table, and an ``lstat`` of every directory from the
tree's destination down to PATH) and :func:`plan_persist` decides, without
touching anything, whether PATH can become a leaf and how:

* the tree is the one whose destination holds PATH most closely (nested
  destinations are allowed; the innermost wins);
* ``DEST/a/b/c`` becomes the leaf ``TREE/a/b/@c`` (``DEST`` itself becomes
  ``TREE/@``); structure directories ``TREE/a`` and ``TREE/a/b`` that do not
  exist yet are created with the owners and modes of ``DEST/a`` and
  ``DEST/a/b``;
* the mount is whatever :func:`make_plan` would plan for the tree once the
  leaf exists, so the live mount and the mount at the next boot are the
  same one by construction.

Refusals (all :class:`PersistRefused`, with a hint): PATH outside every
destination, PATH already persisted (a leaf maps there, or something is
mounted there), PATH inside an existing leaf or another mount, PATH holding
mount points below it, PATH not a plain directory, a tree that could not be
scanned, names the plan would skip (unsafe, clashing, in fstab).

The result lists the steps as data (:class:`Step`), in order; the shell runs
them and, on failure, undoes the ones that left something behind in reverse.
The leaf is built under a name no scan takes for a leaf (``STAGING``, in the
leaf's parent directory: no ``@``, and the ``.layout-trees-`` prefix the
project reserves) and renamed to its ``@`` name as the last step before the
mount, so an interrupted persist, even one killed outright, never leaves
anything a reload or the next boot would mount.
"""

from __future__ import annotations

from enum import Enum

from .config import Config, TreeConfig
from .errors import UserError
from .escape import simplify_path
from .model import Entry, EntryKind, Snapshot, Subvolume, TreeScan, TreeStatus, check_owner
from .mountinfo import MountEntry
from .paths import is_strictly_below, is_within
from .plan import (
    Mount,
    Plan,
    effective_destination,
    join,
    make_plan,
    overlapping_trees,
    snapshot_dirs,
)
from .record import record, replace
from .reserved import RESERVED_PREFIX, is_reserved, reserved_paths


class PersistRefused(UserError):
    """``layout persist`` will not persist this path (nothing was changed)."""


class PathKind(Enum):
    """What ``lstat`` found at a path."""

    DIRECTORY = "directory"
    SYMLINK = "symlink"
    OTHER = "other"
    MISSING = "missing"


@record
class PathFacts:
    """An ``lstat`` of one path below a destination, as the shell saw it."""

    path: str
    kind: PathKind
    uid: int = 0
    gid: int = 0
    mode: int = 0o755

    def __post_init__(self) -> None:
        if not isinstance(self.path, str) or not self.path.startswith("/"):
            raise UserError(f"{self.path!r} is not an absolute path")
        if not isinstance(self.kind, PathKind):
            raise UserError(f"{self.path}: kind {self.kind!r} is not a PathKind")
        check_owner(self.uid, self.gid, self.mode, self.path, UserError)


STAGING = RESERVED_PREFIX + "-persist"
"""Where ``persist`` builds a new leaf, beside its final name, before renaming it."""


def crossing(destination: str, path: str, facts: tuple[PathFacts, ...]) -> PathFacts | None:
    """The first of the paths strictly below ``destination`` down to ``path`` that ``facts``
    show as a symlink or not a directory (a mount point there would be reached through
    it); missing paths are not reported."""
    return _crossing(destination, path, {f.path: f for f in facts})


def _crossing(destination: str, path: str, by_path: dict[str, PathFacts]) -> PathFacts | None:
    parts = relative_parts(path, destination)
    for i in range(1, len(parts) + 1):
        fact = by_path.get(join(destination, parts[:i]))
        if fact is not None and fact.kind in (PathKind.SYMLINK, PathKind.OTHER):
            return fact
    return None


def crossings_of(plan: Plan, facts: tuple[PathFacts, ...]) -> frozenset[str]:
    """For each planned mount, the first path below its destination that ``facts`` show as
    a symlink or not a directory (what :attr:`Snapshot.crossings` records).  The facts are
    indexed once for all mounts (not once per mount: 10,000 leaves took 25 s)."""
    by_path = {f.path: f for f in facts}
    found = (_crossing(mount_destination(m), m.where, by_path) for m in plan.mounts)
    return frozenset(f.path for f in found if f is not None)


def crossed_at(crossings: frozenset[str], destination: str, where: str) -> str | None:
    """The first of ``crossings`` (symlinks or non-directories below ``destination``) that
    a mount at ``where`` would be reached through, or None."""
    found = [c for c in crossings if is_strictly_below(c, destination) and is_within(where, c)]
    return min(found, key=len) if found else None


def mount_destination(mount: Mount) -> str:
    """The destination a planned mount is below (its mount point without the leaf's
    components)."""
    depth = len(mount.path) - (mount.path[-1] == "@")
    return (mount.where.rsplit("/", depth)[0] or "/") if depth else mount.where


class StepKind(Enum):
    """What one step of ``layout persist`` does."""

    MAKE_DIRECTORY = "make-directory"
    """Create a structure directory in the tree (path, uid, gid, mode)."""
    CREATE_SUBVOLUME = "create-subvolume"
    """Create the leaf subvolume (path) with the owner and mode of the source."""
    COPY = "copy"
    """Copy the content of ``source`` into ``path`` with reflinks, preserving everything."""
    RENAME = "rename"
    """Rename the finished subvolume ``source`` (the staging name) to its leaf name ``path``."""
    MOUNT = "mount"
    """Mount the new leaf over ``source`` (the plan's :class:`Mount`)."""


@record
class Step:
    """One effect of ``layout persist``, as data: the shell performs the steps in order,
    registering each one's undo before it acts."""

    kind: StepKind
    path: str
    uid: int = 0
    gid: int = 0
    mode: int = 0o755
    source: str | None = None

    def describe(self, mount: Mount) -> str:
        """The step in words, for the dry run and for messages."""
        if self.kind is StepKind.MAKE_DIRECTORY:
            return (f"create directory {self.path} (owner {self.uid}:{self.gid}, "
                    f"mode {self.mode:04o})")
        if self.kind is StepKind.CREATE_SUBVOLUME:
            return (f"create subvolume {self.path} (owner {self.uid}:{self.gid}, "
                    f"mode {self.mode:04o})")
        if self.kind is StepKind.COPY:
            return (f"copy {self.source}/ into {self.path}/ (reflinks; owners, modes, times, "
                    "xattrs, ACLs, hard links kept)")
        if self.kind is StepKind.RENAME:
            return f"rename {self.source} to {self.path} (the leaf exists from here on)"
        return (f"mount {mount.what} at {mount.where} with -o {','.join(mount.options)} "
                f"(unit {mount.unit})")


@record
class PersistPlan:
    """What ``layout persist`` will do for one path."""

    tree: str
    source: str
    """The directory being persisted (it becomes the mount point)."""
    leaf: tuple[str, ...]
    """The new leaf's path inside the tree."""
    leaf_path: str
    """The new leaf's absolute path (where the finished subvolume is renamed to)."""
    mount: Mount
    steps: tuple[Step, ...]

    @property
    def tree_path(self) -> str:
        """The tree's directory (the leaf's path without its components in the tree)."""
        return self.leaf_path.rsplit("/", len(self.leaf))[0] or "/"

    @property
    def destination(self) -> str:
        """The tree's destination (the source without the leaf's mount components)."""
        return mount_destination(self.mount)

    @property
    def staging_path(self) -> str:
        """Where the subvolume is built (beside the leaf, under a reserved name)."""
        return self.leaf_path.rsplit("/", 1)[0] + "/" + STAGING

    @property
    def created_directories(self) -> tuple[str, ...]:
        return tuple(s.path for s in self.steps if s.kind is StepKind.MAKE_DIRECTORY)


def relative_parts(path: str, base: str) -> tuple[str, ...]:
    """The components of ``path`` below ``base`` (``()`` when equal)."""
    if path == base:
        return ()
    rest = path[len(base):] if base != "/" else path
    return tuple(p for p in rest.split("/") if p)


def leaf_for(parts: tuple[str, ...]) -> tuple[str, ...]:
    """The leaf path in the tree for a path ``parts`` below the destination."""
    if not parts:
        return ("@",)
    return (*parts[:-1], "@" + parts[-1])


def _destinations(tree: TreeConfig, snapshot: Snapshot | None) -> tuple[str, str]:
    """The tree's destination as configured and as the plan mounts it (resolved)."""
    configured = simplify_path(tree.destination)
    scan = snapshot.tree(tree.name) if snapshot is not None else None
    return configured, simplify_path(effective_destination(tree, scan))


def persist_target(config: Config, snapshot: Snapshot, path: str) -> str:
    """``path`` with its tree's destination as the plan mounts it: below a destination
    reached through a symlink (``/home`` to ``/var/home``), the resolved path, which is
    where the leaf will be mounted and what the shell must ``lstat``.  Only the
    destination part is resolved (root's symlinks, by the scan); a symlink below it is
    never followed and is refused later."""
    path = _check_path(path)
    tree = choose_tree(config, path, snapshot)
    configured, real = _destinations(tree, snapshot)
    if real != configured and is_within(path, configured):
        return join(real, relative_parts(path, configured))
    return path


def choose_tree(config: Config, path: str, snapshot: Snapshot | None = None) -> TreeConfig:
    """The tree whose destination (as configured, or resolved in ``snapshot``) holds
    ``path`` most closely."""
    holders = [t for t in config.trees
               if any(is_within(path, d) for d in _destinations(t, snapshot))]
    if not holders:
        known = ", ".join(sorted({t.destination for t in config.trees})) or "none configured"
        raise PersistRefused(
            f"{path}: not below the destination of any layout tree",
            f"persist a directory below one of: {known}",
        )
    return max(holders, key=lambda t: (max(len(d) for d in _destinations(t, snapshot)
                                           if is_within(path, d)), t.name))


def _check_path(path: str) -> str:
    if not isinstance(path, str) or not path.startswith("/"):
        raise PersistRefused(f"{path!r} is not an absolute path", "give the full path")
    if any(ord(c) < 0x20 for c in path):
        raise PersistRefused(f"{path!r} contains a control character")
    simple = simplify_path(path)
    if ".." in simple.split("/"):
        raise PersistRefused(f"{path}: contains '..'", "give the path without '..'")
    return simple


def _refuse_mounts(path: str, plan: Plan, mounts: tuple[MountEntry, ...],
                   tree: TreeConfig) -> None:
    destination = simplify_path(tree.destination)
    for mount in plan.mounts:
        if mount.where == path:
            mounted = any(m.mountpoint == path for m in mounts)
            raise PersistRefused(
                f"{path}: already persisted by leaf {mount.tree}:{'/'.join(mount.path)}",
                (f"nothing to do: it is mounted from {mount.subvol}" if mounted
                 else "it is not mounted yet: run 'layout reload'"),
            )
    for mount in plan.mounts:
        # A leaf of an outer tree may hold this tree's destination: that is fine.
        ours = is_strictly_below(mount.where, destination) or (
            mount.where == destination and mount.tree == tree.name)
        if ours and is_strictly_below(path, mount.where):
            raise PersistRefused(
                f"{path}: inside the leaf {mount.tree}:{'/'.join(mount.path)} mounted at "
                f"{mount.where}",
                "its data is persisted already; persist a path outside that leaf",
            )
    for entry in mounts:
        if entry.mountpoint == path:
            raise PersistRefused(
                f"{path}: something is mounted there already ({entry.fstype} {entry.source})",
                "unmount it first, or persist another directory",
            )
    for entry in mounts:
        if (is_strictly_below(path, entry.mountpoint)
                and is_strictly_below(entry.mountpoint, destination)):
            raise PersistRefused(
                f"{path}: inside the mount point {entry.mountpoint} ({entry.fstype})",
                "persist a directory that is not inside another mount",
            )
    below = sorted({m.where for m in plan.mounts if is_strictly_below(m.where, path)}
                   | {m.mountpoint for m in mounts if is_strictly_below(m.mountpoint, path)})
    if below:
        raise PersistRefused(
            f"{path}: has mount points below it ({', '.join(below[:3])}"
            f"{', ...' if len(below) > 3 else ''})",
            "persist each directory beside them instead",
        )


def plan_persist(config: Config, snapshot: Snapshot, mounts: tuple[MountEntry, ...],
                 path: str, facts: tuple[PathFacts, ...]) -> PersistPlan:
    """Decide how to persist ``path``; raise :class:`PersistRefused` when it cannot be.

    ``facts`` holds an ``lstat`` of every directory from the tree's
    destination (exclusive) down to ``path`` (inclusive); missing ones are
    treated as missing paths.
    """
    path = persist_target(config, snapshot, path)
    tree = choose_tree(config, path, snapshot)
    scan = snapshot.tree(tree.name)
    if scan is None or scan.status is not TreeStatus.OK:
        detail = "was not scanned" if scan is None else (scan.error or scan.status.value)
        raise PersistRefused(f"tree {tree.name!r} at {tree.path}: {detail}",
                             "fix the tree first ('layout check' says what is wrong)")
    for other in config.trees:
        root = simplify_path(other.path)
        if is_within(path, root) or is_within(root, path):
            raise PersistRefused(f"{path}: holds or is inside the layout tree {other.name!r} "
                                 f"({other.path})", "persist a directory outside the trees")
    if scan.destination_error is not None:
        raise PersistRefused(f"tree {tree.name!r}: {scan.destination_error}",
                             "make the destination a real directory, or a symlink only root "
                             "controls ('layout check' reports it as LT045)")
    refused = overlapping_trees(config, snapshot)
    if tree.name in refused:
        raise PersistRefused(f"tree {tree.name!r} {refused[tree.name]}",
                             "give every tree its own directory and destination (LT044)")
    # From here on the tree's destination is where the plan mounts it.
    tree = replace(tree, destination=_destinations(tree, snapshot)[1])
    plan = make_plan(config, snapshot)
    _refuse_mounts(path, plan, mounts, tree)

    destination = simplify_path(tree.destination)
    parts = relative_parts(path, destination)
    by_path = {f.path: f for f in facts}
    chain: list[PathFacts] = []
    for i in range(1, len(parts) + 1):
        here = join(destination, parts[:i])
        fact = by_path.get(here, PathFacts(here, PathKind.MISSING))
        if fact.kind is not PathKind.DIRECTORY:
            what = {PathKind.MISSING: "does not exist", PathKind.SYMLINK: "is a symlink",
                    PathKind.OTHER: "is not a directory"}[fact.kind]
            hint = ("give the path without symlinks" if fact.kind is PathKind.SYMLINK
                    else "persist an existing directory")
            raise PersistRefused(f"{here}: {what}", hint)
        chain.append(fact)
    if not parts:
        source_fact = by_path.get(path)
        if source_fact is None or source_fact.kind is not PathKind.DIRECTORY:
            raise PersistRefused(f"{path}: is not an existing directory",
                                 "persist an existing directory")
        chain.append(source_fact)
    source_fact = chain[-1]

    for name in parts[:-1]:
        if name.startswith("@"):
            raise PersistRefused(
                f"{path}: the directory name {name!r} starts with '@', which a layout tree "
                "reserves for leaves",
                "rename the directory, or persist a path below no '@' name",
            )
    leaf = leaf_for(parts)
    entries = {e.path: e for e in scan.entries}
    if leaf in entries:
        raise PersistRefused(
            f"{join(tree.path, leaf)}: already exists in the tree ({entries[leaf].kind.value})",
            "remove or rename it first",
        )
    steps: list[Step] = []
    added: list[Entry] = []
    for i in range(1, len(leaf)):
        inner = leaf[:i]
        entry = entries.get(inner)
        tree_dir = join(tree.path, inner)
        if entry is None:
            fact = chain[i - 1]
            steps.append(Step(StepKind.MAKE_DIRECTORY, tree_dir, fact.uid, fact.gid, fact.mode))
            added.append(Entry(inner, EntryKind.DIRECTORY, fact.uid, fact.gid, fact.mode))
        elif entry.kind not in (EntryKind.DIRECTORY, EntryKind.SUBVOLUME):
            raise PersistRefused(f"{tree_dir}: is {entry.kind.described} in the tree, not a "
                                 "directory", "the structure of a tree is plain directories")
    leaf_path = join(tree.path, leaf)
    if scan.root_subvol_path is None:
        raise PersistRefused(f"tree {tree.name!r}: its path inside the filesystem is unknown",
                             "scan the tree as root")
    subvolume = Subvolume(path=join(scan.root_subvol_path, leaf))
    added.append(Entry(leaf, EntryKind.SUBVOLUME, source_fact.uid, source_fact.gid,
                       source_fact.mode, subvolume=subvolume))
    mount = _planned_mount(config, snapshot, scan, tuple(added), tree, leaf)
    if mount.where != path:  # cannot happen for a path that passed the checks above
        raise PersistRefused(f"{path}: the new leaf would mount at {mount.where}")
    staging = leaf_path.rsplit("/", 1)[0] + "/" + STAGING
    steps.append(Step(StepKind.CREATE_SUBVOLUME, staging, source_fact.uid, source_fact.gid,
                      source_fact.mode))
    steps.append(Step(StepKind.COPY, staging, source=path))
    steps.append(Step(StepKind.RENAME, leaf_path, source=staging))
    steps.append(Step(StepKind.MOUNT, path))
    return PersistPlan(tree.name, path, leaf, leaf_path, mount, tuple(steps))


def _planned_mount(config: Config, snapshot: Snapshot, scan: TreeScan, added: tuple[Entry, ...],
                   tree: TreeConfig, leaf: tuple[str, ...]) -> Mount:
    """The mount :func:`make_plan` gives the new leaf once it exists."""
    reserved = reserved_paths(scan.root_subvol_path, snapshot_dirs(config))
    for depth in range(1, len(leaf)):
        if is_reserved(leaf[:depth], reserved):
            raise PersistRefused(
                f"{join(tree.path, leaf[:depth])}: the project keeps this name for its own "
                f"work (names starting with {RESERVED_PREFIX!r}, backup snapshot directories); "
                "nothing below it is ever mounted", "choose another directory, or rename it")
    grown = replace(scan, entries=scan.entries + added)
    others = tuple(t for t in snapshot.trees if t.name != scan.name)
    after = make_plan(config, replace(snapshot, trees=(*others, grown)))
    for mount in after.mounts:
        if mount.tree == tree.name and mount.path == leaf:
            return mount
    skip = next((s for s in after.skips if s.tree == tree.name and s.path == leaf), None)
    if skip is None:  # the new leaf would make the planner refuse its whole tree: say why
        skip = next((s for s in after.skips if s.tree == tree.name and s.path == ()), None)
    detail = skip.detail if skip else f"{join(tree.path, leaf)} would not be mounted"
    reason = f" [{skip.reason.value}]" if skip else ""
    raise PersistRefused(f"{detail}{reason}", "choose another directory, or rename it")


def describe(plan: PersistPlan) -> tuple[str, ...]:
    """The steps as lines for ``--dry-run`` and the log."""
    return tuple(step.describe(plan.mount) for step in plan.steps)
