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
snapshot directory: ``btrfs subvolume show`` blocks (:func:`parse_listing`)
and ``btrfs receive --dump`` output (:func:`dump_has_changes`).  A subvolume
counts as a backup only when it is read-only *and* has a received UUID: a
receive that was interrupted leaves a writable subvolume without one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from .backup import Leaf, Manifest
from .errors import UserError

TIMESTAMP_FORMAT = "long-iso"
_NAME_RE = re.compile(
    r"^(?P<name>.+)\.(?P<y>\d{4})(?P<mo>\d{2})(?P<d>\d{2})T(?P<h>\d{2})(?P<mi>\d{2})(?P<s>\d{2})"
    r"(?P<tz>[+-]\d{4})?(?:_(?P<n>\d+))?$")


@dataclass(frozen=True, slots=True)
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
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def parse_backup_name(name: str) -> BackupName | None:
    """The snapshot name and time in a backup's name, or None when it is not one."""
    match = _NAME_RE.match(name)
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
    return BackupName(match["name"], seconds, int(match["n"] or 0))


def format_time(seconds: int) -> str:
    """``YYYY-MM-DD HH:MM:SS UTC``, for reports."""
    days, rest = divmod(seconds, 86400)
    z = days + 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + (3 if mp < 10 else -9)
    y = yoe + era * 400 + (m <= 2)
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
                        trees: frozenset[str] | None = None) -> str:
    """The btrbk configuration for the covered leaves of ``trees`` (all when None).

    ``volumes`` maps a tree name to where its filesystem's top level is mounted.
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
            lines += [f"    target send-receive   {t}" for t in policy.targets]
        lines.append("")
    return "\n".join(lines)


def _unsafe(path: str) -> bool:
    return not path.startswith("/") or bool(re.search(r"[\"'*?\[\]\\\x00-\x1f]", path))


@dataclass(frozen=True, slots=True)
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


LISTING_MARK = "== "


def _field(value: str) -> str | None:
    value = value.strip()
    return None if value in ("", "-") else value


def parse_listing(text: str) -> tuple[ListedSubvolume, ...]:
    """Parse ``== NAME`` lines each followed by ``btrfs subvolume show`` output.

    Names with no ``UUID:`` line (not a subvolume) are left out.
    """
    result: list[ListedSubvolume] = []
    name: str | None = None
    fields: dict[str, str] = {}

    def flush() -> None:
        if name is not None and _field(fields.get("UUID", "")):
            generation = fields.get("Generation", "").strip()
            result.append(ListedSubvolume(
                name=name,
                uuid=_field(fields["UUID"]),
                received_uuid=_field(fields.get("Received UUID", "")),
                parent_uuid=_field(fields.get("Parent UUID", "")),
                read_only="readonly" in fields.get("Flags", ""),
                generation=int(generation) if generation.isdigit() else None,
            ))

    # "\n" only: a name is one line of the listing script's output, and a file name may hold
    # characters str.splitlines() breaks at ("\x85", "\u2028", "\x0b", ...).
    for line in text.split("\n"):
        if line.startswith(LISTING_MARK):
            flush()
            name, fields = line[len(LISTING_MARK):], {}
            continue
        if name is None or ":" not in line or not line.startswith("\t"):
            continue
        key, value = line.strip().split(":", 1)
        fields.setdefault(key.strip(), value)
    flush()
    return tuple(sorted(result, key=lambda s: s.name))


def backups_of(listing: tuple[ListedSubvolume, ...], name: str,
               *, received: bool = True) -> tuple[ListedSubvolume, ...]:
    """The complete backups (``received``) or read-only snapshots of ``name``, oldest first."""
    found = []
    for sub in listing:
        parsed = sub.parsed
        ok = sub.is_complete_backup if received else sub.read_only
        if parsed is not None and parsed.snapshot_name == name and ok:
            found.append((parsed.order, sub))
    return tuple(sub for _, sub in sorted(found, key=lambda x: (x[0], x[1].name)))


# ``btrfs receive --dump`` of ``btrfs send --no-data -p OLD NEW``: only these lines when NEW
# has the same content as OLD (``utimes`` alone is atime/ctime noise from reading files).
_NO_CHANGE_OPS = frozenset({"snapshot", "subvol", "utimes"})


def dump_has_changes(dump: str) -> bool:
    """Whether a ``btrfs receive --dump`` stream shows any change of content or metadata."""
    for line in dump.splitlines():
        op = line.split(" ", 1)[0].strip()
        if op and op not in _NO_CHANGE_OPS:
            return True
    return False


def data_id(sub: ListedSubvolume) -> str | None:
    """What identifies a snapshot's data across send/receive: its received UUID if it has
    one, else its own UUID (what ``btrfs send`` puts in the stream)."""
    return sub.received_uuid or sub.uuid
