"""What ``watch = true`` costs, and the units that run the watch.

Theory of operation.  One service, ``layout-trees-watch.service``, watches
every tree with ``watch = true`` through **one** inotify instance
(``python3 -m layout_trees.shell.watch``).  It watches the tree root and
every structure directory (never a leaf, never through a symlink, never
across a mount point, never the project's own entries such as the backup
snapshot directory), at most :data:`MAX_WATCHES` of them and never more
than a :data:`WATCH_SHARE` of root's inotify watch limit.  Only the
creation, deletion or renaming of an ``@`` entry or of a directory marks the
trees as changed (:func:`relevant`); writing files does nothing.

A change does not reload at once.  :class:`Throttle` decides when to act
(its :class:`Pace`): a quiet second after the last change, but no later than
``max_delay`` after the first one, and never sooner than ``min_interval``
(or ``duty`` times as long as the last action took) after the previous
action ended.  Acting means walking the watched trees again (adding watches
for new directories, dropping those of vanished ones) and, only when the set
of ``@`` entries differs from the one the last reload saw, starting
``layout-trees-reload.service``.  A tree with more structure directories than
the watch budget is watched in part and rescanned every ``rescan`` seconds
instead, which the service logs and ``layout check`` reports (LT070).

So what a user who owns a structure directory can make the watch cost is
bounded whatever they do: one inotify instance, at most the watch budget,
at most one reload per ``min_interval`` and a bounded share of time.

As everywhere in the core, nothing is written here: the generator writes the
returned :class:`GeneratedFile` values, and the shell feeds the clock in.
"""

from __future__ import annotations

from .config import Config
from .errors import UserError
from .escape import c_escape, escape_specifiers, unsafe_reason
from .model import Entry, Snapshot, TreeStatus
from .mountinfo import MountEntry, containing_mount, path_in_filesystem
from .plan import join
from .record import record
from .units import GENERATOR, GeneratedFile

WATCH_SERVICE = "layout-trees-watch.service"
RELOAD_SERVICE = "layout-trees-reload.service"
RELOAD_MODULE = "layout_trees.shell.reload"
WATCH_MODULE = "layout_trees.shell.watch"
WANTED_BY = "multi-user.target"

MAX_WATCHES = 8192
"""Directories watched at most, all watched trees together (``--max-watches``)."""
WATCH_SHARE = 4
"""Never more than 1/WATCH_SHARE of root's ``fs.inotify.max_user_watches``."""
MAX_DEPTH = 200
"""Structure directories deeper than this are not watched (the walk holds one open
directory per level); a tree that has them is rescanned like one over the budget."""


@record
class Pace:
    """How fast the watch may act (seconds); the defaults are the service's."""

    debounce: float = 1.0
    """Quiet time after the last change before acting (``mkdir -p a/b; btrfs subvolume
    create a/b/@c`` is one change)."""
    max_delay: float = 5.0
    """Act at most this long after the first change, even while changes go on."""
    min_interval: float = 10.0
    """Pause between the end of a reload and the start of the next action."""
    duty: float = 4.0
    """The pause after an action is at least ``duty`` times as long as the action took."""
    rescan: float = 60.0
    """Period of the rescans of trees that are not (fully) watched."""

    def __post_init__(self) -> None:
        for name in ("debounce", "max_delay", "min_interval", "duty", "rescan"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not value >= 0:
                raise UserError(f"watch: {name} must be a non-negative number of seconds")


# inotify(7): the Linux ABI, numbers only.
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000
IN_DONTFOLLOW = 0x02000000
IN_ISDIR = 0x40000000
ENTRY_EVENTS = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO
WATCH_MASK = ENTRY_EVENTS | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR
"""What every structure directory is watched for (plain file writes are not asked for)."""


FINGERPRINT_BITS = 64


def leaf_fingerprint(tree: str, path: tuple[str, ...], device: int, inode: int,
                     kind: int) -> int:
    """A 64-bit digest of one ``@`` entry's identity (tree, path, device, inode, file type),
    the same in every process.  The watch adds these up (modulo 2⁶⁴) over all entries: a
    new, removed or renamed entry, or two entries exchanged, changes the sum.  A keyed
    digest, not ``hash()``: Python's tuple hash is close enough to linear that exchanging
    two entries' devices left the sum unchanged for about one process in twelve."""
    from hashlib import blake2b  # the watch service needs it, the generator does not

    text = "\0".join((tree, "/".join(path), str(device), str(inode), str(kind)))
    digest = blake2b(text.encode("utf-8", "surrogateescape"), digest_size=FINGERPRINT_BITS // 8,
                     person=b"layout-trees")
    return int.from_bytes(digest.digest(), "little")


def relevant(mask: int, name: str) -> bool:
    """Whether an inotify event may change what is mounted: an ``@`` entry or a directory
    created, deleted or renamed, a watched directory gone, or lost events."""
    if mask & (IN_Q_OVERFLOW | IN_DELETE_SELF | IN_MOVE_SELF):
        return True
    if not mask & ENTRY_EVENTS:
        return False
    return name.startswith("@") or bool(mask & IN_ISDIR)


def watch_budget(max_user_watches: int | None, configured: int | None = None) -> int:
    """How many directories the watch may watch: the configured (or default) maximum, and
    never more than a share of root's inotify watch limit (shared by all of root's
    processes); at least 1, so that a tree root is always watched."""
    budget = MAX_WATCHES if configured is None else configured
    if max_user_watches is not None:
        budget = min(budget, max_user_watches // WATCH_SHARE)
    return max(budget, 1)


@record
class Throttle:
    """When the watch acts next, as a function of when things happened (seconds, any clock).

    ``first``/``last``: the first and latest change not yet acted on; ``not_before``: the
    end of the pause after the previous action; ``every``: the rescan period while some
    tree is not fully watched (None when all are); ``last_end``: when the previous action
    ended.
    """

    pace: Pace = Pace()
    first: float | None = None
    last: float | None = None
    not_before: float = 0.0
    every: float | None = None
    last_end: float = 0.0

    def changed(self, now: float) -> Throttle:
        """A relevant change was seen at ``now``."""
        return Throttle(self.pace, self.first if self.first is not None else now, now,
                        self.not_before, self.every, self.last_end)

    def due(self) -> float | None:
        """When to act next (None: only after a change)."""
        when: float | None = None
        if self.first is not None and self.last is not None:
            when = min(self.last + self.pace.debounce, self.first + self.pace.max_delay)
        if self.every is not None:
            periodic = self.last_end + self.every
            when = periodic if when is None else min(when, periodic)
        return None if when is None else max(when, self.not_before)

    def acted(self, start: float, end: float, *, reloaded: bool, degraded: bool) -> Throttle:
        """An action ran from ``start`` to ``end``: changes seen so far are handled (the
        caller reads later ones after ``end``); ``degraded``: some watched tree is not fully
        watched, so rescan every ``pace.rescan`` seconds."""
        pace = self.pace
        pause = max(pace.min_interval if reloaded else pace.debounce,
                    pace.duty * max(end - start, 0.0))
        return Throttle(pace, None, None, end + pause, pace.rescan if degraded else None, end)


def mounted_subvolumes(mounts: tuple[MountEntry, ...],
                       tree_root: str) -> tuple[str, frozenset[str]] | None:
    """For a tree whose root resolves to ``tree_root``: the root's path inside its btrfs
    filesystem, and the subvolume paths of that filesystem mounted anywhere; None when the
    tree is not on btrfs.  At its start the watch reloads once when a leaf it sees is not
    among them: a leaf made between the boot's scan and the watch's first walk is then
    mounted, not only after the next change."""
    holder = containing_mount(mounts, tree_root)
    if holder is None or holder.fstype != "btrfs":
        return None
    roots = frozenset(m.root.rstrip("/") or "/" for m in mounts
                      if m.fstype == "btrfs" and m.source == holder.source)
    return path_in_filesystem(holder, tree_root), roots


def watched_directories(root: str, entries: tuple[Entry, ...]) -> tuple[str, ...]:
    """The tree root and every structure directory below it, sorted."""
    dirs = {root}
    for entry in entries:
        path = entry.path
        if not entry.is_structure_directory:
            continue
        if any(unsafe_reason(p) is not None for p in path):
            continue
        dirs.add(join(root, path))
    return tuple(sorted(dirs))


def too_deep(entries: tuple[Entry, ...]) -> bool:
    """Whether a tree has structure directories deeper than the watch goes."""
    return any(len(e.path) >= MAX_DEPTH for e in entries if e.is_structure_directory)


def structure_directories(entries: tuple[Entry, ...]) -> int:
    """How many directories the watch would watch in a tree: its root and every
    directory or plain subvolume not at or below an ``@`` entry."""
    return 1 + sum(1 for e in entries if e.is_structure_directory)


def watch_unit_name(tree: str) -> str:
    """The unit that watches ``tree``: one service watches every watched tree."""
    del tree
    return WATCH_SERVICE


def exec_quote(arg: str) -> str:
    """One argument of an ``ExecStart=`` command line, quoted for systemd."""
    safe = arg and all(c.isalnum() or c in "/._-=:+," for c in arg)
    text = arg if safe else '"' + c_escape(arg) + '"'
    return escape_specifiers(text).replace("$", "$$")


def _service(description: str, exec_start: tuple[str, ...], service: tuple[str, ...]) -> str:
    lines = [
        f"# Automatically generated by {GENERATOR}",
        "",
        "[Unit]",
        f"Description={description}",
        "After=local-fs.target",
        "StartLimitIntervalSec=0",
        "",
        "[Service]",
        *service,
        "ExecStart=" + " ".join(exec_quote(a) for a in exec_start),
    ]
    return "\n".join(lines) + "\n"


def watch_service(exec_start: tuple[str, ...]) -> str:
    """The long-running watch; restarted if it fails (no start limit: a watch that gave up
    until the next boot is what this replaces), but not for a bad configuration (exit 2),
    which a restart cannot fix."""
    return _service("Watch layout trees for leaves added or removed", exec_start,
                    ("Type=exec", "Restart=on-failure", "RestartSec=10s",
                     "RestartPreventExitStatus=2", "NoNewPrivileges=yes", "Nice=10",
                     "IOSchedulingClass=idle"))


def reload_service(exec_start: tuple[str, ...]) -> str:
    return _service("Mount and unmount layout tree leaves that appeared or disappeared",
                    exec_start, ("Type=oneshot",))


def reload_command(python: str, config_source: str | None) -> tuple[str, ...]:
    """What the reload service runs: ``python`` (the generator's own) on this package."""
    argv: tuple[str, ...] = (python, "-m", RELOAD_MODULE)
    if config_source:
        argv += ("--config", config_source)
    return argv


def watch_command(python: str, config_source: str | None) -> tuple[str, ...]:
    """What the watch service runs: ``python -m layout_trees.shell.watch``."""
    argv: tuple[str, ...] = (python, "-m", WATCH_MODULE)
    if config_source:
        argv += ("--config", config_source)
    return argv


def watched_trees(config: Config, snapshot: Snapshot) -> tuple[str, ...]:
    """The names of the trees the watch follows: ``watch = true`` and scanned."""
    names: list[str] = []
    for tree in config.trees:
        scan = snapshot.tree(tree.name)
        if not tree.watch or scan is None or scan.status is not TreeStatus.OK:
            continue
        if any(unsafe_reason(p) is not None for p in tree.path.split("/") if p):
            continue
        names.append(tree.name)
    return tuple(sorted(names))


def watch_files(config: Config, snapshot: Snapshot, python: str) -> tuple[GeneratedFile, ...]:
    """The watch service (wanted by multi-user.target) and the reload service it starts,
    when any tree is watched and scanned.

    ``python`` is the interpreter the generator runs under; both services run it on
    this package with the same configuration file.
    """
    if not watched_trees(config, snapshot):
        return ()
    return (
        GeneratedFile(RELOAD_SERVICE, reload_service(reload_command(python, config.source))),
        GeneratedFile(WATCH_SERVICE, watch_service(watch_command(python, config.source))),
        GeneratedFile(f"{WANTED_BY}.wants/{WATCH_SERVICE}", link=f"../{WATCH_SERVICE}"),
    )
