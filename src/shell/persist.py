"""``layout persist PATH``: carry out a persist plan, or undo what was done.

The decisions are made by :func:`layout_trees.core.persist.plan_persist`;
this module gathers its facts (configuration, scan, mount table, ``lstat``
of the path's ancestors) and runs its steps.  Every step that leaves
something behind registers how to undo it the moment it exists, so a
failure at any point (a full disk during the copy, a mount that fails, an
interrupt) removes the partial subvolume and the structure directories made
for it, and the original directory is never written to at all: it is only
read by ``cp`` and, at the end, mounted over.

Mounting follows the machine: with systemd as PID 1 the generator is re-run
(``systemctl daemon-reload``) and the leaf's mount unit started, so systemd
knows the mount exactly as it will after the next boot; otherwise the leaf
is mounted directly with ``mount -t btrfs -o subvol=…``.

Also runnable without typer, for minimal systems and units:
``python3 -m layout_trees.shell.persist [--config FILE] [--dry-run] PATH``.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field

from ..core.errors import EnvironmentProblem, LayoutError
from ..core.escape import simplify_path
from ..core.mountinfo import MountEntry, parse_mountinfo
from ..core.persist import PathFacts, PathKind, PersistPlan, Step, StepKind, describe, plan_persist
from . import btrfs
from .configfile import load_config
from .exits import run_plain
from .lock import exclusive
from .run import run
from .scan import scan

SYSTEMD_RUNTIME = "/run/systemd/system"


def systemd_is_pid1() -> bool:
    """systemd's own test (sd_booted): this directory exists only when it runs as PID 1."""
    return os.path.isdir(SYSTEMD_RUNTIME)


def read_own_mounts() -> tuple[MountEntry, ...]:
    """The mount table of this process's namespace, where the mounts happen."""
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as handle:
        return parse_mountinfo(handle.read())


def path_facts(path: str) -> tuple[PathFacts, ...]:
    """An ``lstat`` of ``path`` and each of its ancestors."""
    facts: list[PathFacts] = []
    parts = [p for p in path.split("/") if p]
    for i in range(len(parts) + 1):
        here = "/" + "/".join(parts[:i])
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
    parsed = load_config(config_path, required=True)
    target = simplify_path(os.path.abspath(path))
    mounts = read_own_mounts()
    snapshot = scan(parsed.config, full=False, mounts=mounts)
    return plan_persist(parsed.config, snapshot, mounts, target, path_facts(target))


@dataclass
class Undo:
    """What to undo, newest first; ``last`` runs after everything else."""

    steps: list[tuple[str, Callable[[], None]]] = field(default_factory=list)
    last: list[tuple[str, Callable[[], None]]] = field(default_factory=list)

    def add(self, what: str, action: Callable[[], None]) -> None:
        self.steps.append((what, action))

    def run(self, say: Callable[[str], None]) -> list[str]:
        """Undo everything; return what could not be undone."""
        left: list[str] = []
        for what, action in [*reversed(self.steps), *self.last]:
            try:
                action()
                say(f"undone: {what}")
            except (OSError, LayoutError) as exc:
                left.append(f"{what}: {exc}")
        return left


def _mounted_as_planned(plan: PersistPlan) -> bool:
    for entry in reversed(read_own_mounts()):
        if entry.mountpoint == plan.mount.where:
            return entry.fstype == "btrfs" and simplify_path(entry.root) == plan.mount.subvol
    return False


def _make_directory(step: Step, undo: Undo) -> None:
    os.mkdir(step.path, 0o700)
    undo.add(f"remove directory {step.path}", lambda: os.rmdir(step.path))
    os.chown(step.path, step.uid, step.gid)
    os.chmod(step.path, step.mode)


def _create_subvolume(step: Step, undo: Undo) -> None:
    btrfs.create_subvolume(step.path)
    undo.add(f"delete subvolume {step.path}", lambda: btrfs.delete_subvolume(step.path))
    os.chown(step.path, step.uid, step.gid)
    os.chmod(step.path, step.mode)


def copy_tree(source: str, destination: str) -> None:
    """Copy the content and attributes of ``source`` into the existing ``destination``."""
    run(["cp", "-a", "--reflink=auto", "-T", "--", source, destination],
        hint="the original directory is untouched; free some space or fix the error above")


def _mount_directly(plan: PersistPlan, undo: Undo) -> None:
    mount = plan.mount
    run(["mount", "-t", "btrfs", "-o", ",".join(mount.options), "--", mount.what, mount.where])
    undo.add(f"unmount {mount.where}", lambda: _unmount(mount.where))


def _unmount(where: str) -> None:
    run(["umount", "--", where])


def _mount_with_systemd(plan: PersistPlan, undo: Undo) -> None:
    undo.last.append(("re-run the generator (systemctl daemon-reload)",
                      lambda: _daemon_reload()))
    _daemon_reload()
    run(["systemctl", "start", plan.mount.unit],
        hint=f"see 'journalctl -u {plan.mount.unit}'")
    undo.add(f"stop {plan.mount.unit}", lambda: _stop_unit(plan.mount.unit))


def _daemon_reload() -> None:
    run(["systemctl", "daemon-reload"])


def _stop_unit(unit: str) -> None:
    run(["systemctl", "stop", unit])


def _mount(plan: PersistPlan, undo: Undo, systemd: bool) -> None:
    if systemd:
        _mount_with_systemd(plan, undo)
    else:
        _mount_directly(plan, undo)
    if not _mounted_as_planned(plan):
        raise EnvironmentProblem(f"{plan.mount.where}: not mounted from {plan.mount.subvol} "
                                 "after mounting it")


def execute(plan: PersistPlan, *, systemd: bool | None = None,
            say: Callable[[str], None] = print) -> None:
    """Run the plan's steps; on any failure undo them and raise."""
    systemd = systemd_is_pid1() if systemd is None else systemd
    undo = Undo()
    try:
        for step in plan.steps:
            say(step.describe(plan.mount))
            if step.kind is StepKind.MAKE_DIRECTORY:
                _make_directory(step, undo)
            elif step.kind is StepKind.CREATE_SUBVOLUME:
                _create_subvolume(step, undo)
            elif step.kind is StepKind.COPY:
                assert step.source is not None
                copy_tree(step.source, step.path)
            else:
                _mount(plan, undo, systemd)
    except BaseException as exc:
        left = undo.run(say)
        detail = exc.message if isinstance(exc, LayoutError) else (
            f"{exc.filename or ''}: {exc.strerror}" if isinstance(exc, OSError) else repr(exc))
        if left:
            raise EnvironmentProblem(
                f"persisting {plan.source} failed: {detail}; could not undo: "
                + "; ".join(left), "remove what is listed by hand; the original is untouched"
            ) from exc
        if isinstance(exc, KeyboardInterrupt):
            raise
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

    return run_plain(action)


if __name__ == "__main__":
    raise SystemExit(main())
