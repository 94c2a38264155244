"""The one module that mounts, unmounts and talks to ``systemctl``; and reads mountinfo.

Theory of operation.  What is mounted is read from ``/proc/self/mountinfo``
(:func:`read_mounts`), and a mount is named by its *mount ID* from there,
never by the path it sits on: a path can get another mount stacked on it,
or be renamed, between the moment a command looks and the moment it acts.

* :func:`unmount_exact` unmounts one identified mount.  It reaches the mount
  point from ``/`` one component at a time without following symlinks,
  checks that the mount on top there is the identified one (by the mount ID
  the kernel reports for the opened directory) and that mountinfo still
  shows it with the same source and subvolume, then unmounts
  ``/proc/self/fd/PARENT/NAME`` with ``UMOUNT_NOFOLLOW``.  When something else
  is on top, it refuses: a foreign mount stacked on a leaf is never touched.
* :func:`mount_btrfs` mounts on ``/proc/PID/fd/N`` of a directory opened
  without following symlinks (``mount --no-canonicalize``), so the mount
  lands on the directory that was checked, not on whatever a path names now.
* :func:`mount_own` and :func:`unmount_own_tree` are for what the demo and the
  tests set up themselves (loopback images, the demo's units).
* :func:`mounts_of` finds the mounts a command made (new mount IDs showing the
  expected subvolume), so that an undo registered *before* ``mount`` or
  ``systemctl start`` ran can remove exactly those, or nothing.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterable

from ..core.errors import EnvironmentProblem
from ..core.escape import simplify_path
from ..core.mountinfo import MountEntry, containing_mount
from ..core.reload import mount_shows
from .beneath import components, fd_path, open_beneath
from .mounttable import read_mounts
from .run import run

SYSTEMD_RUNTIME = "/run/systemd/system"
_UMOUNT_NOFOLLOW = 8


def systemd_is_pid1() -> bool:
    """systemd's own test (sd_booted): this directory exists only when it runs as PID 1."""
    return os.path.isdir(SYSTEMD_RUNTIME)


def fd_mount_id(fd: int) -> int:
    """The ID of the mount an open file is on (as mountinfo numbers mounts)."""
    with open(f"/proc/self/fdinfo/{fd}", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("mnt_id:"):
                return int(line.split()[1])
    raise EnvironmentProblem("the kernel does not report mount IDs (/proc/self/fdinfo)")


def top_mount_id(where: str) -> int | None:
    """The mount ID on top at ``where``, reached without following symlinks; None when
    ``where`` cannot be reached that way."""
    try:
        fd = open_beneath_root(where)
    except OSError:
        return None
    try:
        return fd_mount_id(fd)
    finally:
        os.close(fd)


def open_beneath_root(path: str) -> int:
    root = os.open("/", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return open_beneath(root, components(simplify_path(path)))
    finally:
        os.close(root)


def mounts_of(before: Iterable[int], source: str, subvol: str,
              mounts: tuple[MountEntry, ...] | None = None) -> tuple[MountEntry, ...]:
    """Mounts not in ``before`` (mount IDs) of the filesystem ``source`` (as mountinfo
    names it) that show its btrfs subvolume ``subvol`` (deleted or not), newest first.
    (Subvolume paths and IDs repeat across filesystems: the source tells them apart.)"""
    old = set(before)
    table = read_mounts() if mounts is None else mounts
    return tuple(reversed([m for m in table if m.mount_id not in old and m.source == source
                           and mount_shows(m, subvol, None, deleted_too=True)]))


def source_of(path: str) -> str:
    """The source (device) of the mount holding ``path``, as mountinfo names it."""
    entry = containing_mount(read_mounts(), path)
    if entry is None:
        raise EnvironmentProblem(f"{path}: not on any mount")
    return entry.source


def unmount_exact(entry: MountEntry) -> None:
    """Unmount the mount ``entry`` identified in mountinfo, and nothing else.

    Raises :class:`EnvironmentProblem` (one line, naming the mount point) when
    it is gone, changed, covered by another mount, reached only through a
    symlink, or busy."""
    where = simplify_path(entry.mountpoint)
    parts = components(where)
    if not parts:
        raise EnvironmentProblem("/: the root filesystem is never unmounted")
    try:
        parent = open_beneath_root("/" + "/".join(parts[:-1]))
    except OSError as exc:
        raise EnvironmentProblem(
            f"{where}: cannot reach the mount point without following a symlink "
            f"({exc.strerror}); mount ID {entry.mount_id} left alone") from None
    try:
        try:
            fd = os.open(parts[-1], os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                         dir_fd=parent)
        except OSError as exc:
            raise EnvironmentProblem(f"{where}: {exc.strerror}; mount ID {entry.mount_id} "
                                     "left alone") from None
        try:
            top = fd_mount_id(fd)
        finally:
            os.close(fd)
        if top != entry.mount_id:
            raise EnvironmentProblem(
                f"{where}: another mount (ID {top}) is on top of the leaf mount "
                f"(ID {entry.mount_id}); both left alone",
                "unmount what was mounted over it first")
        now = next((m for m in read_mounts() if m.mount_id == entry.mount_id), None)
        if now is None or (now.fstype, now.source, now.root) != (entry.fstype, entry.source,
                                                                   entry.root):
            raise EnvironmentProblem(f"{where}: mount ID {entry.mount_id} changed or went "
                                     "away meanwhile; left alone")
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.umount2(os.fsencode(fd_path(parent, parts[-1])), _UMOUNT_NOFOLLOW) != 0:
            errno = ctypes.get_errno()
            raise EnvironmentProblem(f"umount {where} (mount ID {entry.mount_id}): "
                                     f"{os.strerror(errno)}")
    finally:
        os.close(parent)


def mount_btrfs(what: str, where_fd: int, options: tuple[str, ...], where: str) -> None:
    """Mount btrfs ``what`` on the directory open as ``where_fd`` (known to the user as
    ``where``); a failure keeps ``mount``'s own complaint in its one-line message."""
    run(["mount", "--no-canonicalize", "-t", "btrfs", "-o", ",".join(options), "--", what,
         fd_path(where_fd)], hint=f"nothing was mounted at {where}")


def mount_own(fstype: str, options: str, what: str, where: str) -> MountEntry | None:
    """Mount a filesystem this process set up itself (the demo's units, a loopback image
    for the demo or the tests) at ``where``, a directory it made; returns the new mount
    as mountinfo identifies it, so that it is later unmounted by :func:`unmount_exact`
    (None when it cannot be identified, e.g. ``where`` was replaced by a symlink)."""
    run(["mount", "-t", fstype, "-o", options, "--", what, where])
    top = top_mount_id(where)
    return next((m for m in read_mounts() if m.mount_id == top), None)


def unmount_own_tree(where: str) -> None:
    """Unmount a loopback image's top-level mount that this process made at ``where``,
    with whatever is still mounted below it (a test or the demo left it there); lazily
    when it is busy.  Only for the images the demo and the tests attach themselves."""
    if not os.path.ismount(where):
        return
    run(["umount", "-R", "--", where], check=False)
    if os.path.ismount(where):
        run(["umount", "-l", "--", where], check=False)


def daemon_reload() -> None:
    """Re-run the generators, so that systemd's units match the trees."""
    run(["systemctl", "daemon-reload"])


def start_unit(unit: str) -> None:
    run(["systemctl", "start", unit], hint=f"see 'journalctl -u {unit}'")


def stop_unit(unit: str) -> None:
    """Stop a unit (cancelling a start job still queued)."""
    run(["systemctl", "stop", unit], hint=f"see 'journalctl -u {unit}'")


def start_unit_quietly(unit: str) -> bool:
    """Start a unit whose failure is only worth a warning; True when it started."""
    return run(["systemctl", "start", unit], check=False).returncode == 0
