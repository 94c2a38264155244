"""btrbk, the engine: its configuration rendered from the manifest, its names parsed.

Theory of operation.  ``layout backup run`` never keeps a btrbk configuration
around: at every run it scans, derives the manifest and renders a fresh
configuration (:func:`render_btrbk_config`) under ``/run``, so a subvolume
created a minute ago is covered.  Every covered leaf becomes one
``subvolume`` section carrying its whole policy (snapshot directory, the
derived ``snapshot_name``, retention, targets), below one ``volume`` per
source filesystem (its top level, mounted by the shell).  Paths are quoted;
paths btrbk cannot take safely never get here (the manifest marks them
``unsupported-path``).

Snapshots and backups are named ``<snapshot_name>.<timestamp>[_N]`` with
btrbk's ``long-iso`` timestamps (``20261125T172235+0000``), which carry their
UTC offset, so :func:`parse_backup_name` turns a name into seconds since the
epoch without a clock or a time zone database.

The remaining functions parse what the shell reads back from a target or a
snapshot directory: one ``btrfs subvolume list`` of its filesystem
(:func:`parse_subvolume_list`).  A subvolume
counts as a backup only when it is read-only *and* has a received UUID: a
receive that was interrupted leaves a writable subvolume without one.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping

from ..calendar import civil_from_days
from ..errors import EnvironmentProblem, UserError
from ..record import record
from .manifest import Leaf, Manifest

TIMESTAMP_FORMAT = "long-iso"
_STAMP_RE = re.compile(
    r"^(?P<y>\d{4})(?P<mo>\d{2})(?P<d>\d{2})T(?P<h>\d{2})(?P<mi>\d{2})(?P<s>\d{2})"
    r"(?P<tz>[+-]\d{4})?(?:_(?P<n>\d+))?$")


@record
class BackupName:
    """A parsed ``<snapshot_name>.<timestamp>[_N]``."""

    snapshot_name: str
    time: int
    """Seconds since the epoch (UTC)."""
    serial: int = 0

    @property
    def order(self) -> tuple[int, int]:
        return self.time, self.serial


def _days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date."""
    y -= m <= 2
    era = y // 400  # floor division: right for years before 0 too
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def parse_backup_name(name: str) -> BackupName | None:
    """The snapshot name and time in a backup's name, or None when it is not one."""
    key = _name_key(name)
    return None if key is None else BackupName(key[0], key[1], key[2])


@functools.lru_cache(maxsize=4096)
def _stamp_seconds(stamp: str) -> tuple[int, int] | None:
    """(seconds since the epoch, serial) of a ``long-iso`` timestamp and its ``_N`` suffix;
    cached, since thousands of backups share a few hundred timestamps."""
    match = _STAMP_RE.match(stamp)
    if not match:
        return None
    y, mo, d = int(match["y"]), int(match["mo"]), int(match["d"])
    h, mi, s = int(match["h"]), int(match["mi"]), int(match["s"])
    if not (1 <= mo <= 12 and h < 24 and mi < 60 and s < 61):
        return None
    next_month = _days_from_civil(y + mo // 12, mo % 12 + 1, 1)
    if not 1 <= d <= next_month - _days_from_civil(y, mo, 1):
        return None  # no such day (btrbk never writes one): not a backup
    seconds = _days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s
    tz = match["tz"]
    if tz:
        offset = int(tz[1:3]) * 3600 + int(tz[3:5]) * 60
        seconds -= offset if tz[0] == "+" else -offset
    return seconds, int(match["n"] or 0)


def _name_key(name: str) -> tuple[str, int, int] | None:
    """(snapshot name, time, serial) of a backup's name, without building a BackupName."""
    base, dot, stamp = name.rpartition(".")
    if not dot or not base:
        return None
    parsed = _stamp_seconds(stamp)
    return None if parsed is None else (base, parsed[0], parsed[1])


def format_time(seconds: int) -> str:
    """``YYYY-MM-DD HH:MM:SS UTC``, for reports."""
    days, rest = divmod(seconds, 86400)
    y, m, d = civil_from_days(days)
    return f"{y:04d}-{m:02d}-{d:02d} {rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d} UTC"


def format_age(seconds: int) -> str:
    """A short age: ``45s``, ``12min``, ``3h 5min``, ``2d 4h``."""
    if seconds < 0:
        return "in the future"
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}min"
    if seconds < 86400:
        return f"{seconds // 3600}h {seconds % 3600 // 60}min"
    return f"{seconds // 86400}d {seconds % 86400 // 3600}h"


def _quote(value: str) -> str:
    return '"' + value + '"'


def render_btrbk_config(manifest: Manifest, volumes: Mapping[str, str], lockfile: str,
                        trees: frozenset[str] | None = None,
                        skip_targets: frozenset[str] = frozenset()) -> str:
    """The btrbk configuration for the covered leaves of ``trees`` (all when None).

    ``volumes`` maps a tree name to where its filesystem's top level is mounted;
    ``skip_targets`` are left out (found unusable before the run: the others still get
    their backups, and the leaves are still snapshotted).
    """
    by_volume: dict[str, list[Leaf]] = {}
    for leaf in sorted(manifest.covered(), key=lambda x: x.key):
        if trees is not None and leaf.tree not in trees:
            continue
        if leaf.tree not in volumes:
            raise UserError(f"tree {leaf.tree!r}: no top-level mount given for its filesystem")
        by_volume.setdefault(volumes[leaf.tree], []).append(leaf)
    if _unsafe(lockfile) or " " in lockfile:
        raise UserError(f"{lockfile!r}: cannot be given to btrbk as the lock file")
    lines = [
        "# Written by 'layout backup run' from the layout trees at every run; not to be edited.",
        f"timestamp_format        {TIMESTAMP_FORMAT}",
        f"lockfile                {lockfile}",
        "snapshot_create         always",
        "incremental             yes",
        "",
    ]
    for volume in sorted(by_volume):
        if _unsafe(volume):
            raise UserError(f"{volume!r}: cannot be given to btrbk as a volume")
        lines.append(f"volume {_quote(volume)}")
        for leaf in by_volume[volume]:
            policy = leaf.policy
            assert policy is not None
            lines += [
                f"  subvolume {_quote(leaf.subvol.lstrip('/'))}",
                f"    # tree {leaf.tree}, leaf {leaf.snapshot_name}",
                f"    snapshot_dir          {policy.snapshot_dir}",
                f"    snapshot_name         {leaf.snapshot_name}",
                f"    snapshot_preserve_min {policy.snapshot_preserve_min}",
                f"    snapshot_preserve     {policy.snapshot_preserve}",
                f"    target_preserve_min   {policy.target_preserve_min}",
                f"    target_preserve       {policy.target_preserve}",
            ]
            lines += [f"    target send-receive   {t}" for t in policy.targets
                      if t not in skip_targets]
        lines.append("")
    return "\n".join(lines)


def _unsafe(path: str) -> bool:
    return not path.startswith("/") or bool(re.search(r"[\"'*?\[\]\\\x00-\x1f]", path))


@record
class ListedSubvolume:
    """A subvolume found in a target or snapshot directory."""

    name: str
    uuid: str | None
    received_uuid: str | None
    parent_uuid: str | None
    read_only: bool
    generation: int | None = None

    @property
    def is_complete_backup(self) -> bool:
        """Read-only with a received UUID: a receive that ran to its end."""
        return self.read_only and self.received_uuid is not None

    @property
    def parsed(self) -> BackupName | None:
        return parse_backup_name(self.name)


LISTING_SEPARATOR = "--"
ALL_READ_ONLY = "read-only-only"
"""After the separator instead of the read-only list: the listing holds read-only
subvolumes only (``btrfs subvolume list -r``)."""


def _unescape_findmnt(text: str) -> str:
    """``findmnt -r`` writes blanks and other specials as ``\\xNN``."""
    raw = re.sub(rb"\\x([0-9a-fA-F]{2})", lambda m: bytes([int(m.group(1), 16)]),
                 text.encode("utf-8", "surrogateescape"))
    return raw.decode("utf-8", "surrogateescape")


_LIST_LINE = re.compile(r"ID ([0-9]+) gen ([0-9]+) top level [0-9]+ parent_uuid (\S+) +"
                        r"received_uuid (\S+) +uuid (\S+) +path (.*)", re.DOTALL)
"""A line of ``btrfs subvolume list -R -u -q``: UUIDs padded to 36 columns, one space
before the path, which keeps its blanks (and whatever else Python calls white space)."""


_RO_LINE = re.compile(r"ID ([0-9]+) gen [0-9]+ top level [0-9]+ path (.*)", re.DOTALL)
"""A line of ``btrfs subvolume list -o -r``."""


def _uuid_field(value: str) -> str | None:
    return None if value in ("", "-") else value


def parse_subvolume_list(text: str) -> tuple[ListedSubvolume, ...]:
    """The subvolumes directly in a directory, from one round trip to the machine holding it.

    ``text`` is: ``FSROOT TARGET`` of the mount holding the directory (``findmnt -n -r -o
    FSROOT,TARGET -T DIR``), the directory's real path, the lines of ``btrfs subvolume list
    -o -R -u -q DIR`` (paths from the filesystem's top level), a ``--`` line, and the lines of
    ``btrfs subvolume list -o -r DIR`` (the read-only ones) or, when the first list was
    already restricted to read-only subvolumes, the line ``read-only-only``.  One listing
    of the whole filesystem instead of a ``btrfs subvolume show`` per entry: thousands of
    backups in a fraction of a second.

    btrfs prints names raw, so a line break in a name could forge a record.  A forged
    record must carry a path without ``/``, which only a directory at the filesystem's
    top level would take; the listing script refuses a directory holding a name with a
    control character.  A read-only line counts only for the record with its ID *and*
    its path, so a name elsewhere in the subvolume cannot mark another record read-only.
    """
    lines = text.split("\n")
    if len(lines) < 3 or " " not in lines[0]:
        raise EnvironmentProblem("the listing of the directory is incomplete",
                                 "is btrfs-progs (>= 5.0) installed where it is?")
    fsroot, _, mountpoint = lines[0].partition(" ")
    fsroot, mountpoint = _unescape_findmnt(fsroot), _unescape_findmnt(mountpoint)
    real = lines[1]
    if mountpoint == "/":
        below = real
    elif real == mountpoint or real.startswith(mountpoint + "/"):
        below = real[len(mountpoint):]
    else:
        raise EnvironmentProblem(f"{real}: not below its mount point {mountpoint}")
    directory = (fsroot.rstrip("/") + below).strip("/")
    prefix = directory + "/" if directory else ""
    raw: list[tuple[str, str, str, str, str, str]] = []
    read_only: set[tuple[str, str]] = set()
    in_ro = all_read_only = False
    cut = len(prefix)
    for line in lines[2:]:
        if line == LISTING_SEPARATOR:
            in_ro = True
        elif in_ro:
            if line == ALL_READ_ONLY:
                all_read_only = True
            else:
                ro = _RO_LINE.fullmatch(line)
                if ro is not None:
                    read_only.add((ro[1], ro[2]))
        else:
            match = _LIST_LINE.fullmatch(line)
            if match is None:
                continue
            sid, gen, parent, received, uuid, path = match.groups()
            if not path.startswith(prefix) or "/" in path[cut:] or len(path) == cut:
                continue
            raw.append((sid, path, uuid, received, parent, gen))
    if not in_ro:
        raise EnvironmentProblem("the listing of the directory is incomplete",
                                 "is btrfs-progs (>= 5.0) installed where it is?")
    result = [ListedSubvolume(path[cut:], _uuid_field(uuid), _uuid_field(received),
                              _uuid_field(parent), all_read_only or (sid, path) in read_only,
                              int(gen) if gen.isdigit() else None)
              for sid, path, uuid, received, parent, gen in raw]
    return tuple(sorted(result, key=lambda s: s.name))


def backups_of(listing: tuple[ListedSubvolume, ...], name: str,
               *, received: bool = True) -> tuple[ListedSubvolume, ...]:
    """The complete backups (``received``) or read-only snapshots of ``name``, oldest first."""
    return backup_index(listing, received=received).get(name, ())


def backup_index(listing: tuple[ListedSubvolume, ...], *, received: bool = True
                 ) -> dict[str, tuple[ListedSubvolume, ...]]:
    """:func:`backups_of` for every snapshot name at once (one pass over a listing of tens of
    thousands of backups, instead of one pass per leaf)."""
    found: dict[str, list[tuple[int, int, str, ListedSubvolume]]] = {}
    for sub in listing:
        if not (sub.is_complete_backup if received else sub.read_only):
            continue
        key = _name_key(sub.name)
        if key is not None:
            found.setdefault(key[0], []).append((key[1], key[2], sub.name, sub))
    return {name: tuple(item[3] for item in sorted(items, key=lambda x: x[:3]))
            for name, items in found.items()}


def data_id(sub: ListedSubvolume) -> str | None:
    """What identifies a snapshot's data across send/receive: its received UUID if it has
    one, else its own UUID (what ``btrfs send`` puts in the stream)."""
    return sub.received_uuid or sub.uuid


_NO_SPACE = re.compile(r"No space left on device|ENOSPC", re.I)
TARGET_FULL_HINT = ("a backup target is full: nothing on the source was touched; free space "
                    "on the target or keep fewer backups (target_preserve), then run again")


@record
class BtrbkFailure:
    """What a failed ``btrbk run`` reported: its error lines, each once, in order, and a
    hint when the cause is one the user can act on."""

    errors: tuple[str, ...]
    hint: str | None = None


def btrbk_failure(stderr: str, command: str, status: int) -> BtrbkFailure:
    """Read the standard error of a failed ``btrbk run`` (``command``, exit ``status``).

    btrbk marks its errors with ``ERROR``; when it printed none, the command and its exit
    status are the error.  A full target (``ENOSPC``) gets the hint that the source is
    untouched and how to make room."""
    lines = tuple(dict.fromkeys(line.strip() for line in stderr.splitlines() if "ERROR" in line))
    errors = lines or (f"{command} failed with exit status {status}",)
    return BtrbkFailure(errors, TARGET_FULL_HINT if _NO_SPACE.search(stderr) else None)
