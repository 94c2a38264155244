"""Backups at run time: scan, derive the manifest, render btrbk's configuration, run btrbk.

``layout backup run`` (and the timer's service) does, every time:

1. scan the configured trees and derive the manifest (so a subvolume created
   since boot is covered);
2. make each source filesystem's top level reachable (the mount that holds
   the tree when it is the top level, otherwise a private mount of
   ``subvolid=5`` under ``/run/layout-trees/backup``), create the snapshot
   directories and the local target directories;
3. store the manifest on every target, next to the backups;
4. write the btrbk configuration to ``/run/layout-trees/backup/btrbk.conf``,
   let btrbk delete incomplete backups left by an interrupted run
   (``btrbk clean``), then ``btrbk run``.

Listing what targets and snapshot directories hold, and checking whether a
leaf changed since a snapshot (``btrfs send --no-data -p`` read back with
``btrfs receive --dump``), live here too; ``status``, ``verify``, ``drop``
and ``restore`` use them.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from ..core.backup.btrbk import btrbk_failure, render_btrbk_config
from ..core.backup.manifest import Manifest, make_manifest, manifest_for_target, manifest_to_json
from ..core.backup.status import Listing
from ..core.calendar import calendar_error
from ..core.config import Config
from ..core.errors import ConfigError, EnvironmentProblem, UserError
from ..core.escape import escape_path
from ..core.model import Snapshot, TreeStatus
from ..core.mountinfo import MountEntry, containing_mount
from ..core.paths import is_strictly_below
from ..core.wording import count
from . import btrfs
from . import mounts as mounts_gateway
from .backup_target import PendingListing, Target
from .configfile import load_strict
from .files import write_atomic
from .lock import exclusive
from .mounttable import read_mounts
from .run import run
from .scan import scan

RUN_DIR = os.environ.get("LAYOUT_TREES_BACKUP_RUN_DIR", "/run/layout-trees/backup")


@dataclass(frozen=True)
class Live:
    """The configuration, a fresh scan and the manifest derived from them."""

    config: Config
    snapshot: Snapshot
    manifest: Manifest


def live_state(config: Config) -> Live:
    """The configuration with a fresh scan of its trees and the manifest derived from them."""
    snapshot = scan(config)
    return Live(config, snapshot, make_manifest(config, snapshot))


@contextlib.contextmanager
def top_levels(paths: Mapping[str, str]) -> Iterator[dict[str, str]]:
    """For each key, where the top level of the btrfs filesystem holding its path is.

    The mount holding the path is used when it is the top level; otherwise the top
    level is mounted privately below the run directory, and unmounted on exit.
    """
    mounts = read_mounts()
    result: dict[str, str] = {}
    made: dict[str, str] = {}
    try:
        for key, path in sorted(paths.items()):
            real = os.path.realpath(path)
            mount = containing_mount(mounts, real)
            if mount is None or mount.fstype != "btrfs":
                raise EnvironmentProblem(f"{path}: not on a btrfs filesystem",
                                         "backups and restores need btrfs on both ends")
            if mount.root == "/":
                result[key] = mount.mountpoint
                continue
            if mount.source not in made:
                where = os.path.join(RUN_DIR, "top", escape_path(mount.source))
                # left by a run that was killed: the same top level, ours; use it, and
                # unmount it at the end like a fresh one
                leftover = any(_top_level_at(m, mount.source, where) for m in mounts)
                made[mount.source] = where
                if not leftover:
                    os.makedirs(where, exist_ok=True)
                    fd = os.open(where, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
                                 | os.O_CLOEXEC)
                    try:
                        mounts_gateway.mount_btrfs(mount.source, fd, ("subvolid=5",), where)
                    finally:
                        os.close(fd)
            result[key] = made[mount.source]
        yield result
    finally:
        for source, where in made.items():
            _unmount_top_level(source, where)


def _top_level_at(entry: MountEntry, source: str, where: str) -> bool:
    """Whether ``entry`` is the top level of the btrfs on ``source`` mounted at ``where``."""
    return (entry.mountpoint == where and entry.source == source and entry.fstype == "btrfs"
            and entry.root == "/")


def _unmount_top_level(source: str, where: str) -> None:
    """Unmount the top level this run mounted at ``where`` (identified in mountinfo by its
    source and root, on top of that point), then remove the directory."""
    ours = [m for m in read_mounts() if m.mountpoint == where]
    if ours and _top_level_at(ours[-1], source, where):
        with contextlib.suppress(EnvironmentProblem):
            mounts_gateway.unmount_exact(ours[-1])
    with contextlib.suppress(OSError):
        os.rmdir(where)


def start_listings(urls: set[str] | list[str] | tuple[str, ...], *, complete: bool = True
                   ) -> dict[str, PendingListing]:
    """Start listing every target (or local directory) at once, in the background;
    ``complete``: the read-only subvolumes only, all that status, verify and drop count."""
    return {url: Target(url).start_listing(complete=complete) for url in sorted(set(urls))}


def finish_listings(pending: Mapping[str, PendingListing]) -> dict[str, Listing]:
    """What each started listing found; the error text (one line) when it could not."""
    result: dict[str, Listing] = {}
    for url, listing in pending.items():
        try:
            result[url] = listing.result()
        except EnvironmentProblem as exc:
            result[url] = exc.message
    return result


def list_dirs(urls: set[str] | list[str] | tuple[str, ...], *, complete: bool = True
              ) -> dict[str, Listing]:
    """What each target (or local directory) holds, all listed at the same time."""
    return finish_listings(start_listings(urls, complete=complete))


def snapshot_listings(live: Live, tops: Mapping[str, str]) -> dict[str, Listing]:
    """Per tree, what its policy's snapshot directory holds (its read-only snapshots)."""
    dirs = {tree.name: os.path.join(tops[tree.name], tree.policy.snapshot_dir)
            for tree in live.manifest.trees if tree.policy is not None and tree.name in tops}
    found = list_dirs(list(dirs.values()))
    return {name: found[directory] for name, directory in dirs.items()}


def configured_targets(config: Config) -> set[str]:
    return {u for t in config.trees if t.backup is not None for u in t.backup.targets}


def scanned_trees(live: Live, names: set[str] | None = None) -> dict[str, str]:
    return {t.name: t.root for t in live.snapshot.trees
            if t.status is TreeStatus.OK and (names is None or t.name in names)}


@dataclass
class RunResult:
    """How ``backup run`` went: success, the errors to print, and unusable targets."""

    ok: bool
    errors: list[str]
    hint: str | None = None
    unusable: dict[str, str] = field(default_factory=dict)
    """Targets found unusable before the run (and left out of it), with why."""


@contextlib.contextmanager
def run_locks() -> Iterator[None]:
    """One run at a time (two schedules may fire together: they share btrbk.conf), then
    the trees lock, so that no leaf ``persist`` is building is ever snapshotted."""
    os.makedirs(RUN_DIR, exist_ok=True)
    with exclusive(os.path.join(RUN_DIR, "run.lock")), exclusive():
        yield


def probe_targets(urls: set[str] | list[str] | tuple[str, ...]) -> dict[str, str]:
    """The targets that cannot take backups now (unreachable, not btrfs, not writable)."""
    problems = {}
    for url in sorted(set(urls)):
        problem = Target(url).probe()
        if problem is not None:
            problems[url] = problem
    return problems


def run_backup(live: Live, names: set[str], *, progress: bool = False,
               say: Callable[[str], None] = print) -> RunResult:
    """Snapshot and send the covered leaves of the trees ``names`` with btrbk, one tree
    after the other (a line per tree, for the journal); targets found unusable first are
    left out and reported, so the others still get everything."""
    manifest = live.manifest
    leaves = [leaf for leaf in manifest.covered() if leaf.tree in names]
    if not leaves:
        return RunResult(True, [])
    policies = [t.policy for t in manifest.trees if t.name in names and t.policy is not None]
    urls = sorted({u for p in policies for u in p.targets})
    unusable = probe_targets(urls)
    for url, problem in unusable.items():
        say(f"target {url}: not used in this run: {problem}")
    errors: list[str] = []
    hint = None
    with top_levels(scanned_trees(live, names)) as tops:
        for leaf in leaves:
            assert leaf.policy is not None
            os.makedirs(os.path.join(tops[leaf.tree], leaf.policy.snapshot_dir), exist_ok=True)
        for url in urls:
            if url in unusable:
                continue
            target = Target(url)
            try:
                target.ensure_dir()
                target.write_manifest(manifest_to_json(manifest_for_target(manifest, url)))
            except EnvironmentProblem as exc:
                unusable[url] = exc.message
                say(f"target {url}: not used in this run: {exc.message}")
        trees = sorted({leaf.tree for leaf in leaves})
        for number, tree in enumerate(trees, 1):
            leaf_count = sum(1 for leaf in leaves if leaf.tree == tree)
            say(f"tree {tree}: backing up {count(leaf_count, 'leaf')} ({number} of {len(trees)} "
                "trees)")
            started = time.monotonic()
            failed, tree_hint = _run_btrbk(manifest, tops, tree, frozenset(unusable), progress)
            errors += failed
            hint = hint or tree_hint
            took = time.monotonic() - started
            say(f"tree {tree}: {'FAILED' if failed else 'done'} in {took:.0f} s")
    errors += [f"{url}: {problem}" for url, problem in unusable.items()]
    return RunResult(not errors, errors, hint, unusable)


def _run_btrbk(manifest: Manifest, tops: Mapping[str, str], tree: str,
               skip: frozenset[str], progress: bool) -> tuple[list[str], str | None]:
    config = render_btrbk_config(manifest, tops, os.path.join(RUN_DIR, "btrbk.lock"),
                                 frozenset({tree}), skip)
    conf_path = os.path.join(RUN_DIR, "btrbk.conf")
    write_atomic(conf_path, config, 0o600)
    run(["btrbk", "-c", conf_path, "-q", "clean"], check=False, hint="install btrbk (>= 0.32)")
    cmd = ["btrbk", "-c", conf_path]
    cmd += ["--progress"] if progress else ["-q"]
    result = run([*cmd, "run"], check=False, capture=not progress,
                 hint="install btrbk (>= 0.32)")
    if result.returncode == 0:
        return [], None
    failure = btrbk_failure((result.stderr or b"").decode("utf-8", "replace"),
                            shlex.join(result.args), result.returncode)
    return [f"tree {tree}: {e}" for e in failure.errors], failure.hint


def find_leaf(live: Live, path: str) -> tuple[str, tuple[str, ...]]:
    """The (tree, path in tree) of the leaf at the absolute ``path``."""
    real = os.path.realpath(path)
    for tree in live.config.trees:
        root = os.path.realpath(tree.path)
        if is_strictly_below(real, root):
            parts = tuple(real[len(root.rstrip("/")) + 1:].split("/"))
            for leaf in live.manifest.leaves_of(tree.name):
                if leaf.path == parts:
                    return tree.name, parts
            raise UserError(f"{path}: not a leaf of tree {tree.name!r}",
                            "a leaf is a writable subvolume named '@…' in a layout tree")
    raise UserError(f"{path}: not inside any configured layout tree",
                    "give the path of a leaf, e.g. /path/to/tree/a/@cache")


def set_override(path: str, value: str | None, *, dry_run: bool = False) -> None:
    """Set (``skip``) or remove the backup attribute of the subvolume at ``path``;
    ``dry_run``: only check that it could be."""
    if not os.path.isdir(path) or not btrfs.is_subvolume(path):
        raise UserError(f"{path}: not a btrfs subvolume",
                        "give the path of a leaf, e.g. /path/to/tree/a/@cache")
    if dry_run:
        return
    try:
        btrfs.set_backup_attr(path, value)
    except OSError as exc:
        raise EnvironmentProblem(f"{path}: cannot set the backup attribute: {exc.strerror}",
                                 "run as root; a read-only subvolume cannot be changed") from None


def is_tty() -> bool:
    return sys.stdout.isatty() and sys.stderr.isatty()


_ZONE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_+/")


def zone_exists(name: str) -> bool:
    """Whether systemd knows the time zone ``name`` (its ``verify_timezone()``: the name's
    syntax, then a TZif file in /usr/share/zoneinfo)."""
    if name == "UTC":
        return True
    if not name or name[0] == "/" or not set(name) <= _ZONE_CHARS:
        return False
    if "//" in name or name.endswith("/"):
        return False
    try:
        with open(os.path.join("/usr/share/zoneinfo", name), "rb") as handle:
            return handle.read(4) == b"TZif"
    except OSError:
        return False


def load_backup_config(path: str | None) -> Config:
    """The configuration for a backup command, or a :class:`ConfigError` (exit 2).

    Stricter than the boot path, which keeps mounting the trees it can: for backups a
    mistyped key, a value of the wrong type, an empty file or a schedule systemd would
    refuse must never read as "nothing to protect"."""
    config = load_strict(path).config
    if not config.trees:
        raise ConfigError(f"{config.source or 'the configuration'}: no layout trees configured",
                          "add a [tree.NAME] table with path, destination and a [tree.NAME.backup]"
                          " table")
    for tree in config.trees:
        if tree.backup is None:
            continue
        problem = calendar_error(tree.backup.schedule, zone_exists)
        if problem is not None:
            raise ConfigError(
                f"tree.{tree.name}.backup.schedule = {tree.backup.schedule!r} is not a valid "
                f"OnCalendar= expression ({problem})",
                "e.g. 'daily', 'hourly', 'Mon..Fri 02:30' (see systemd.time(7); "
                "'systemd-analyze calendar EXPR' tests one)")
    return config
