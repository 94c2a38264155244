"""``layout reload``: mount new leaves, unmount vanished ones, report each change.

With systemd as PID 1 the generator is re-run first (``systemctl
daemon-reload``), so the unit files match the trees, and mounts are started
and stopped as units; without it (containers, test hosts) the same changes are
made with ``mount`` and ``umount``.  Either way the decisions come from
:func:`layout_trees.core.reload.diff_mounts`, comparing a fresh scan's plan
with this namespace's mount table.

A vanished leaf is unmounted only when nothing holds it: before unmounting,
``/proc`` is searched for processes whose working directory, root, open
files or mapped files are below the mount point, and if there are any the
mount stays and they are reported.  The unmount is never lazy, so a holder
we could not see (another mount namespace) makes it fail with "busy", which
is reported the same way.  It names the mount identified in mountinfo (by
its mount ID, checked to be still on top: :func:`.mounts.unmount_exact`);
a foreign mount stacked on a stale leaf is never unmounted.

A new leaf is opened from the tree without following symlinks and mounted
with ``subvolid=`` of what was opened (the kernel refuses when ``subvol=``
names another subvolume by then), on its mount point opened the same way
below the destination; afterwards mountinfo must show that subvolume ID on
top there, else the new mount is unmounted by its ID.  Structure
directories below a destination get the plan's owners and modes whenever
they differ (created when missing), without following symlinks.

Runnable without typer (for ``layout-trees-reload.service``):
``python3 -m layout_trees.shell.reload [--config FILE] [--dry-run]``.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass

from ..core.config import Config
from ..core.errors import EnvironmentProblem, LayoutError
from ..core.escape import simplify_path
from ..core.model import Snapshot
from ..core.paths import is_within
from ..core.persist import PathFacts, crossings_of, mount_destination
from ..core.plan import DirectorySpec, Mount, Plan, make_plan
from ..core.record import replace
from ..core.reload import Change, ChangeKind, ReloadPlan, diff_mounts, pinned_options
from ..core.watch import watch_unit_name
from ..core.wording import count
from . import btrfs
from .beneath import components, open_beneath, open_directory
from .configfile import load_strict
from .exits import EXIT_ENVIRONMENT, EXIT_FINDINGS, EXIT_OK, run_plain
from .lock import exclusive
from .mounts import (
    daemon_reload,
    mount_btrfs,
    read_mounts,
    start_unit,
    start_unit_quietly,
    systemd_is_pid1,
    unmount_exact,
)
from .persist import path_facts
from .scan import scan

EXIT_KEPT = EXIT_FINDINGS  # a vanished leaf still in use was kept mounted
RECHECKS = 2


@dataclass(frozen=True)
class Holder:
    """A process that keeps a mount busy, and how (for the message when it cannot go)."""

    pid: int
    command: str
    how: str
    """``cwd``, ``root``, ``fd 3``, ``mapped``."""

    def __str__(self) -> str:
        return f"pid {self.pid} ({self.command}, {self.how})"


def _inside(path: str, where: str) -> bool:
    path = path.removesuffix(" (deleted)")
    return is_within(path, where)


def holders(where: str, limit: int = 5) -> list[Holder]:
    """Processes using something below ``where`` (as far as /proc shows)."""
    found: list[Holder] = []
    me = os.getpid()
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        base = f"/proc/{name}"
        uses: list[str] = []
        for link in ("cwd", "root", "exe"):
            try:
                if _inside(os.readlink(f"{base}/{link}"), where):
                    uses.append(link)
            except OSError:
                continue
        try:
            for fd in os.listdir(f"{base}/fd"):
                try:
                    if _inside(os.readlink(f"{base}/fd/{fd}"), where):
                        uses.append(f"fd {fd}")
                        break
                except OSError:
                    continue
        except OSError:
            pass
        try:
            with open(f"{base}/maps", encoding="utf-8", errors="surrogateescape") as handle:
                if any(_inside(line.split(None, 5)[-1].rstrip("\n"), where)
                       for line in handle if line.count(" ") >= 5 and "/" in line):
                    uses.append("mapped file")
        except OSError:
            pass
        if uses:
            try:
                with open(f"{base}/comm", encoding="utf-8", errors="replace") as handle:
                    command = handle.read().strip()
            except OSError:
                command = "?"
            found.append(Holder(int(name), command, ", ".join(dict.fromkeys(uses))))
            if len(found) >= limit:
                break
    return found


def with_crossings(snapshot: Snapshot, plan: Plan) -> Snapshot:
    """``snapshot`` with the symlinks (and non-directories) found, by ``lstat``, on the way
    from each destination to its planned mount points."""
    facts: dict[str, PathFacts] = {}
    for mount in plan.mounts:
        for fact in path_facts(mount.where, facts):
            facts[fact.path] = fact
    return replace(snapshot, crossings=crossings_of(plan, tuple(facts.values())))


def prepare(config: Config, *, systemd: bool) -> ReloadPlan:
    """Re-run the generator (with systemd), scan, plan and diff against the mount table."""
    if systemd:
        daemon_reload()
    mounts = read_mounts()
    snapshot = scan(config, full=False, mounts=mounts)
    plan = make_plan(config, snapshot)
    return diff_mounts(config, with_crossings(snapshot, plan), plan, mounts)


def _walk_making(destination: str, path: str, last_mode: int) -> int:
    """Open ``path`` below ``destination`` without following symlinks, making missing
    directories (mode 0755, the last one 0700 until its owner and mode are set)."""
    os.makedirs(destination, exist_ok=True)
    fd = open_directory(destination)
    try:
        parts = components(path)[len(components(destination)):]
        for i, name in enumerate(parts):
            try:
                inner = open_beneath(fd, [name])
            except FileNotFoundError:
                last = i == len(parts) - 1
                os.mkdir(name, last_mode if last else 0o755, dir_fd=fd)
                inner = open_beneath(fd, [name])
            os.close(fd)
            fd = inner
    except BaseException:
        os.close(fd)
        raise
    return fd


def _apply_directory(destination: str, spec: DirectorySpec,
                     say: Callable[[str], None]) -> None:
    """Make ``spec`` exist with its owner and mode, reached without following symlinks."""
    fd = _walk_making(destination, spec.path, 0o700)
    try:
        st = os.fstat(fd)
        if (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) != (spec.uid, spec.gid, spec.mode):
            os.fchown(fd, spec.uid, spec.gid)
            os.fchmod(fd, spec.mode)
            say(f"set {spec.path} to owner {spec.uid}:{spec.gid}, mode {spec.mode:04o} "
                f"(was {st.st_uid}:{st.st_gid}, {stat.S_IMODE(st.st_mode):04o})")
    finally:
        os.close(fd)


def _apply_directories(config: Config, plan: ReloadPlan, mounted: set[str],
                       done: set[str], say: Callable[[str], None]) -> int:
    """Apply the directory specs not done yet whose containing leaf is mounted (or none)."""
    status = EXIT_OK
    for spec in plan.directories:
        if spec.path in done or (spec.within is not None and spec.within not in mounted):
            continue
        done.add(spec.path)
        destination = plan.destination(spec.tree)
        if destination is None:
            continue
        try:
            _apply_directory(destination, spec, say)
        except OSError as exc:
            say(f"error: cannot set up {spec.path}: {exc.strerror}")
            status = EXIT_ENVIRONMENT
    return status


def scanned_subvolume_id(config: Config, mount: Mount) -> int:
    """The ID of the leaf subvolume now at the mount's path in the tree, opened without
    following symlinks (a symlink swapped in at any component is refused)."""
    tree = config.tree(mount.tree)
    assert tree is not None
    root = open_directory(tree.path)
    try:
        fd = open_beneath(root, mount.path)
    finally:
        os.close(root)
    try:
        if os.fstat(fd).st_ino != btrfs.SUBVOLUME_INODE:
            raise EnvironmentProblem(f"{tree.path}/{'/'.join(mount.path)}: not a subvolume")
        return btrfs.subvolume_id_of(fd)
    finally:
        os.close(fd)


def _mount(config: Config, change: Change, systemd: bool) -> None:
    mount = change.mount
    assert mount is not None
    try:
        subvol_id = scanned_subvolume_id(config, mount)
    except OSError as exc:
        raise EnvironmentProblem(f"{mount.subvol}: cannot open the leaf without following a "
                                 f"symlink ({exc.strerror})") from None
    options = pinned_options(mount.options, subvol_id)
    before = frozenset(m.mount_id for m in read_mounts())
    if systemd:
        if mount.semantics.automount:
            start_unit(mount.automount_unit)
            return
        start_unit(mount.unit)
    else:
        fd = _walk_making(mount_destination(mount), mount.where, 0o755)
        try:
            mount_btrfs(mount.what, fd, options, mount.where)
        finally:
            os.close(fd)
    _verify(mount, before, subvol_id)


def _verify(mount: Mount, before: frozenset[int], subvol_id: int) -> None:
    """The new mount must show the subvolume that was opened, on top at its mount point;
    anything else this mount made is unmounted by its ID."""
    table = read_mounts()
    made = [m for m in table if m.mount_id not in before and m.fstype == "btrfs"
            and simplify_path(m.mountpoint) == mount.where]
    top = [m for m in table if simplify_path(m.mountpoint) == mount.where]
    if (len(made) == 1 and top and top[-1].mount_id == made[0].mount_id
            and made[0].subvol_id == subvol_id
            and simplify_path(made[0].root) == simplify_path(mount.subvol)):
        return
    for entry in reversed(made):
        unmount_exact(entry)
    raise EnvironmentProblem(f"{mount.where}: the mounted subvolume was not the one scanned "
                             f"({mount.subvol}, ID {subvol_id}); unmounted again",
                             "the tree changed meanwhile: run 'layout reload' again")


def _unmount(change: Change) -> None:
    if change.entry is None:
        raise EnvironmentProblem(f"{change.where}: no mount identified")
    unmount_exact(change.entry)


def execute(config: Config, plan: ReloadPlan, *, systemd: bool,
            say: Callable[[str], None] = print) -> int:
    """Make the changes; report each one; return the exit status."""
    status = EXIT_OK
    for note in plan.notes:
        say(f"note: {note}")
    for change in plan.of(ChangeKind.UNMOUNT):
        held = holders(change.where)
        if held:
            say(f"kept {change.where} ({change.tree}:{'/'.join(change.leaf)}): "
                f"{change.detail}, but it is in use by " + ", ".join(map(str, held)))
            status = max(status, EXIT_KEPT)
            continue
        try:
            _unmount(change)
        except LayoutError as exc:
            say(f"kept {change.where}: cannot unmount: {exc.message}")
            status = max(status, EXIT_KEPT)
            continue
        say(f"unmounted {change.where} ({change.tree}:{'/'.join(change.leaf)}): {change.detail}")
    mounted = set(plan.unchanged)
    done: set[str] = set()
    status = max(status, _apply_directories(config, plan, mounted, done, say))
    for change in plan.changes:
        if change.kind is ChangeKind.MOUNT:
            try:
                _mount(config, change, systemd)
            except LayoutError as exc:
                say(f"error: cannot mount {change.where}: {exc}")
                status = EXIT_ENVIRONMENT
                continue
            except OSError as exc:
                say(f"error: cannot mount {change.where}: {exc.filename or ''}: {exc.strerror}")
                status = EXIT_ENVIRONMENT
                continue
            mounted.add(change.where)
            status = max(status, _apply_directories(config, plan, mounted, done, say))
            say(f"mounted {change.where} ({change.tree}:{'/'.join(change.leaf)}): "
                f"{change.detail}")
        elif change.kind is not ChangeKind.UNMOUNT:
            say(change.describe())
            if change.kind is not ChangeKind.NOT_STARTED:
                status = max(status, EXIT_KEPT)
    if systemd:
        for tree in config.trees:
            if tree.watch and not start_unit_quietly(watch_unit_name(tree.name)):
                say(f"warning: cannot start {watch_unit_name(tree.name)}")
    if not plan.changes:
        say(f"nothing to do: {count(len(plan.unchanged), 'leaf mount')} as planned")
    return status


def reload(config_path: str | None = None, *, dry_run: bool = False,
           systemd: bool | None = None, say: Callable[[str], None] = print) -> int:
    parsed = load_strict(config_path)
    systemd = systemd_is_pid1() if systemd is None else systemd
    if not dry_run:
        with exclusive():
            plan = prepare(parsed.config, systemd=systemd)
            status = execute(parsed.config, plan, systemd=systemd, say=say)
            # A watch event while this reload ran starts no second run (systemd merges it
            # into the running job), so look once more for leaves that came or went.
            seen = {(c.kind, c.where) for c in plan.changes}
            for _ in range(RECHECKS):
                again = prepare(parsed.config, systemd=False)
                if not {(c.kind, c.where) for c in again.changes} - seen:
                    break
                if systemd:  # the generator must see the new leaves before units start
                    again = prepare(parsed.config, systemd=True)
                seen |= {(c.kind, c.where) for c in again.changes}
                status = max(status, execute(parsed.config, again, systemd=systemd, say=say))
            return status
    plan = prepare(parsed.config, systemd=False)
    for change in plan.changes:
        held = holders(change.where) if change.kind is ChangeKind.UNMOUNT else []
        suffix = f" (but it is in use by {', '.join(map(str, held))})" if held else ""
        say(f"would {change.describe()}{suffix}")
    for note in plan.notes:
        say(f"note: {note}")
    if not plan.changes:
        say(f"nothing to do: {count(len(plan.unchanged), 'leaf mount')} as planned")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="layout reload")
    parser.add_argument("--config", "-c")
    parser.add_argument("--dry-run", "-n", action="store_true")
    args = parser.parse_args(argv)
    return run_plain(lambda: reload(args.config, dry_run=args.dry_run))


if __name__ == "__main__":
    raise SystemExit(main())
