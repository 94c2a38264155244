"""Scanning layout trees on disk into a :class:`Snapshot`.

The walk never follows symlinks and never descends into leaves, other ``@``
entries, mount points or unreadable directories.  Per directory it costs one
``scandir``; per structure directory below it one ``open`` and one ``fstat``; a symlink
or an ``@`` file one ``lstat`` more.  Regular files in the structure cost nothing and
are not recorded.

A leaf costs one ``fstatat`` at boot: a subvolume root is listed by ``scandir`` with its
subvolume's id as inode number, and after the walk a few tree-search ioctls over those
ids (:func:`btrfs.subvolume_places`, as root; the cost follows the tree's leaves, not
the other subvolumes of the filesystem such as backup snapshots) confirm that each is
the subvolume found there and give its read-only flag.  Where the root tree cannot be
searched (not root, an old kernel) or does not confirm an ``@`` entry, it is opened and
classified by its ``fstat`` and one btrfs ioctl, as the full scan does every leaf; both
give the same entry.

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
              snapshot_dirs: frozenset[str] = frozenset({DEFAULT_SNAPSHOT_DIR}),
              tree_search: bool = False) -> TreeScan:
    """Scan one tree.  ``full`` also reads UUIDs, nested subvolumes and the backup
    attribute of each leaf; the boot-time scan reads the read-only flag and the id.

    With ``tree_search`` (boot-time scan only, as root) the leaves are not opened: each
    ``@`` directory that one ``fstatat`` shows to be a subvolume root is confirmed, after
    the walk, by the root tree (:func:`btrfs.subvolume_places`): the subvolume it is
    listed as lies at this very place.  What is not confirmed is opened and asked, as
    without ``tree_search``; the entries are the same either way.

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
    entries: list[Entry | None] = []  # None: a leaf the root tree is still to confirm
    try:
        root_fd = os.open(real, _DIR_FLAGS)
    except OSError as exc:
        return TreeScan(name, root, TreeStatus.UNREADABLE, f"cannot be read: {exc.strerror}")
    where = _root_where(root_fd) if tree_search and not full else None
    anchor = os.dup(root_fd) if where is not None else -1
    pending: list[_Pending] = []
    # Depth-first, one open directory per level: (fd, its path, its components, its
    # listing, where it is in the filesystem).
    stack: list[tuple[int, str, tuple[str, ...], list[tuple[str, bool, int]],
                      _Where | None]] = []
    try:
        try:
            listing = _listing(root_fd)
        except OSError as exc:
            return TreeScan(name, root, TreeStatus.UNREADABLE, f"cannot be read: {exc.strerror}")
        stack.append((root_fd, real, (), listing, where))
        root_fd = -1
        while stack:
            fd, directory, prefix, names, where = stack[-1]
            if not names:
                os.close(fd)
                stack.pop()
                continue
            child, listed_dir, ino = names.pop()
            path = (*prefix, child)
            if is_reserved(path, reserved):
                continue
            if not listed_dir and not child.startswith("@"):
                continue  # a file in the structure: not recorded (symlinks are listed as dirs)
            child_path = directory.rstrip("/") + "/" + child
            if (where is not None and listed_dir and child.startswith("@")
                    and child_path not in mountpoints):
                child_st = _subvolume_root(fd, child)
                if child_st is not None:
                    pending.append((len(entries), path, ino, (where[0], where[1], child),
                                    child_st))
                    entries.append(None)
                    continue
            entry, child_fd, child_st = _scan_child(fd, child, child_path, path, root_subvol,
                                                    mountpoints, full)
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
            child_where = None
            if where is not None and child_st is not None:
                child_where = _where_child(where, ino, child_st)
            stack.append((child_fd, child_path, path, child_names, child_where))
        if pending:
            _settle(anchor, pending, entries, real, root_subvol, mountpoints)
    finally:
        if root_fd >= 0:
            os.close(root_fd)
        if anchor >= 0:
            os.close(anchor)
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
        entries=tuple(e for e in entries if e is not None),
        real_root=real if real != root else None,
        fs_mountpoint=mount.mountpoint,
        destination_real=destination_real if destination_real != tree.destination else None,
        destination_error=destination_error,
        acl=read_acl(real) if full else (),
        ancestors=ancestors(root, mountpoints) if full else (),
    )


def _listing(fd: int) -> list[tuple[str, bool, int]]:
    """The names in the open directory ``fd``, sorted, each with whether the directory
    entry may be a directory or a symlink (its type as ``getdents`` reports it, no
    ``stat``) and its inode number as listed (a subvolume root is listed with its
    subvolume's id): anything else, a regular file say, needs no system call unless its
    name starts with '@'.  Type and number are hints only: the walk classifies what it
    opens, or what one ``fstatat`` and the root tree confirm."""
    with os.scandir(fd) as entries:
        return sorted((e.name, e.is_dir(follow_symlinks=False) or e.is_symlink(), e.inode())
                      for e in entries)


_Where = tuple[int, int, int]
"""Where an open structure directory is: (the id of the subvolume holding it, its inode
number there, its device number from ``fstat``)."""

_Pending = tuple[int, tuple[str, ...], int, tuple[int, int, str], os.stat_result]
"""A leaf to confirm: (its slot in the entries, its path in the tree, the subvolume id
it is listed with, where it is as the root tree records it, its ``fstatat``)."""


def _root_where(root_fd: int) -> _Where | None:
    """Where the tree root ``root_fd`` is, or None when the root tree cannot be searched
    (not root, an old kernel): every leaf is then opened and asked."""
    try:
        if not btrfs.tree_search_permitted(root_fd):
            return None
        st = os.fstat(root_fd)
        return btrfs.subvolume_id_by_ioctl(root_fd), st.st_ino, st.st_dev
    except OSError:
        return None


def _where_child(parent: _Where, ino: int, st: os.stat_result) -> _Where | None:
    """Where the structure directory listed with inode number ``ino`` in the directory
    ``parent`` and opened (``st``: its ``fstat``) is: a subvolume root is the subvolume
    it is listed as; a directory is in its parent's subvolume, on its device (None when
    not: something is mounted there after all, and below it every leaf is asked)."""
    if st.st_ino == btrfs.SUBVOLUME_INODE:
        return ino, st.st_ino, st.st_dev
    return (parent[0], st.st_ino, st.st_dev) if st.st_dev == parent[2] else None


def _subvolume_root(parent_fd: int, name: str) -> os.stat_result | None:
    """The ``fstatat`` of ``name`` in ``parent_fd`` (never following a symlink) when it is
    a subvolume root (a directory with inode 256); None for anything else."""
    try:
        st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
    except OSError:
        return None
    return st if st.st_ino == btrfs.SUBVOLUME_INODE and stat.S_ISDIR(st.st_mode) else None


def _settle(tree_fd: int, pending: list[_Pending], entries: list[Entry | None], real: str,
            root_subvol: str, mountpoints: frozenset[str]) -> None:
    """Fill the slots of the ``pending`` leaves in ``entries``: a subvolume whose id,
    read-only flag and place the root tree confirms (a few ioctls for all of them), and
    anything else as opening and asking it gives (a placeholder that a snapshot left for
    a nested subvolume is listed with the nested one's id, but lies in another one)."""
    try:
        places = btrfs.subvolume_places(tree_fd, [p[2] for p in pending])
    except (OSError, ValueError):
        places = None
    for slot, path, subvol_id, place, st in pending:
        found = places.get(subvol_id) if places is not None else None
        if found is not None and place in found[1]:
            subvolume = Subvolume(path=root_subvol.rstrip("/") + "/" + "/".join(path),
                                  read_only=found[0], id=subvol_id)
            entries[slot] = Entry(path, EntryKind.SUBVOLUME, st.st_uid, st.st_gid,
                                  stat.S_IMODE(st.st_mode), subvolume=subvolume)
        else:
            entries[slot] = _ask(tree_fd, path, real, root_subvol, mountpoints)


def _ask(tree_fd: int, path: tuple[str, ...], real: str, root_subvol: str,
         mountpoints: frozenset[str]) -> Entry | None:
    """The entry at ``path`` in the tree open as ``tree_fd``, as the walk classifies it by
    opening it (its parents are opened again, never through a symlink)."""
    from .beneath import open_beneath

    try:
        parent = open_beneath(tree_fd, path[:-1])
    except FileNotFoundError:
        return None  # removed during the scan
    except OSError as exc:
        return Entry(path, EntryKind.UNREADABLE, error=exc.strerror or str(exc))
    try:
        entry, fd, _st = _scan_child(parent, path[-1], real.rstrip("/") + "/" + "/".join(path),
                                     path, root_subvol, mountpoints, False)
    finally:
        os.close(parent)
    if fd is not None:
        os.close(fd)
    return entry


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
                full: bool) -> tuple[Entry | None, int | None, os.stat_result | None]:
    """The entry for ``name`` in the directory ``parent_fd``, and an open fd of it and its
    ``fstat`` when it is structure to walk (the caller closes it).  ``root_subvol`` is the
    tree root's path from the filesystem's top level, to which the components are
    appended."""
    at = name.startswith("@")
    fd = -1
    if child_path not in mountpoints:  # never opened: that could trigger an automount
        # Open first and classify what was opened (its fstat): no stat before the open,
        # so nothing can be swapped in between.  A symlink or file fails the open.
        try:
            fd = os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
        except FileNotFoundError:
            return None, None, None  # removed during the scan
        except OSError as exc:
            if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                return (Entry(path, EntryKind.UNREADABLE, error=exc.strerror or str(exc)),
                        None, None)
    if fd < 0:
        try:
            st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
            owner = (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode))
            if stat.S_ISLNK(st.st_mode):
                return (Entry(path, EntryKind.SYMLINK,
                              target=os.readlink(name, dir_fd=parent_fd)), None, None)
        except FileNotFoundError:
            return None, None, None
        except OSError as exc:
            return Entry(path, EntryKind.UNREADABLE, error=exc.strerror or str(exc)), None, None
        if not stat.S_ISDIR(st.st_mode):
            return (Entry(path, EntryKind.OTHER, *owner) if at else None), None, None
        if child_path in mountpoints:
            return Entry(path, EntryKind.MOUNTPOINT, *owner), None, None
        # a directory now that was none when opened
        return Entry(path, EntryKind.UNREADABLE, error="changed during the scan"), None, None
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
        return Entry(path, EntryKind.UNREADABLE, error=exc.strerror or str(exc)), None, None
    except Exception as exc:  # btrfsutil errors and the like: never stop the scan
        os.close(fd)
        return Entry(path, EntryKind.UNREADABLE, error=str(exc)), None, None
    if entry.is_at_name:
        os.close(fd)  # a leaf or '@' entry: never descended into
        return entry, None, None
    return entry, fd, st


def scan(config: Config, *, full: bool = True,
         mounts: tuple[MountEntry, ...] | None = None,
         fstab: frozenset[str] | None = None, tree_search: bool = True) -> Snapshot:
    """Scan every configured tree.  The boot-time scan (not ``full``) confirms the leaves
    by a search of the root tree when ``tree_search`` allows it (and the process may),
    instead of opening and asking every leaf; the snapshot is the same either way."""
    mounts = read_host_mounts() if mounts is None else mounts
    dirs = snapshot_dirs(config)
    trees = []
    for tree in config.trees:
        try:
            result = scan_tree(tree, mounts, full=full, snapshot_dirs=dirs,
                               tree_search=tree_search)
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
