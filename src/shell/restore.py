"""``layout restore``: rebuild a layout tree from a backup target alone.

Reads the manifest stored on the target and validates it whole, lists the
target's backups, rebuilds the tree's structure directories (owners and
modes from the manifest), and for every leaf receives the latest complete
backup into the policy's snapshot directory at the destination filesystem's
top level (incrementally against a copy received earlier, when there is one)
and makes a writable snapshot of it at the leaf's place.  Decisions come
from :func:`layout_trees.core.backup.restore.plan_restore`; this module
gathers the facts and carries the steps out.

Safety, step by step:

- the whole run holds the trees lock (no ``reload`` or ``persist`` sees the
  tree half-restored);
- everything below ``--into`` is reached through directory descriptors
  without following symlinks (:mod:`~layout_trees.shell.beneath`): a symlink
  or a file where a directory or a leaf belongs is reported and left alone;
- a directory, an empty leaf or a placed leaf is built under the name
  ``.layout-trees-restore`` in its parent, with its final owner and mode,
  and renamed into place last (``renameat2``, never replacing; a leaf being
  replaced is exchanged atomically, then deleted): a scan never sees
  anything half-made under a real name, and an interrupted run never leaves
  a directory with a provisional mode;
- a backup is received with ``btrfs receive --chroot`` into the snapshot
  directory (a received subvolume is read-only, and a read-only
  subvolume cannot be moved to another directory, so it is received in
  place) and checked before it is used: exactly one new entry, under the
  expected name, a read-only subvolume with the received UUID the target
  listed; anything else is deleted.  An interrupted receive leaves a
  writable subvolume without a received UUID, which no command counts as a
  copy and the next run deletes;
- existing directories keep their owners and modes unless ``--overwrite``;
- interrupted (SIGINT, SIGTERM, SIGHUP), the step's undo removes what it
  was building; killed, the leftovers carry the ``.layout-trees-`` names,
  which the next run removes before it builds again.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from ..core.backup.btrbk import ListedSubvolume, data_id
from ..core.backup.drop import in_use
from ..core.backup.manifest import Leaf, Manifest, ManifestError, Tree, manifest_from_json
from ..core.backup.policy import snapshot_dir_of
from ..core.backup.restore import (
    LocalLeaf,
    RestoreStep,
    pick_tree,
    plan_restore,
    select_leaves,
)
from ..core.errors import EnvironmentProblem, LayoutError, UserError
from ..core.mountinfo import containing_mount
from ..core.record import replace
from ..core.reserved import RESERVED_PREFIX
from . import btrfs
from .backup import top_levels
from .backup_target import Target
from .beneath import (
    RENAME_EXCHANGE,
    RENAME_NOREPLACE,
    NotBeneath,
    fd_path,
    is_directory,
    lstat_at,
    open_below,
    open_dir,
    opened,
    rename_at,
)
from .drop import holders, leaf_changed, remove_stale_checks
from .interrupt import Undo, interruptible
from .lock import exclusive
from .mounttable import mount_tables, read_mounts

STAGE = RESERVED_PREFIX + "-restore"
"""Where a directory or leaf is built, in its parent, before it is renamed into place."""


@dataclass
class RestoreReport:
    """What a restore did: each step with the error that stopped it, and problems."""

    steps: list[tuple[RestoreStep, str | None]]
    """Each step with the error that stopped it, if any."""
    problems: list[str] = field(default_factory=list)
    """Structure that could not be restored."""

    @property
    def failed(self) -> bool:
        return bool(self.problems) or any(step.error or err for step, err in self.steps)


def read_manifest(target: Target) -> Manifest:
    """The target's manifest, validated whole (it is untrusted: the target may be hostile)."""
    try:
        text = target.read_manifest()
        return manifest_from_json(text)
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{target.url}: the manifest is not UTF-8 text (byte {exc.start})",
                            "the file is damaged or not a manifest") from None
    except ManifestError as exc:
        raise ManifestError(f"{target.url}: {exc.message}", exc.hint) from None


@contextlib.contextmanager
def _undoable(say: Callable[[str], None]) -> Iterator[Undo]:
    """An :class:`Undo` for one step: run (signals blocked) if the step does not finish."""
    undo = Undo()
    try:
        yield undo
    except BaseException:
        left = undo.run(say)
        for what in left:
            say(f"could not undo: {what}")
        raise
    undo.forget()


def _remove(dir_fd: int, name: str) -> None:
    """Remove ``name`` in ``dir_fd`` if it is there: a subvolume, an empty directory, or
    anything else that is not a directory (a symlink is removed, never followed)."""
    st = lstat_at(dir_fd, name)
    if st is None:
        return
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(name, dir_fd=dir_fd)
    elif st.st_ino == btrfs.SUBVOLUME_INODE:
        btrfs.delete_subvolume(fd_path(dir_fd, name))
    else:
        os.rmdir(name, dir_fd=dir_fd)


def _build(parent_fd: int, name: str, uid: int, gid: int, mode: int, subvolume: bool,
           say: Callable[[str], None], finish: Callable[[int], None] | None = None) -> None:
    """Make directory (or subvolume) ``name`` in ``parent_fd`` with its final owner and mode:
    built as :data:`STAGE`, renamed into place last, never replacing anything."""
    _remove(parent_fd, STAGE)
    with _undoable(say) as undo:
        undo.add(f"remove {STAGE}", lambda: _remove(parent_fd, STAGE))
        if subvolume:
            btrfs.create_subvolume(fd_path(parent_fd, STAGE))
        else:
            os.mkdir(STAGE, 0o700, dir_fd=parent_fd)
        with opened(open_below(parent_fd, [STAGE])) as fd:
            os.fchown(fd, uid, gid)
            os.fchmod(fd, mode)
            if finish is not None:
                finish(fd)
        rename_at(parent_fd, STAGE, parent_fd, name, RENAME_NOREPLACE)


def _same(a: os.stat_result | None, b: os.stat_result) -> bool:
    return a is not None and (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


class _Restore:
    def __init__(self, target: Target, manifest: Manifest, tree: Tree,
                 wanted: tuple[str, ...] | None, overwrite: bool,
                 say: Callable[[str], None]) -> None:
        self.target = target
        self.manifest = manifest
        self.tree = tree
        self.wanted = wanted
        self.overwrite = overwrite
        self.say = say
        self.report = RestoreReport([])
        self.blocked: dict[tuple[str, ...], str] = {}
        """Directories (by path in the tree) that are not restored, and why."""

    def problem(self, where: tuple[str, ...], message: str) -> None:
        self.report.problems.append(message)
        self.say(f"{'FAILED':6} {self.tree.name}:{'/'.join(where) or '.'}: {message}")

    def _blocked_by(self, path: tuple[str, ...]) -> str | None:
        for i in range(len(path) + 1):
            if path[:i] in self.blocked:
                return self.blocked[path[:i]]
        return None

    # --- structure -----------------------------------------------------------------------

    def root(self, into: str) -> int:
        """Open (or make) the tree's root at ``into``."""
        tree = self.tree
        parent, name = os.path.split(into)
        with opened(open_dir(parent)) as parent_fd:
            st = lstat_at(parent_fd, name)
            if st is None:
                _build(parent_fd, name, tree.uid, tree.gid, tree.mode, False, self.say)
            fd = open_below(parent_fd, [name], parent)
        if st is not None and self.overwrite:
            os.fchown(fd, tree.uid, tree.gid)
            os.fchmod(fd, tree.mode)
        return fd

    def structure(self, into_fd: int, into: str, snaps: os.stat_result) -> None:
        wanted = self.wanted
        for d in sorted(self.tree.directories, key=lambda d: d.path):
            if wanted is not None and d.path != wanted[:len(d.path)]:
                continue
            if self._blocked_by(d.path[:-1]) is not None:
                self.blocked[d.path] = self._blocked_by(d.path[:-1]) or ""
                continue
            try:
                with opened(open_below(into_fd, d.path[:-1], into)) as parent_fd:
                    st = lstat_at(parent_fd, d.path[-1])
                    if st is None:
                        _build(parent_fd, d.path[-1], d.uid, d.gid, d.mode, d.subvolume,
                               self.say)
                        continue
                    if not stat.S_ISDIR(st.st_mode):
                        raise NotBeneath(f"{os.path.join(into, *d.path)}: not a directory "
                                         "(a symlink or a file); not followed")
                    if _same(st, snaps):
                        self.blocked[d.path] = "it is the snapshot directory"
                        self.say(f"{'skip':6} {self.tree.name}:{'/'.join(d.path)}: the "
                                 "snapshot directory is never part of a tree")
                        continue
                    if self.overwrite:
                        with opened(open_below(parent_fd, [d.path[-1]])) as fd:
                            os.fchown(fd, d.uid, d.gid)
                            os.fchmod(fd, d.mode)
            except (LayoutError, OSError) as exc:
                message = getattr(exc, "message", None) or _oserror(exc)
                self.blocked[d.path] = message
                self.problem(d.path, message)

    # --- leaves --------------------------------------------------------------------------

    def existing(self, into_fd: int, into: str, snaps_fd: int,
                 by_uuid: dict[str | None, str], leaves: tuple[Leaf, ...],
                 undo: Undo) -> dict[tuple[str, ...], LocalLeaf]:
        """What is already at each leaf's place, whether it changed since it was restored,
        and whether it is in use (mounted anywhere, or files in it open)."""
        found: dict[tuple[str, ...], LocalLeaf] = {}
        seen: dict[tuple[str, ...], tuple[int, int, str]] = {}
        for leaf in leaves:
            why = self._blocked_by(leaf.path[:-1])
            if why is not None:
                found[leaf.path] = LocalLeaf(None, True, blocked=f"its directory: {why}")
                continue
            try:
                parent_fd = open_below(into_fd, leaf.path[:-1], into)
            except FileNotFoundError:
                continue
            except NotBeneath as exc:
                found[leaf.path] = LocalLeaf(None, True, blocked=exc.message)
                continue
            with opened(parent_fd):
                st = lstat_at(parent_fd, leaf.path[-1])
                if st is None:
                    continue
                if not is_directory(st) or st.st_ino != btrfs.SUBVOLUME_INODE:
                    found[leaf.path] = LocalLeaf(None, True, blocked=(
                        f"{os.path.join(into, *leaf.path)} is there and is not a subvolume "
                        "(a symlink, a file or a plain directory); left alone"))
                    continue
                with opened(open_below(parent_fd, [leaf.path[-1]])) as fd:
                    facts = btrfs.subvolume_facts(fd_path(fd), "", full=True)
                    origin = by_uuid.get(facts.get("parent_uuid"))
                    changed = True if origin is None else leaf_changed(
                        fd_path(snaps_fd, origin), fd_path(fd), fd_path(snaps_fd), undo)
                    seen[leaf.path] = (os.fstat(fd).st_dev, int(facts["id"]),
                                       str(facts["path"]))
            found[leaf.path] = LocalLeaf(origin, changed)
        if seen:
            tables = mount_tables()
            mount = containing_mount(tables.get("", ()), os.path.realpath(into))
            users = holders({dev for dev, _, _ in seen.values()})
            for path, (dev, sub_id, sub_path) in seen.items():
                reasons = in_use(tables, mount.source if mount else "", sub_id, sub_path,
                                 tuple(users.get(dev, ())))
                if reasons:
                    found[path] = replace(found[path], busy="; ".join(reasons))
        return found

    def execute(self, step: RestoreStep, into_fd: int, snaps_fd: int,
                listing: dict[str, ListedSubvolume]) -> None:
        leaf = step.leaf
        if step.receive is not None:
            self.receive(snaps_fd, step.receive, step.parent, listing[step.receive])
        if step.place is None and not step.create_empty:
            return
        with opened(open_below(into_fd, leaf.path[:-1])) as parent_fd:
            name = leaf.path[-1]
            _remove(parent_fd, STAGE)
            if step.create_empty:
                def finish(fd: int) -> None:
                    os.setxattr(fd, btrfs.BACKUP_XATTR, b"skip")

                _build(parent_fd, name, leaf.uid, leaf.gid, leaf.mode, True, self.say, finish)
                return
            assert step.place is not None
            with _undoable(self.say) as undo:
                undo.add(f"delete {STAGE}", lambda: _remove(parent_fd, STAGE))
                btrfs.create_snapshot(fd_path(snaps_fd, step.place), fd_path(parent_fd, STAGE))
                if step.replace and lstat_at(parent_fd, name) is not None:
                    st = lstat_at(parent_fd, name)
                    if not is_directory(st) or st is None or \
                            st.st_ino != btrfs.SUBVOLUME_INODE:
                        raise EnvironmentProblem(f"{leaf.relpath}: not a subvolume any more; "
                                                 "left alone")
                    # the old leaf takes the staging name, and goes with the undo
                    rename_at(parent_fd, STAGE, parent_fd, name, RENAME_EXCHANGE)
                    _remove(parent_fd, STAGE)
                else:
                    rename_at(parent_fd, STAGE, parent_fd, name, RENAME_NOREPLACE)

    def receive(self, snaps_fd: int, name: str, parent: str | None,
                listed: ListedSubvolume) -> None:
        """Receive backup ``name`` into the snapshot directory (``--chroot``: the stream
        cannot write elsewhere), and check what arrived before it is used."""
        if lstat_at(snaps_fd, name) is not None:
            _remove_incomplete(snaps_fd, name)
        before = set(os.listdir(fd_path(snaps_fd)))
        with _undoable(self.say) as undo:
            undo.add(f"delete the partial copy {name}", lambda: _discard(snaps_fd, before))
            btrfs.receive(self.target.send_argv(name, parent), fd_path(snaps_fd),
                          hint="is there enough space on the destination?")
            arrived = sorted(set(os.listdir(fd_path(snaps_fd))) - before)
            if arrived != [name]:
                raise EnvironmentProblem(
                    f"the stream of {name} made {', '.join(map(repr, arrived)) or 'nothing'}"
                    f" instead of {name!r}; not used", "is the backup target trustworthy?")
            st = lstat_at(snaps_fd, name)
            info = btrfs.subvolume_facts(fd_path(snaps_fd, name), "", full=True) if (
                st is not None and is_directory(st)
                and st.st_ino == btrfs.SUBVOLUME_INODE) else {}
            if not info.get("read_only") or info.get("received_uuid") != data_id(listed):
                raise EnvironmentProblem(
                    f"{name}: what arrived is not a complete read-only copy of the listed "
                    f"backup (received UUID {info.get('received_uuid')}, expected "
                    f"{data_id(listed)}); not used", "is the backup target trustworthy?")


def _discard(snaps_fd: int, before: set[str]) -> None:
    """Delete what a receive made in the snapshot directory (a partial or unexpected copy),
    and wait until its space is free again (after a full disk, the next leaf needs it)."""
    ids = []
    for name in sorted(set(os.listdir(fd_path(snaps_fd))) - before):
        st = lstat_at(snaps_fd, name)
        if is_directory(st) and st is not None and st.st_ino == btrfs.SUBVOLUME_INODE:
            ids.append(btrfs.subvolume_id_of(fd_path(snaps_fd, name)))
        _remove(snaps_fd, name)
    btrfs.wait_deleted(fd_path(snaps_fd), ids)


def _remove_incomplete(snaps_fd: int, name: str) -> None:
    """Delete a copy left by an interrupted receive (writable, no received UUID)."""
    facts = btrfs.subvolume_facts(fd_path(snaps_fd, name), "", full=True)
    if facts.get("read_only") and facts.get("received_uuid"):
        raise EnvironmentProblem(f"{name}: a different complete copy is in the snapshot "
                                 "directory under this name", "move it away")
    btrfs.delete_subvolume(fd_path(snaps_fd, name))


def _preview(run: _Restore, into: str, exists: bool, snapshot_dir: str,
             listing: tuple[ListedSubvolume, ...], leaves: tuple[Leaf, ...]) -> RestoreReport:
    """The steps a restore would take, said with "would"; nothing is created or received.
    What is already at ``into`` is looked at (read only); a missing directory is empty."""
    local: tuple[ListedSubvolume, ...] = ()
    existing: dict[tuple[str, ...], LocalLeaf] = {}
    if exists:
        with top_levels({"into": into}) as tops, opened(open_dir(tops["into"])) as top_fd:
            try:
                snaps_fd = open_below(top_fd, snapshot_dir.split("/"), tops["into"])
            except FileNotFoundError:
                snaps_fd = None
            if snaps_fd is not None:
                with opened(snaps_fd), opened(open_dir(into)) as into_fd:
                    local = Target(fd_path(snaps_fd)).listing()
                    by_uuid: dict[str | None, str] = {
                        s.uuid: s.name for s in local if s.read_only and s.received_uuid}
                    with _undoable(run.say) as undo:
                        existing = run.existing(into_fd, into, snaps_fd, by_uuid, leaves, undo)
    tree = run.tree
    for d in sorted(tree.directories, key=lambda d: d.path):
        wanted = run.wanted is None or d.path == run.wanted[:len(d.path)]
        if wanted and not os.path.lexists(os.path.join(into, *d.path)):
            run.say(f"{'would':6} {tree.name}:{'/'.join(d.path)}: create "
                    f"{'subvolume' if d.subvolume else 'directory'}")
    for step in plan_restore(run.manifest, tree.name, listing, local, existing, run.wanted,
                             run.overwrite):
        run.report.steps.append((step, None))
        mark = "FAILED" if step.error else "would"
        run.say(f"{mark:6} {tree.name}:{step.leaf.relpath}: {step.message}")
    return run.report


def _oserror(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        name = exc.filename if isinstance(exc.filename, str) else ""
        return f"{name + ': ' if name else ''}{exc.strerror or exc}"
    return str(exc)


def restore(url: str, into: str, tree_name: str | None = None,
            subvolume: str | None = None, overwrite: bool = False,
            say: Callable[[str], None] = print, dry_run: bool = False) -> RestoreReport:
    """Restore ``tree_name`` (or only leaf ``subvolume``) from ``url`` into ``into``;
    ``dry_run``: say what would be restored and change nothing."""
    with interruptible(), exclusive():
        try:
            return _restore(url, into, tree_name, subvolume, overwrite, say, dry_run)
        except OSError as exc:
            raise EnvironmentProblem(f"restore stopped: {_oserror(exc)}",
                                     "fix the cause and run the command again: it resumes"
                                     ) from None


def _missing_parents(parent: str) -> tuple[str, list[str]]:
    """The nearest existing ancestor of ``parent`` and the components below it that are
    missing (made later, mode 0755, never through a symlink); refused unless that
    ancestor is a directory on a btrfs filesystem, naming the first missing directory."""
    base, missing = parent, []
    while not os.path.lexists(base):
        base, name = os.path.split(base)
        missing.insert(0, name)
    if not missing:
        if not os.path.isdir(parent):
            raise UserError(f"{parent}: not a directory", "give a path on the new btrfs filesystem")
        return parent, missing
    first = os.path.join(base, missing[0])
    if os.path.islink(base) or not os.path.isdir(base):
        raise UserError(f"{first}: does not exist, and {base} is not a directory "
                        "(or is a symlink, not followed)",
                        "give a path on the new btrfs filesystem")
    mount = containing_mount(read_mounts(), os.path.realpath(base))
    if mount is None or mount.fstype != "btrfs":
        raise EnvironmentProblem(
            f"{first}: does not exist, and {base} is not on a btrfs filesystem",
            f"mount the new btrfs filesystem at {first} or below {base}, then run again")
    return base, missing


def _restore(url: str, into: str, tree_name: str | None, subvolume: str | None,
             overwrite: bool, say: Callable[[str], None], dry_run: bool = False
             ) -> RestoreReport:
    target = Target(url)
    manifest = read_manifest(target)
    tree = pick_tree(manifest, tree_name)
    wanted = None if subvolume is None else tuple(p for p in subvolume.split("/") if p)
    into = os.path.abspath(into)
    snapshot_dir = snapshot_dir_of(tree.policy)
    parent = os.path.dirname(into)
    exists = os.path.lexists(into)
    if exists and os.path.islink(into):
        raise UserError(f"{into}: is a symlink; not followed", "give the directory's own path")
    if exists and not os.path.isdir(into):
        raise UserError(f"{into}: exists and is not a directory",
                        "give a new or an existing directory on the btrfs filesystem")
    base, missing = _missing_parents(parent)
    listing = target.listing()
    by_name = {s.name: s for s in listing}
    run = _Restore(target, manifest, tree, wanted, overwrite, say)
    leaves = select_leaves(manifest, tree.name, wanted)
    if dry_run:
        if missing:
            say(f"{'would':6} create {parent}")
        return _preview(run, into, exists, snapshot_dir, listing, leaves)
    if missing:
        with opened(open_dir(base)) as base_fd:
            os.close(open_below(base_fd, missing, base, make=0o755))
        say(f"created {parent}")
    with top_levels({"into": into if exists else parent}) as tops:
        with opened(open_dir(tops["into"])) as top_fd:
            snaps_fd = open_below(top_fd, snapshot_dir.split("/"), tops["into"], make=0o755)
        with opened(snaps_fd), opened(run.root(into)) as into_fd:
            remove_stale_checks(fd_path(snaps_fd))
            run.structure(into_fd, into, os.fstat(snaps_fd))
            local = Target(fd_path(snaps_fd)).listing()
            by_uuid: dict[str | None, str] = {
                s.uuid: s.name for s in local if s.read_only and s.received_uuid}
            with _undoable(say) as undo:
                existing = run.existing(into_fd, into, snaps_fd, by_uuid, leaves, undo)
            steps = plan_restore(manifest, tree.name, listing, local, existing, wanted,
                                 overwrite)
            for step in steps:
                error = None
                if step.receive is not None and step.receive not in by_name:
                    error = f"{step.receive} is not in the target's listing"
                else:
                    try:
                        run.execute(step, into_fd, snaps_fd, by_name)
                    except (LayoutError, OSError) as exc:
                        error = getattr(exc, "message", None) or _oserror(exc)
                run.report.steps.append((step, error))
                mark = "FAILED" if (step.error or error) else "ok"
                say(f"{mark:6} {tree.name}:{step.leaf.relpath}: {step.message}"
                    + (f" -- {error}" if error else ""))
    return run.report
