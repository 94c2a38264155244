"""Parsing ``/proc/PID/mountinfo`` and ``/etc/fstab`` text (pure).

From mountinfo the scan learns which filesystem holds a tree (its type, the
device to mount, the subvolume it shows) and which paths inside a tree have
something else mounted on them.  From fstab it learns which mount points
the administrator already manages, which the generator leaves alone.
"""

from __future__ import annotations

from .escape import simplify_path
from .paths import is_within
from .record import record


def _unoctal(field: str) -> str:
    """Undo the kernel's and fstab's ``\\NNN`` octal escapes (space, tab, newline, backslash)."""
    if "\\" not in field:
        return field
    out = bytearray()
    raw = field.encode("utf-8", errors="surrogateescape")
    i = 0
    while i < len(raw):
        digits = raw[i + 1 : i + 4]
        if raw[i] == 0x5C and len(digits) == 3 and all(0x30 <= b <= 0x37 for b in digits):
            out.append(int(digits, 8))
            i += 4
        else:
            out.append(raw[i])
            i += 1
    return out.decode("utf-8", errors="surrogateescape")


@record
class MountEntry:
    """One line of ``/proc/<pid>/mountinfo`` (proc(5)): a mount as the kernel reports it,
    named by its mount ID; paths are unescaped."""

    mount_id: int
    parent_id: int
    root: str
    """The path inside the filesystem that is mounted (for btrfs: the subvolume path)."""
    mountpoint: str
    fstype: str
    source: str
    options: tuple[str, ...]
    super_options: tuple[str, ...]

    @property
    def subvol_id(self) -> int | None:
        """The btrfs subvolume ID the kernel reports (``subvolid=``), if any."""
        for option in self.super_options:
            if option.startswith("subvolid="):
                value = option[len("subvolid="):]
                return int(value) if value.isdigit() else None
        return None


def parse_mountinfo(text: str) -> tuple[MountEntry, ...]:
    """Parse mountinfo text; malformed lines are skipped."""
    entries: list[MountEntry] = []
    for line in text.splitlines():
        fields = line.split(" ")
        try:
            sep = fields.index("-", 6)
            entries.append(MountEntry(
                mount_id=int(fields[0]),
                parent_id=int(fields[1]),
                root=_unoctal(fields[3]),
                mountpoint=_unoctal(fields[4]),
                options=tuple(fields[5].split(",")),
                fstype=fields[sep + 1],
                source=_unoctal(fields[sep + 2]),
                super_options=tuple(fields[sep + 3].split(",")) if len(fields) > sep + 3 else (),
            ))
        except (ValueError, IndexError):
            continue
    return tuple(entries)


def containing_mount(mounts: tuple[MountEntry, ...], path: str) -> MountEntry | None:
    """The mount that holds ``path`` (the last-mounted one of the longest prefix)."""
    path = simplify_path(path)
    best: MountEntry | None = None
    best_len = -1
    for entry in mounts:
        mp = entry.mountpoint
        if is_within(path, mp):
            length = len(mp) if mp != "/" else 0
            if length >= best_len:
                best, best_len = entry, length
    return best


def path_in_filesystem(entry: MountEntry, path: str) -> str:
    """The path inside the mounted filesystem that ``path`` (below the mount point) is."""
    path = simplify_path(path)
    rest = path[len(entry.mountpoint):] if entry.mountpoint != "/" else path
    return simplify_path(entry.root.rstrip("/") + "/" + rest.lstrip("/"))


def parse_fstab_mountpoints(text: str) -> frozenset[str]:
    """Mount points listed in fstab text (swap and ``none`` excluded)."""
    points: set[str] = set()
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        if len(fields) < 2:
            continue
        where = _unoctal(fields[1])
        if where.startswith("/"):
            points.add(simplify_path(where))
    return frozenset(points)
