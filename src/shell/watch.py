"""``python3 -m layout_trees.shell.watch``: the service behind ``watch = true``.

One inotify instance for every watched tree (see :mod:`layout_trees.core.watch`
for why and for the decisions; this module only looks and acts).  The trees
are walked with directory file descriptors: each child is opened relative to
its parent with ``O_NOFOLLOW``, and the watch is added on that descriptor
(``/proc/self/fd/N``), so a name swapped for a symlink between listing and
watching is never followed.  Leaves (``@`` entries) are recorded by identity
(device and inode), never entered; mount points inside a tree are not
crossed.

When the walk finds a set of ``@`` entries other than the one the previous
reload saw, the reload command runs (by default ``systemctl start
layout-trees-reload.service``, which waits until the reload is done).  The
service is lean like the generator: no typer, no PyYAML for a TOML file.

``python3 -m layout_trees.shell.watch [--config FILE] [--max-watches N]
[--min-interval S] [-- RELOAD COMMAND...]``
"""

from __future__ import annotations

import argparse
import ctypes
import errno
import os
import select
import stat
import struct
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from ..core.config import TreeConfig
from ..core.errors import LayoutError
from ..core.mountinfo import MountEntry
from ..core.plan import snapshot_dirs
from ..core.reserved import is_reserved, reserved_paths
from ..core.watch import (
    FINGERPRINT_BITS,
    MAX_DEPTH,
    RELOAD_SERVICE,
    WATCH_MASK,
    Pace,
    Throttle,
    leaf_fingerprint,
    mounted_subvolumes,
    relevant,
    watch_budget,
)
from ..core.wording import count
from .btrfs import SUBVOLUME_INODE
from .configfile import load_config
from .exits import run_plain
from .log import Log
from .mounttable import read_mounts
from .run import run
from .scan import read_max_user_watches

NAME = "layout-trees-watch"
DEFAULT_RELOAD = ("systemctl", "start", RELOAD_SERVICE)
RELOAD_TIMEOUT = 900.0
"""A reload that takes longer is left to itself (its job goes on) and the watch goes on."""
_EVENT = struct.Struct("iIII")
_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_SIZE = 64 * 1024

class Inotify:
    """One inotify instance (``inotify_init1``), watches added on directory descriptors."""

    def __init__(self) -> None:
        self._libc = ctypes.CDLL(None, use_errno=True)
        fd = self._libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            raise self._error("inotify_init1")
        self.fd: int = fd

    def _error(self, what: str) -> OSError:
        code = ctypes.get_errno()
        return OSError(code, f"{what}: {os.strerror(code)}")

    def add(self, dir_fd: int) -> int:
        """Watch the directory open as ``dir_fd`` (the descriptor, not a path)."""
        path = f"/proc/self/fd/{dir_fd}".encode()
        wd = self._libc.inotify_add_watch(self.fd, path, WATCH_MASK)
        if wd < 0:
            raise self._error("inotify_add_watch")
        return int(wd)

    def remove(self, wd: int) -> None:
        self._libc.inotify_rm_watch(self.fd, wd)  # EINVAL: already gone, which is fine

    def read(self) -> list[tuple[int, int, str]]:
        """The pending events as ``(wd, mask, name)``; [] when there are none."""
        events: list[tuple[int, int, str]] = []
        while True:
            try:
                data = os.read(self.fd, _READ_SIZE)
            except BlockingIOError:
                return events
            offset = 0
            while offset + _EVENT.size <= len(data):
                wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
                raw = data[offset + _EVENT.size: offset + _EVENT.size + length]
                name = raw.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
                events.append((wd, mask, name))
                offset += _EVENT.size + length

    def close(self) -> None:
        os.close(self.fd)


@dataclass
class Walk:
    """What one walk of the watched trees found and watched."""

    leaves: tuple[int, int] = (0, 0)
    """The ``@`` entries seen: how many, and the sum of their identities' fingerprints (tree,
    path, device, inode, file type), so that a rename, an exchange or a new subvolume under
    an old name all show; constant memory however many there are."""
    watches: dict[int, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    directories: dict[str, int] = field(default_factory=dict)
    """Structure directories per tree (watched or not)."""
    partial: dict[str, str] = field(default_factory=dict)
    """Trees not fully watched, with the reason."""
    unmounted: int = 0
    """``@`` subvolumes seen that are not mounted anywhere."""

    @property
    def degraded(self) -> bool:
        return bool(self.partial)


def _mounts() -> tuple[MountEntry, ...]:
    try:
        return read_mounts()
    except OSError:
        return ()


class _Level:
    """One directory being listed: its descriptor, its path in the tree, its listing."""

    def __init__(self, fd: int, path: tuple[str, ...]) -> None:
        self.fd, self.path = fd, path
        try:
            self.listing: Iterator[os.DirEntry[str]] | None = os.scandir(fd)
        except OSError:
            self.listing = None

    def next(self) -> os.DirEntry[str] | None:
        if self.listing is None:
            return None
        try:
            return next(self.listing, None)
        except OSError:
            return None

    def close(self) -> None:
        if self.listing is not None:
            self.listing.close()  # type: ignore[attr-defined]
        os.close(self.fd)


def walk(trees: Sequence[TreeConfig], inotify: Inotify, budget: int,
         snapshot_dirs: frozenset[str] = frozenset()) -> Walk:
    """Walk the trees, watching structure directories up to ``budget`` of them.

    Depth first, one open directory (and listing) per level, never more than
    :data:`MAX_DEPTH` levels: memory and descriptors stay bounded however wide or deep a
    user makes the structure."""
    result = Walk()
    count, total = 0, 0
    mounts = _mounts()
    mountpoints = frozenset(m.mountpoint for m in mounts)
    for tree in trees:
        try:
            root_fd = os.open(tree.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            result.partial[tree.name] = f"{tree.path}: cannot be opened ({exc.strerror})"
            continue
        root = os.path.realpath(tree.path).rstrip("/")
        subvolumes = mounted_subvolumes(mounts, root or "/")
        reserved = reserved_paths(subvolumes[0] if subvolumes else None, snapshot_dirs)
        directories = 0
        stack: list[_Level] = []
        fd, path = root_fd, ()
        try:
            while True:
                if fd >= 0:
                    directories += 1
                    if len(result.watches) >= budget:
                        result.partial.setdefault(
                            tree.name,
                            f"more structure directories than the watch budget ({budget})")
                    else:
                        try:
                            result.watches[inotify.add(fd)] = (tree.name, path)
                        except OSError as exc:
                            result.partial.setdefault(
                                tree.name, f"cannot watch more directories ({exc.strerror})")
                    stack.append(_Level(fd, path))
                    fd = -1
                if not stack:
                    break
                level = stack[-1]
                child = level.next()
                if child is None:
                    stack.pop().close()
                    continue
                name = child.name
                if is_reserved((*level.path, name), reserved):
                    continue  # the project's own (backup snapshots, work in progress)
                if name.startswith("@"):
                    try:
                        st = os.stat(name, dir_fd=level.fd, follow_symlinks=False)
                    except OSError:
                        continue
                    count += 1
                    total += leaf_fingerprint(tree.name, (*level.path, name), st.st_dev,
                                              st.st_ino, stat.S_IFMT(st.st_mode))
                    if (subvolumes is not None and stat.S_ISDIR(st.st_mode)
                            and st.st_ino == SUBVOLUME_INODE
                            and "/".join((subvolumes[0].rstrip("/"), *level.path, name))
                            not in subvolumes[1]):
                        result.unmounted += 1
                    continue
                try:
                    is_dir = child.is_dir(follow_symlinks=False)
                except OSError:
                    continue
                if not is_dir or "/".join((root, *level.path, name)) in mountpoints:
                    continue
                if len(stack) >= MAX_DEPTH:
                    result.partial.setdefault(tree.name, f"structure deeper than {MAX_DEPTH}")
                    continue
                try:
                    fd = os.open(name, _OPEN_DIR, dir_fd=level.fd)
                except OSError:
                    continue  # replaced by a symlink or a file, or gone: not structure
                path = (*level.path, name)
        finally:
            for level in stack:
                level.close()
            if fd >= 0:
                os.close(fd)
        result.directories[tree.name] = directories
    result.leaves = (count, total % 2**FINGERPRINT_BITS)
    return result


@dataclass
class Watcher:
    """The service's state: the inotify instance, the last walk, when to act next."""

    trees: Sequence[TreeConfig]
    reload_command: Sequence[str]
    budget: int
    log: Log
    pace: Pace = field(default_factory=Pace)
    snapshot_dirs: frozenset[str] = frozenset()
    clock: Callable[[], float] = time.monotonic
    inotify: Inotify = field(default_factory=Inotify)
    reloads: int = 0

    def __post_init__(self) -> None:
        start = self.clock()
        self.state = walk(self.trees, self.inotify, self.budget, self.snapshot_dirs)
        self._report(None, self.state)
        reloaded = False
        if self.state.unmounted:
            unmounted = count(self.state.unmounted, "'@' subvolume")
            self.log.info(f"{unmounted} not mounted anywhere: " + " ".join(self.reload_command))
            self._reload()
            reloaded = True
        self.throttle = Throttle(self.pace).acted(start, self.clock(), reloaded=reloaded,
                                                  degraded=self.state.degraded)

    def _reload(self) -> None:
        self.reloads += 1
        try:
            done = run(self.reload_command, check=False, timeout=RELOAD_TIMEOUT)
            if done.returncode != 0:
                self.log.warning(f"reload failed with exit status {done.returncode}")
        except LayoutError as exc:
            self.log.warning(f"reload could not run: {exc}")

    def _report(self, before: Walk | None, after: Walk) -> None:
        for tree, reason in sorted(after.partial.items()):
            if before is None or before.partial.get(tree) != reason:
                self.log.warning(f"tree {tree!r}: not fully watched: {reason}; "
                                 f"{after.directories.get(tree, 0)} structure directories, "
                                 f"rescanning every {self.pace.rescan:g} s")
        for tree in sorted(set(before.partial if before else ()) - set(after.partial)):
            self.log.info(f"tree {tree!r}: fully watched again")
        if before is None:
            self.log.info(f"watching {len(after.watches)} directories of "
                          f"{count(len(self.trees), 'tree')} with one inotify instance")

    def act(self) -> bool:
        """Walk again; reload when the ``@`` entries changed.  Returns whether it reloaded."""
        start = self.clock()
        before = self.state
        after = walk(self.trees, self.inotify, self.budget, self.snapshot_dirs)
        for wd in set(before.watches) - set(after.watches):
            self.inotify.remove(wd)
        self._report(before, after)
        self.state = after
        reloaded = after.leaves != before.leaves
        if reloaded:
            self.log.info(f"leaves changed ({before.leaves[0]} -> {after.leaves[0]} '@' "
                          "entries): " + " ".join(self.reload_command))
            self._reload()
        self.throttle = self.throttle.acted(start, self.clock(), reloaded=reloaded,
                                            degraded=after.degraded)
        return reloaded

    def feed(self, events: Iterable[tuple[int, int, str]]) -> None:
        if any(relevant(mask, name) for _wd, mask, name in events):
            self.throttle = self.throttle.changed(self.clock())

    def step(self) -> None:
        """Wait for events or for the next action, whichever comes first; act when due."""
        due = self.throttle.due()
        timeout = None if due is None else max(0, int((due - self.clock()) * 1000) + 1)
        poller = select.poll()
        poller.register(self.inotify.fd, select.POLLIN)
        if poller.poll(timeout):
            self.feed(self.inotify.read())
        due = self.throttle.due()
        if due is not None and self.clock() >= due:
            self.act()

    def serve(self) -> None:
        while True:
            self.step()


def serve(config_path: str | None, reload_command: Sequence[str], *,
          max_watches: int | None, pace: Pace) -> int:
    parsed = load_config(config_path, required=True)
    log = Log(NAME)
    for problem in parsed.problems:
        log.warning(problem.message)
    trees = [t for t in parsed.config.trees if t.watch]
    if not trees:
        log.info("no tree has watch = true; nothing to watch")
        return 0
    budget = watch_budget(read_max_user_watches(), max_watches)
    try:
        Watcher(trees, tuple(reload_command), budget, log, pace,
                snapshot_dirs(parsed.config)).serve()
    except OSError as exc:
        if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOMEM):
            log.error(f"cannot watch: {exc}")
            return 3
        raise
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m layout_trees.shell.watch")
    parser.add_argument("--config", "-c")
    parser.add_argument("--max-watches", type=int, default=None,
                        help="directories watched at most (default: the smaller of "
                        "8192 and a quarter of fs.inotify.max_user_watches)")
    parser.add_argument("--min-interval", type=float, default=Pace().min_interval,
                        help="seconds between the end of a reload and the next one")
    parser.add_argument("--debounce", type=float, default=Pace().debounce,
                        help="seconds without a change before acting")
    parser.add_argument("--rescan", type=float, default=Pace().rescan,
                        help="seconds between rescans of trees not fully watched")
    parser.add_argument("reload", nargs="*", help="reload command "
                        f"(default: {' '.join(DEFAULT_RELOAD)})")
    args = parser.parse_args(argv)
    if args.max_watches is not None and args.max_watches < 1:
        parser.error("--max-watches must be at least 1")

    def action() -> int:
        pace = Pace(debounce=args.debounce, min_interval=args.min_interval, rescan=args.rescan)
        try:
            return serve(args.config, args.reload or DEFAULT_RELOAD,
                         max_watches=args.max_watches, pace=pace)
        except KeyboardInterrupt:
            return 0

    return run_plain(action)


if __name__ == "__main__":
    raise SystemExit(main())
