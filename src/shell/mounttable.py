"""The one reader of the kernel's mount table (``/proc/<pid>/mountinfo``).

Lean on purpose: the generator and the watch import it at boot, so it needs
nothing beyond the core's parser.  ``mounts.py`` (which acts on mounts), the
scan, backup, and drop and restore (every namespace's table, to tell whether a
leaf is in use) read the tables through here.
"""

from __future__ import annotations

import os

from ..core.mountinfo import MountEntry, parse_mountinfo

MOUNTINFO = "/proc/self/mountinfo"
PID1_MOUNTINFO = "/proc/1/mountinfo"


def read_mounts(source: str = MOUNTINFO) -> tuple[MountEntry, ...]:
    """The mount table of this process's namespace (or ``source``), where mounts happen;
    raises ``OSError`` when it cannot be read."""
    with open(source, encoding="utf-8", errors="surrogateescape") as handle:
        return parse_mountinfo(handle.read())


def read_host_mounts() -> tuple[MountEntry, ...]:
    """Mounts as PID 1 sees them (generators may run in a private namespace); this
    process's table when PID 1's cannot be read, and () when neither can."""
    for source in (PID1_MOUNTINFO, MOUNTINFO):
        try:
            return read_mounts(source)
        except OSError:
            continue
    return ()


def mount_tables() -> dict[str, tuple[MountEntry, ...]]:
    """The mount table of every mount namespace a process is in, keyed by how a message
    names the namespace: ``""`` for this process's own, else ``", in the mount namespace
    of process PID"``.  Processes that vanish or cannot be read are passed over."""
    tables: dict[str, tuple[MountEntry, ...]] = {}
    seen: set[str] = set()
    own = os.readlink("/proc/self/ns/mnt")
    for entry in ["self", *sorted(e for e in os.listdir("/proc") if e.isdigit())]:
        try:
            namespace = os.readlink(f"/proc/{entry}/ns/mnt")
            if namespace in seen:
                continue
            table = read_mounts(f"/proc/{entry}/mountinfo")
        except OSError:
            continue
        seen.add(namespace)
        name = "" if namespace == own else f", in the mount namespace of process {entry}"
        tables[name] = table
    return tables


__all__ = ["MOUNTINFO", "PID1_MOUNTINFO", "mount_tables", "read_host_mounts", "read_mounts"]
