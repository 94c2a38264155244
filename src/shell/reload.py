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
mount stays and they are reported.  ``umount`` is never lazy, so a holder we
could not see (another mount namespace) makes it fail with "busy", which is
reported the same way.

Runnable without typer (for ``layout-trees-reload.service``):
``python3 -m layout_trees.shell.reload [--config FILE] [--dry-run]``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from ..core.config import Config
from ..core.errors import LayoutError
from ..core.plan import make_plan
from ..core.reload import Change, ChangeKind, ReloadPlan, diff_mounts
from ..core.watch import watch_unit_name
from .configfile import load_config
from .exits import EXIT_ENVIRONMENT, EXIT_FINDINGS, EXIT_OK, run_plain
from .lock import exclusive
from .persist import read_own_mounts, systemd_is_pid1
from .run import run
from .scan import scan

EXIT_KEPT = EXIT_FINDINGS  # a vanished leaf still in use was kept mounted
RECHECKS = 2


@dataclass(frozen=True)
class Holder:
    pid: int
    command: str
    how: str
    """``cwd``, ``root``, ``fd 3``, ``mapped``."""

    def __str__(self) -> str:
        return f"pid {self.pid} ({self.command}, {self.how})"


def _inside(path: str, where: str) -> bool:
    path = path.removesuffix(" (deleted)")
    return path == where or path.startswith(where.rstrip("/") + "/")


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


def prepare(config: Config, *, systemd: bool) -> ReloadPlan:
    """Re-run the generator (with systemd), scan, plan and diff against the mount table."""
    if systemd:
        run(["systemctl", "daemon-reload"])
    mounts = read_own_mounts()
    snapshot = scan(config, full=False, mounts=mounts)
    return diff_mounts(config, snapshot, make_plan(config, snapshot), mounts)


def _ensure_directories(plan: ReloadPlan) -> None:
    for spec in plan.directories:
        try:
            os.mkdir(spec.path, 0o700)
        except FileExistsError:
            continue
        os.chown(spec.path, spec.uid, spec.gid)
        os.chmod(spec.path, spec.mode)


def _mount(change: Change, systemd: bool) -> None:
    mount = change.mount
    assert mount is not None
    if systemd:
        unit = mount.unit
        if mount.semantics.automount:
            unit = unit.removesuffix(".mount") + ".automount"
        run(["systemctl", "start", unit], hint=f"see 'journalctl -u {unit}'")
        return
    os.makedirs(mount.where, exist_ok=True)
    run(["mount", "-t", "btrfs", "-o", ",".join(mount.options), "--", mount.what, mount.where])


def _unmount(change: Change, systemd: bool) -> None:
    if systemd and change.unit:
        run(["systemctl", "stop", change.unit], hint=f"see 'journalctl -u {change.unit}'")
        return
    run(["umount", "--", change.where])


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
            _unmount(change, systemd)
        except LayoutError as exc:
            say(f"kept {change.where}: cannot unmount: {exc.message}")
            status = max(status, EXIT_KEPT)
            continue
        say(f"unmounted {change.where} ({change.tree}:{'/'.join(change.leaf)}): {change.detail}")
    try:
        _ensure_directories(plan)
    except OSError as exc:
        say(f"error: cannot create {exc.filename}: {exc.strerror}")
        status = EXIT_ENVIRONMENT
    for change in plan.changes:
        if change.kind is ChangeKind.MOUNT:
            try:
                _mount(change, systemd)
            except (LayoutError, OSError) as exc:
                say(f"error: cannot mount {change.where}: {exc}")
                status = EXIT_ENVIRONMENT
                continue
            say(f"mounted {change.where} ({change.tree}:{'/'.join(change.leaf)}): "
                f"{change.detail}")
        elif change.kind is not ChangeKind.UNMOUNT:
            say(change.describe())
            if change.kind is not ChangeKind.NOT_STARTED:
                status = max(status, EXIT_KEPT)
    if systemd:
        for tree in config.trees:
            if tree.watch:
                result = run(["systemctl", "start", watch_unit_name(tree.name)], check=False)
                if result.returncode != 0:
                    say(f"warning: cannot start {watch_unit_name(tree.name)}")
    if not plan.changes:
        say(f"nothing to do: {len(plan.unchanged)} leaf mount(s) as planned")
    return status


def reload(config_path: str | None = None, *, dry_run: bool = False,
           systemd: bool | None = None, say: Callable[[str], None] = print) -> int:
    parsed = load_config(config_path, required=True)
    for problem in parsed.problems:
        say(f"warning: {problem.message}")
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
        say(f"nothing to do: {len(plan.unchanged)} leaf mount(s) as planned")
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
