"""Scanning layout trees on disk into a :class:`Snapshot`.

The walk never follows symlinks and never descends into leaves, other ``@``
entries, mount points or unreadable directories.  Per directory it costs one
``scandir``; per directory or leaf below it one ``open`` and one ``fstat`` (a symlink or an
``@`` file one ``lstat``); per leaf one btrfs ioctl at boot.  Regular files in the
structure cost nothing and are not recorded.

Every tree is scanned on its own: any failure becomes the tree's status or an
``unreadable`` entry, never an exception, so the generator always carries on.
"""

from __future__ import annotations

import errno
import os
import pwd
import stat

from ..core.config import Config, TreeConfig
from ..core.escape import device_node
from ..core.model import (
    AclEntry,
    AclTag,
    Ancestor,
    Entry,
    EntryKind,
    Snapshot,
    Subvolume,
    TreeScan,
    TreeStatus,
)
from ..core.mountinfo import (
    MountEntry,
    containing_mount,
    parse_fstab_mountpoints,
    path_in_filesystem,
)
from ..core.paths import parent_of
from ..core.plan import snapshot_dirs
from ..core.record import replace
from ..core.reserved import DEFAULT_SNAPSHOT_DIR, is_reserved, reserved_paths
from . import btrfs
from .mounttable import read_host_mounts


def read_fstab_mountpoints() -> frozenset[str]:
    path = os.environ.get("SYSTEMD_FSTAB") or "/etc/fstab"
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as handle:
            return parse_fstab_mountpoints(handle.read())
    except OSError:
        return frozenset()


def _fs_path(mount: MountEntry, realpath: str) -> str:
    return path_in_filesystem(mount, realpath)


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def scan_tree(tree: TreeConfig, mounts: tuple[MountEntry, ...], *, full: bool = True,
              snapshot_dirs: frozenset[str] = frozenset({DEFAULT_SNAPSHOT_DIR})) -> TreeScan:
    """Scan one tree.  ``full`` also reads UUIDs, nested subvolumes and the backup
    attribute of each leaf; the boot-time scan reads the read-only flag and the id.

    The walk opens every directory relative to its parent's file descriptor with
    ``O_NOFOLLOW``, so a symlink swapped in for a structure directory during the scan
    is never followed, and the facts of a leaf (its id above all) are read from the
    directory that was classified.  The project's own entries (``core.reserved``)
    are not scanned.
    """
    name, root = tree.name, tree.path
    try:
        st = os.stat(root)
    except FileNotFoundError:
        return TreeScan(name, root, TreeStatus.MISSING, "does not exist")
    except OSError as exc:
        return TreeScan(name, root, TreeStatus.UNREADABLE, f"cannot be read: {exc.strerror}")
    if not stat.S_ISDIR(st.st_mode):
        return TreeScan(name, root, TreeStatus.NOT_DIRECTORY, "is not a directory")
    real = os.path.realpath(root)
    mount = containing_mount(mounts, real)
    if mount is None or mount.fstype != "btrfs":
        fstype = mount.fstype if mount else "unknown"
        return TreeScan(name, root, TreeStatus.NOT_BTRFS,
                        f"is on a {fstype} filesystem, not btrfs")
    root_subvol = _fs_path(mount, real)
    reserved = reserved_paths(root_subvol, snapshot_dirs)
    mountpoints = frozenset(m.mountpoint for m in mounts)
    entries: list[Entry] = []
    try:
        root_fd = os.open(real, _DIR_FLAGS)
    except OSError as exc:
        return TreeScan(name, root, TreeStatus.UNREADABLE, f"cannot be read: {exc.strerror}")
    # Depth-first, one open directory per level: (fd, its path, its components).
    stack: list[tuple[int, str, tuple[str, ...], list[tuple[str, bool]]]] = []
    try:
        try:
            listing = _listing(root_fd)
        except OSError as exc:
            return TreeScan(name, root, TreeStatus.UNREADABLE, f"cannot be read: {exc.strerror}")
        stack.append((root_fd, real, (), listing))
        root_fd = -1
        while stack:
            fd, directory, prefix, names = stack[-1]
            if not names:
                os.close(fd)
                stack.pop()
                continue
            child, listed_dir = names.pop()
            path = (*prefix, child)
            if is_reserved(path, reserved):
                continue
            if not listed_dir and not child.startswith("@"):
                continue  # a file in the structure: not recorded (symlinks are listed as dirs)
            child_path = directory.rstrip("/") + "/" + child
            entry, child_fd = _scan_child(fd, child, child_path, path, root_subvol, mountpoints,
                                          full)
            if entry is None:
                continue
            entries.append(entry)
            if child_fd is None:
                continue
            try:
                child_names = _listing(child_fd)
            except OSError as exc:
                os.close(child_fd)
                entries[-1] = Entry(path, EntryKind.UNREADABLE, entry.uid, entry.gid, entry.mode,
                                    error=exc.strerror or str(exc))
                continue
            stack.append((child_fd, child_path, path, child_names))
    finally:
        if root_fd >= 0:
            os.close(root_fd)
        for fd, *_ in stack:
            os.close(fd)
    destination_real, destination_error = resolve_destination(tree.destination)
    return TreeScan(
        name=name,
        root=root,
        device=mount.source,
        root_subvol_path=root_subvol,
        uid=st.st_uid,
        gid=st.st_gid,
        mode=stat.S_IMODE(st.st_mode),
        entries=tuple(entries),
        real_root=real if real != root else None,
        fs_mountpoint=mount.mountpoint,
        destination_real=destination_real if destination_real != tree.destination else None,
        destination_error=destination_error,
        acl=read_acl(real) if full else (),
        ancestors=ancestors(root, mountpoints) if full else (),
    )


def _listing(fd: int) -> list[tuple[str, bool]]:
    """The names in the open directory ``fd``, sorted, each with whether the directory
    entry may be a directory or a symlink (its type as ``getdents`` reports it, no
    ``stat``): anything else, a regular file say, needs no system call unless its name
    starts with '@'.  The type is a hint only; the walk classifies what it opens."""
    with os.scandir(fd) as entries:
        return sorted((e.name, e.is_dir(follow_symlinks=False) or e.is_symlink())
                      for e in entries)


def resolve_destination(destination: str, limit: int = 40) -> tuple[str, str | None]:
    """``destination`` with symlinks resolved, as systemd-fstab-generator resolves a
    mount point, and why it must not be used (or None).

    Only symlinks that root alone controls are followed: a symlink owned by root in
    a directory only root can write.  Anything else (a user's symlink in their home)
    could point the mounts anywhere, so it is reported instead and the tree refused.
    Missing components end the walk: what does not exist yet is created by systemd.
    """
    resolved = "/"
    pending = [p for p in destination.split("/") if p]
    hops = 0
    while pending:
        part = pending.pop(0)
        if part in (".", ".."):
            resolved = resolved if part == "." else parent_of(resolved)
            continue
        candidate = resolved.rstrip("/") + "/" + part
        try:
            st = os.lstat(candidate)
        except OSError:
            return os.path.normpath("/".join([candidate, *pending])), None
        if not stat.S_ISLNK(st.st_mode):
            resolved = candidate
            continue
        hops += 1
        try:
            parent = os.stat(resolved)
            target = os.readlink(candidate)
        except OSError as exc:
            return destination, f"{candidate}: cannot be resolved: {exc.strerror}"
        if st.st_uid != 0 or parent.st_uid != 0 or parent.st_mode & 0o022 or hops > limit:
            return destination, (f"{candidate} is a symlink (to {target}) that uid {st.st_uid} "
                                 "or a non-root user can change")
        if target.startswith("/"):
            resolved = "/"
        pending = [p for p in target.split("/") if p] + pending
    return resolved, None


def _scan_child(parent_fd: int, name: str, child_path: str, path: tuple[str, ...],
                root_subvol: str, mountpoints: frozenset[str],
                full: bool) -> tuple[Entry | None, int | None]:
    """The entry for ``name`` in the directory ``parent_fd``, and an open fd of it when
    it is structure to walk (the caller closes it).  ``root_subvol`` is the tree root's
    path from the filesystem's top level, to which the components are appended."""
    at = name.startswith("@")
    fd = -1
    if child_path not in mountpoints:  # never opened: that could trigger an automount
        # Open first and classify what was opened (its fstat): no stat before the open,
        # so nothing can be swapped in between.  A symlink or file fails the open.
        try:
            fd = os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
        except FileNotFoundError:
            return None, None  # removed during the scan
        except OSError as exc:
            if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                return Entry(path, EntryKind.UNREADABLE, error=exc.strerror or str(exc)), None
    if fd < 0:
        try:
            st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
            owner = (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode))
            if stat.S_ISLNK(st.st_mode):
                return (Entry(path, EntryKind.SYMLINK,
                              target=os.readlink(name, dir_fd=parent_fd)), None)
        except FileNotFoundError:
            return None, None
        except OSError as exc:
            return Entry(path, EntryKind.UNREADABLE, error=exc.strerror or str(exc)), None
        if not stat.S_ISDIR(st.st_mode):
            return (Entry(path, EntryKind.OTHER, *owner) if at else None), None
        if child_path in mountpoints:
            return Entry(path, EntryKind.MOUNTPOINT, *owner), None
        # a directory now that was none when opened
        return Entry(path, EntryKind.UNREADABLE, error="changed during the scan"), None
    try:
        st = os.fstat(fd)
        owner = (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode))
        if st.st_ino == btrfs.SUBVOLUME_INODE:
            fallback = root_subvol.rstrip("/") + "/" + "/".join(path)
            if full:
                facts = btrfs.subvolume_facts(child_path, fallback, full=True, fd=fd)
            else:
                facts = btrfs.boot_facts(fd, fallback)
            entry = Entry(path, EntryKind.SUBVOLUME, *owner, subvolume=Subvolume(**facts),
                          acl=read_acl(fd, child_path) if full and not at else ())
        else:
            entry = Entry(path, EntryKind.DIRECTORY, *owner,
                          acl=read_acl(fd, child_path) if full and not at else ())
    except OSError as exc:
        os.close(fd)
        return Entry(path, EntryKind.UNREADABLE, error=exc.strerror or str(exc)), None
    except Exception as exc:  # btrfsutil errors and the like: never stop the scan
        os.close(fd)
        return Entry(path, EntryKind.UNREADABLE, error=str(exc)), None
    if entry.is_at_name:
        os.close(fd)  # a leaf or '@' entry: never descended into
        return entry, None
    return entry, fd


def scan(config: Config, *, full: bool = True,
         mounts: tuple[MountEntry, ...] | None = None,
         fstab: frozenset[str] | None = None) -> Snapshot:
    """Scan every configured tree."""
    mounts = read_host_mounts() if mounts is None else mounts
    dirs = snapshot_dirs(config)
    trees = []
    for tree in config.trees:
        try:
            result = scan_tree(tree, mounts, full=full, snapshot_dirs=dirs)
        except Exception as exc:  # a bug in one tree must not cost the others
            result = TreeScan(tree.name, tree.path, TreeStatus.UNREADABLE, str(exc))
        if full and tree.device is not None:
            result = replace(result, device_found=device_exists(tree.device))
        trees.append(result)
    return Snapshot(
        trees=tuple(trees),
        fstab_mountpoints=read_fstab_mountpoints() if fstab is None else fstab,
        user_homes=user_homes(trees) if full else frozenset(),
        group_members=read_group_members(trees) if full else frozenset(),
        max_user_watches=read_max_user_watches() if full else None,
    )


def device_exists(device: str) -> bool | None:
    """Whether a configured device (a path or ``UUID=``-style spec) exists now;
    None for anything else (e.g. a network source).  The spec becomes a node path
    as systemd-fstab-generator does it (``device_node``: udev's escaping of labels)."""
    node = device_node(device)
    if not node.startswith("/"):
        return None
    return os.path.exists(node)


def user_homes(trees: list[TreeScan], group_file: str = "/etc/group",
               passwd_file: str = "/etc/passwd") -> frozenset[tuple[int, str]]:
    """Home directories of the non-root users who own tree directories, directories above
    the trees, are named in their ACLs or are in their groups (for ``layout check``)."""
    uids = {t.uid for t in trees} | {e.uid for t in trees for e in t.entries}
    uids |= {a.uid for t in trees for a in t.ancestors}
    uids |= {e.id for acl in _acls(trees) for e in acl if e.tag is AclTag.USER and e.id is not None}
    for _gid, members in read_group_members(trees, group_file, passwd_file):
        uids |= members
    homes: set[tuple[int, str]] = set()
    for uid in sorted(uids - {0}):
        try:
            home = pwd.getpwuid(uid).pw_dir
        except KeyError:
            continue
        if home.startswith("/"):
            homes.add((uid, home))
    return frozenset(homes)


def read_acl(path: str | int, name: str | None = None) -> tuple[AclEntry, ...]:
    """The access ACL of ``path`` (an open fd, or a path never followed if a symlink); ()
    when it has none or it cannot be read.  ``name`` names an fd in messages."""
    # core.access only for full scans: the boot-time scan reads no ACL
    from ..core.access import ACL_XATTR, parse_posix_acl

    try:
        if isinstance(path, int):
            data = os.getxattr(path, ACL_XATTR)
        else:
            data = os.getxattr(path, ACL_XATTR, follow_symlinks=False)
    except OSError:
        return ()
    return parse_posix_acl(data, name or str(path))


def ancestors(root: str, mountpoints: frozenset[str] = frozenset()) -> tuple[Ancestor, ...]:
    """The directories above ``root``, as configured and as its symlinks resolve, from ``/``
    down, each ``lstat``-ed (a symlink among them is left out, its directory is not).  A
    directory whose next component on the way is a mount point is left out too: a mount
    point cannot be renamed or replaced while mounted."""
    paths: set[str] = set()
    for full in (os.path.abspath(root), os.path.realpath(root)):
        child = full
        while child != "/":
            parent = os.path.dirname(child)
            if child not in mountpoints:
                paths.add(parent)
            child = parent
    found: list[Ancestor] = []
    for path in sorted(paths):
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode):
            found.append(Ancestor(path, st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode),
                                  read_acl(path)))
    return tuple(found)


def _acls(trees: list[TreeScan]) -> list[tuple[AclEntry, ...]]:
    return ([t.acl for t in trees] + [e.acl for t in trees for e in t.entries]
            + [a.acl for t in trees for a in t.ancestors])


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as handle:
            return handle.read()
    except OSError:
        return ""


def read_group_members(trees: list[TreeScan], group_file: str = "/etc/group",
                       passwd_file: str = "/etc/passwd") -> frozenset[tuple[int, frozenset[int]]]:
    """Members of the groups that own, or are named in the ACLs of, the trees' directories
    and the directories above them (from ``/etc/group`` and ``/etc/passwd``)."""
    gids = {t.gid for t in trees} | {e.gid for t in trees for e in t.entries}
    gids |= {a.gid for t in trees for a in t.ancestors}
    gids |= {e.id for acl in _acls(trees) for e in acl
             if e.tag is AclTag.GROUP and e.id is not None}
    from ..core.access import group_members, parse_group, parse_passwd

    return group_members(parse_group(_read_text(group_file)),
                         parse_passwd(_read_text(passwd_file)), frozenset(gids))


def read_max_user_watches() -> int | None:
    """``fs.inotify.max_user_watches`` (what the watch may use depends on it)."""
    try:
        with open("/proc/sys/fs/inotify/max_user_watches", encoding="ascii") as handle:
            return int(handle.read().strip())
    except (OSError, ValueError):
        return None
