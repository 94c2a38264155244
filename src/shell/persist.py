"""``layout persist PATH``: carry out a persist plan, or undo what was done.

The decisions are made by :func:`layout_trees.core.persist.plan_persist`;
this module gathers its facts (configuration, scan, mount table, ``lstat``
of the path's ancestors) and runs its steps.

Interruption.  The steps run inside :func:`interruptible` (SIGINT, SIGTERM
and SIGHUP alike) and every step registers its undo *before* it acts; the
undo runs with those signals blocked, so a second Ctrl-C cannot cut it
short.  The leaf is built as a subvolume under the reserved name
``.layout-trees-persist`` beside its final name, marked with a ``trusted.``
extended attribute that only root can set, and renamed to its ``@`` name
only once the copy is complete and committed to disk, just before the
mount: a persist killed outright (SIGKILL, power loss) leaves at most that
inert staging subvolume, which no scan mounts and the next persist in that
directory removes.  The original directory is never written to: it is only
read by ``cp`` and, at the end, mounted over.

Paths.  Below the tree and below the destination, directories are reached
with directory descriptors, one component at a time, never following a
symlink (:mod:`.beneath`); ``cp`` and ``mount`` get ``/proc/PID/fd/N`` of
what was opened.  The subvolume is mounted with ``subvolid=`` of the one
created, and the mount is checked in mountinfo (new mount ID, that
subvolume ID, at PATH) before persist reports success.

Mounting follows the machine: with systemd as PID 1 the generator is re-run
(``systemctl daemon-reload``) and the leaf's mount unit started, so systemd
knows the mount exactly as it will after the next boot; otherwise the leaf
is mounted directly.

Also runnable without typer, for minimal systems and units:
``python3 -m layout_trees.shell.persist [--config FILE] [--dry-run] PATH``.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..core.errors import EnvironmentProblem, LayoutError
from ..core.escape import simplify_path
from ..core.persist import (
    STAGING,
    PathFacts,
    PathKind,
    PersistPlan,
    StepKind,
    describe,
    persist_target,
    plan_persist,
)
from ..core.reload import mount_shows, pinned_options
from . import btrfs
from .beneath import (
    RENAME_NOREPLACE,
    fd_path,
    open_beneath,
    open_directory,
    open_path_beneath,
    rename_at,
)
from .configfile import load_strict
from .exits import run_plain
from .interrupt import Interrupted, Undo, interruptible
from .lock import exclusive
from .mounts import (
    daemon_reload,
    mount_btrfs,
    mounts_of,
    read_mounts,
    source_of,
    start_unit,
    stop_unit,
    systemd_is_pid1,
    unmount_exact,
)
from .run import run
from .scan import scan

STAGING_MARK = "trusted.layout-trees.persist"
"""Set on the staging subvolume while it is built; only root can set ``trusted.`` xattrs."""
PAUSE_ENV = "LAYOUT_TREES_PAUSE_AFTER"
"""For the fault-injection tests: a step kind after which persist waits to be interrupted."""


def path_facts(path: str, known: dict[str, PathFacts] | None = None) -> tuple[PathFacts, ...]:
    """An ``lstat`` of ``path`` and each of its ancestors; those in ``known`` (facts of
    earlier calls, which mounts sharing their parents pass on) are not read again."""
    facts: list[PathFacts] = []
    parts = [p for p in path.split("/") if p]
    for i in range(len(parts) + 1):
        here = "/" + "/".join(parts[:i])
        if known is not None and here in known:
            facts.append(known[here])
            continue
        try:
            st = os.lstat(here)
        except FileNotFoundError:
            facts.append(PathFacts(here, PathKind.MISSING))
            continue
        if stat.S_ISLNK(st.st_mode):
            kind = PathKind.SYMLINK
        elif stat.S_ISDIR(st.st_mode):
            kind = PathKind.DIRECTORY
        else:
            kind = PathKind.OTHER
        facts.append(PathFacts(here, kind, st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)))
    return tuple(facts)


def prepare(path: str, config_path: str | None = None) -> PersistPlan:
    """Gather the facts and plan; raises ``PersistRefused`` with a hint when refused."""
    parsed = load_strict(config_path)
    mounts = read_mounts()
    snapshot = scan(parsed.config, full=False, mounts=mounts)
    target = persist_target(parsed.config, snapshot, simplify_path(os.path.abspath(path)))
    return plan_persist(parsed.config, snapshot, mounts, target, path_facts(target))


@dataclass
class _Built:
    """What this run made, filled in as it happens (read by the undo actions)."""

    parent: int = -1
    """Descriptor of the leaf's parent directory in the tree."""
    subvol_id: int | None = None
    before: frozenset[int] = frozenset()
    """Mount IDs that existed before mounting."""
    source: str = ""
    """The tree's filesystem, as mountinfo names its source."""


def _pause(kind: StepKind) -> None:
    if os.environ.get(PAUSE_ENV) == kind.value:
        print(f"paused after {kind.value}", flush=True)
        time.sleep(120)


def _make_directory(parent: int, name: str, uid: int, gid: int, mode: int, path: str,
                    undo: Undo) -> int:
    made: list[bool] = []

    def remove() -> None:
        if made:  # never a directory that appeared meanwhile (mkdir then fails: EEXIST)
            with contextlib.suppress(FileNotFoundError):
                os.rmdir(name, dir_fd=parent)

    undo.add(f"remove directory {path}", remove)
    os.mkdir(name, 0o700, dir_fd=parent)
    made.append(True)
    fd = open_beneath(parent, [name])
    os.fchown(fd, uid, gid)
    os.fchmod(fd, mode)
    return fd


def _is_ours(fd: int) -> bool:
    """A staging subvolume this command made: marked (only root can), or root's and empty
    (killed before the mark was set)."""
    st = os.fstat(fd)
    if st.st_ino != btrfs.SUBVOLUME_INODE:
        return False
    try:
        os.getxattr(fd, STAGING_MARK)
        return True
    except OSError:
        return st.st_uid == 0 and not os.listdir(fd)


def remove_staging(parent: int, where: str) -> bool:
    """Remove a staging subvolume left in ``parent`` by an earlier, killed run; True when
    there was one.  Refuses (without touching it) anything this command did not make."""
    try:
        fd = os.open(STAGING, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                     dir_fd=parent)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise EnvironmentProblem(f"{where}: {exc.strerror}; the name is reserved for persist",
                                 "remove it by hand") from None
    try:
        if not _is_ours(fd):
            raise EnvironmentProblem(f"{where}: not a subvolume persist left behind; the name "
                                     "is reserved for persist", "remove it by hand")
        subvol_id = btrfs.subvolume_id_of(fd)
    finally:
        os.close(fd)
    _delete(parent, subvol_id, where)
    return True


def _delete(parent: int, subvol_id: int, where: str,
            mounted_as: tuple[str, str] | None = None) -> None:
    """Delete subvolume ``subvol_id``, unless it is mounted (``mounted_as``: the source and
    subvolume path a mount of it shows)."""
    if mounted_as is not None and any(m.subvol_id == subvol_id
                                      for m in mounts_of((), *mounted_as)):
        raise EnvironmentProblem(f"{where}: subvolume {subvol_id} is still mounted; not deleted")
    with contextlib.suppress(FileNotFoundError):
        btrfs.delete_subvolume_by_id(parent, subvol_id)


def _discard(built: _Built, where: str, subvol: str) -> None:
    """Undo of the subvolume: delete it by ID (staging or renamed), or, when the ID was
    not read yet, whatever of ours sits at the staging name."""
    if built.subvol_id is not None:
        _delete(built.parent, built.subvol_id, where, (built.source, subvol))
    else:
        remove_staging(built.parent, where)


def _unmount_ours(plan: PersistPlan, built: _Built, systemd: bool) -> None:
    """Undo of the mount, registered before mounting: unmount exactly the mounts of the new
    subvolume made since (none, when the mount never happened)."""
    for entry in mounts_of(built.before, built.source, plan.mount.subvol):
        unmount_exact(entry)
    if systemd:
        if not any(m.mountpoint == plan.mount.where for m in read_mounts()):
            stop_unit(plan.mount.unit)  # cancels a start job that outlived systemctl
        for entry in mounts_of(built.before, built.source, plan.mount.subvol):
            unmount_exact(entry)


def copy_tree(source_fd: int, destination_fd: int, source: str) -> None:
    """Copy the content and attributes of the directory ``source_fd`` into the directory
    ``destination_fd`` (``cp -a``, given ``/proc/PID/fd/N/.``: exactly those directories)."""
    run(["cp", "-a", "--reflink=auto", "-T", "--", fd_path(source_fd, "."),
         fd_path(destination_fd, ".")],
        hint=f"{source} is untouched; free some space or fix the error above")


def _mounted_as_planned(plan: PersistPlan, built: _Built) -> bool:
    made = mounts_of(built.before, built.source, plan.mount.subvol)
    on_top = [m for m in read_mounts() if m.mountpoint == plan.mount.where]
    return (len(made) == 1 and bool(on_top) and on_top[-1].mount_id == made[0].mount_id
            and mount_shows(made[0], plan.mount.subvol, built.subvol_id))


def _mount(plan: PersistPlan, built: _Built, source_fd: int, undo: Undo,
           systemd: bool) -> None:
    assert built.subvol_id is not None
    options = pinned_options(plan.mount.options, built.subvol_id)
    built.before = frozenset(m.mount_id for m in read_mounts())
    undo.add(f"unmount {plan.mount.where}", lambda: _unmount_ours(plan, built, systemd))
    if systemd:
        undo.add_last("re-run the generator (systemctl daemon-reload)", daemon_reload)
        daemon_reload()
        start_unit(plan.mount.unit)
    else:
        mount_btrfs(plan.mount.what, source_fd, options, plan.mount.where)
    if not _mounted_as_planned(plan, built):
        raise EnvironmentProblem(f"{plan.mount.where}: not mounted from {plan.mount.subvol} "
                                 f"(subvolume {built.subvol_id}) after mounting it")


def _build_and_mount(plan: PersistPlan, undo: Undo, systemd: bool,
                     say: Callable[[str], None], fds: contextlib.ExitStack) -> None:
    def keep(fd: int) -> int:
        fds.callback(os.close, fd)
        return fd

    made = {s.path: s for s in plan.steps if s.kind is StepKind.MAKE_DIRECTORY}
    built = _Built(parent=keep(open_directory(plan.tree_path)),
                   source=source_of(plan.tree_path))
    here = plan.tree_path
    for name in plan.leaf[:-1]:
        here = f"{here.rstrip('/')}/{name}"
        step = made.get(here)
        if step is None:
            built.parent = keep(open_beneath(built.parent, [name]))
            continue
        say(step.describe(plan.mount))
        built.parent = keep(_make_directory(built.parent, name, step.uid, step.gid,
                                            step.mode, here, undo))
        _pause(StepKind.MAKE_DIRECTORY)
    if remove_staging(built.parent, plan.staging_path):
        say(f"removed {plan.staging_path}, left by an interrupted persist")
    source_fd = keep(open_path_beneath(plan.destination, plan.source))
    for step in plan.steps:
        if step.kind is StepKind.MAKE_DIRECTORY:
            continue
        say(step.describe(plan.mount))
        if step.kind is StepKind.CREATE_SUBVOLUME:
            undo.add(f"delete subvolume {step.path}",
                     lambda where=step.path: _discard(built, where, plan.mount.subvol))
            btrfs.create_subvolume_at(built.parent, STAGING)
            staging = keep(open_beneath(built.parent, [STAGING]))
            st = os.fstat(staging)  # the name is in a directory its owner can change
            if st.st_ino != btrfs.SUBVOLUME_INODE or st.st_uid != 0 or os.listdir(staging):
                raise EnvironmentProblem(f"{step.path}: not the subvolume just created")
            os.fchmod(staging, 0o700)  # nobody enters while cp fills it; cp -a sets the mode
            os.setxattr(staging, STAGING_MARK, b"1")
            built.subvol_id = btrfs.subvolume_id_of(staging)
        elif step.kind is StepKind.COPY:
            copy_tree(source_fd, staging, plan.source)
            btrfs.sync_filesystem(staging)
        elif step.kind is StepKind.RENAME:
            rename_at(built.parent, STAGING, built.parent, plan.leaf[-1], RENAME_NOREPLACE)
            leaf = open_beneath(built.parent, [plan.leaf[-1]])
            try:
                if btrfs.subvolume_id_of(leaf) != built.subvol_id:
                    raise EnvironmentProblem(f"{plan.leaf_path}: not the subvolume built")
            finally:
                os.close(leaf)
            os.removexattr(staging, STAGING_MARK)
        else:
            _mount(plan, built, source_fd, undo, systemd)
        _pause(step.kind)


def execute(plan: PersistPlan, *, systemd: bool | None = None,
            say: Callable[[str], None] = print) -> None:
    """Run the plan's steps; on any failure or stop signal undo them and raise."""
    systemd = systemd_is_pid1() if systemd is None else systemd
    undo = Undo()
    left: list[str] = []
    with interruptible():
        try:
            with contextlib.ExitStack() as fds:
                try:
                    _build_and_mount(plan, undo, systemd, say, fds)
                except BaseException:
                    left = undo.run(say)
                    raise
        except BaseException as exc:
            failure = exc
        else:
            undo.forget()
            return
    _report(plan, failure, left)


def _report(plan: PersistPlan, exc: BaseException, left: list[str]) -> None:
    if isinstance(exc, LayoutError):
        detail = exc.message
    elif isinstance(exc, OSError):
        detail = f"{exc.filename or ''}: {exc.strerror}"
    elif isinstance(exc, Interrupted):
        detail = f"interrupted by {exc}"
    else:
        detail = repr(exc)
    if left:
        raise EnvironmentProblem(
            f"persisting {plan.source} failed: {detail}; could not undo: " + "; ".join(left),
            "remove what is listed by hand; the original is untouched") from exc
    if not isinstance(exc, Exception):  # interrupted: undone, now end as interrupted
        raise exc
    raise EnvironmentProblem(
        f"persisting {plan.source} failed: {detail}",
        "everything done was undone and the original directory is untouched",
    ) from exc


def persist(path: str, config_path: str | None = None, *, dry_run: bool = False,
            say: Callable[[str], None] = print) -> PersistPlan:
    if dry_run:
        plan = prepare(path, config_path)
        say(f"would persist {plan.source} as {plan.leaf_path} (tree {plan.tree}):")
        for line in describe(plan):
            say(f"  {line}")
        return plan
    with exclusive():
        plan = prepare(path, config_path)
        execute(plan, say=say)
    say(f"persisted {plan.source}: now mounted from {plan.leaf_path}")
    return plan


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="layout persist")
    parser.add_argument("--config", "-c")
    parser.add_argument("--dry-run", "-n", action="store_true")
    parser.add_argument("path")
    args = parser.parse_args(argv)

    def action() -> None:
        persist(args.path, args.config, dry_run=args.dry_run)

    try:
        return run_plain(action)
    except Interrupted as exc:
        print(f"layout: interrupted by {exc}; everything done was undone", file=sys.stderr)
        return 128 + exc.signum


if __name__ == "__main__":
    raise SystemExit(main())
