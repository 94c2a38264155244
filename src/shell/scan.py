"""Scanning layout trees on disk into a :class:`Snapshot`.

The walk never follows symlinks and never descends into leaves, other ``@``
entries, mount points or unreadable directories.  Per directory it costs one
``scandir``; per child directory one ``lstat``; per leaf one or two btrfs
ioctls.  Regular files in the structure are not recorded.

Every tree is scanned on its own: any failure becomes the tree's status or an
``unreadable`` entry, never an exception, so the generator always carries on.
"""

from __future__ import annotations

import dataclasses
import os
import pwd
import stat

from ..core.access import ACL_XATTR, group_members, parse_group, parse_passwd, parse_posix_acl
from ..core.config import Config, TreeConfig
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
    parse_mountinfo,
    path_in_filesystem,
)
from . import btrfs


def read_mounts() -> tuple[MountEntry, ...]:
    """Mounts as PID 1 sees them (generators may run in a private namespace)."""
    for source in ("/proc/1/mountinfo", "/proc/self/mountinfo"):
        try:
            with open(source, encoding="utf-8", errors="surrogateescape") as handle:
                return parse_mountinfo(handle.read())
        except OSError:
            continue
    return ()


def read_fstab_mountpoints() -> frozenset[str]:
    path = os.environ.get("SYSTEMD_FSTAB") or "/etc/fstab"
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as handle:
            return parse_fstab_mountpoints(handle.read())
    except OSError:
        return frozenset()


def _fs_path(mount: MountEntry, realpath: str) -> str:
    return path_in_filesystem(mount, realpath)


def scan_tree(tree: TreeConfig, mounts: tuple[MountEntry, ...], *, full: bool = True) -> TreeScan:
    """Scan one tree.  ``full`` also reads the backup attribute of each leaf."""
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
    mountpoints = frozenset(m.mountpoint for m in mounts)
    entries: list[Entry] = []
    stack: list[tuple[str, tuple[str, ...]]] = [(real, ())]
    while stack:
        directory, prefix = stack.pop()
        try:
            with os.scandir(directory) as listing:
                children = list(listing)
        except FileNotFoundError:
            continue  # removed during the scan
        except OSError as exc:
            if not prefix:
                return TreeScan(name, root, TreeStatus.UNREADABLE,
                                f"cannot be read: {exc.strerror}")
            _mark_unreadable(entries, prefix, exc)
            continue
        for child in children:
            entry = _scan_child(child, (*prefix, child.name), mount, mountpoints, full)
            if entry is None:
                continue
            entries.append(entry)
            if entry.kind in (EntryKind.DIRECTORY, EntryKind.SUBVOLUME) and not entry.is_at_name:
                stack.append((child.path, entry.path))
    return TreeScan(
        name=name,
        root=root,
        device=mount.source,
        root_subvol_path=_fs_path(mount, real),
        uid=st.st_uid,
        gid=st.st_gid,
        mode=stat.S_IMODE(st.st_mode),
        entries=tuple(entries),
        acl=read_acl(real) if full else (),
        ancestors=ancestors(root, mountpoints) if full else (),
    )


def _mark_unreadable(entries: list[Entry], path: tuple[str, ...], exc: OSError) -> None:
    for i, entry in enumerate(entries):
        if entry.path == path:
            entries[i] = Entry(path, EntryKind.UNREADABLE, entry.uid, entry.gid, entry.mode,
                               error=exc.strerror or str(exc))
            return


def _scan_child(child: os.DirEntry[str], path: tuple[str, ...], mount: MountEntry,
                mountpoints: frozenset[str], full: bool) -> Entry | None:
    at = child.name.startswith("@")
    try:
        if child.is_symlink():
            return Entry(path, EntryKind.SYMLINK, target=os.readlink(child.path))
        if not child.is_dir(follow_symlinks=False):
            if not at:
                return None
            st = child.stat(follow_symlinks=False)
            return Entry(path, EntryKind.OTHER, st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode))
        st = child.stat(follow_symlinks=False)
        owner = (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode))
        if child.path in mountpoints:
            return Entry(path, EntryKind.MOUNTPOINT, *owner)
        acl = read_acl(child.path) if full and not at else ()
        if st.st_ino == btrfs.SUBVOLUME_INODE:
            facts = btrfs.subvolume_facts(child.path, _fs_path(mount, child.path), full=full)
            return Entry(path, EntryKind.SUBVOLUME, *owner, subvolume=Subvolume(**facts),
                         acl=acl)
        return Entry(path, EntryKind.DIRECTORY, *owner, acl=acl)
    except FileNotFoundError:
        return None  # removed during the scan
    except OSError as exc:
        return Entry(path, EntryKind.UNREADABLE, error=exc.strerror or str(exc))
    except Exception as exc:  # btrfsutil errors and the like: never stop the scan
        return Entry(path, EntryKind.UNREADABLE, error=str(exc))


def scan(config: Config, *, full: bool = True,
         mounts: tuple[MountEntry, ...] | None = None,
         fstab: frozenset[str] | None = None) -> Snapshot:
    """Scan every configured tree."""
    mounts = read_mounts() if mounts is None else mounts
    trees = []
    for tree in config.trees:
        try:
            result = scan_tree(tree, mounts, full=full)
        except Exception as exc:  # a bug in one tree must not cost the others
            result = TreeScan(tree.name, tree.path, TreeStatus.UNREADABLE, str(exc))
        if full and tree.device is not None:
            result = dataclasses.replace(result, device_found=device_exists(tree.device))
        trees.append(result)
    return Snapshot(
        trees=tuple(trees),
        fstab_mountpoints=read_fstab_mountpoints() if fstab is None else fstab,
        user_homes=user_homes(trees) if full else frozenset(),
        group_members=read_group_members(trees) if full else frozenset(),
        max_user_watches=read_max_user_watches() if full else None,
    )


_SPEC_DIRS = {"UUID": "by-uuid", "LABEL": "by-label", "PARTUUID": "by-partuuid",
              "PARTLABEL": "by-partlabel"}


def device_exists(device: str) -> bool | None:
    """Whether a configured device (a path or ``UUID=``-style spec) exists now;
    None for anything else (e.g. a network source)."""
    key, _, value = device.partition("=")
    if key in _SPEC_DIRS and value:
        device = f"/dev/disk/{_SPEC_DIRS[key]}/{value}"
    if not device.startswith("/"):
        return None
    return os.path.exists(device)


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


def read_acl(path: str) -> tuple[AclEntry, ...]:
    """The access ACL of ``path`` (never following a symlink); () when it has none or it
    cannot be read."""
    try:
        data = os.getxattr(path, ACL_XATTR, follow_symlinks=False)
    except OSError:
        return ()
    return parse_posix_acl(data, path)


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
    return group_members(parse_group(_read_text(group_file)),
                         parse_passwd(_read_text(passwd_file)), frozenset(gids))


def read_max_user_watches() -> int | None:
    """``fs.inotify.max_user_watches`` (what the watch may use depends on it)."""
    try:
        with open("/proc/sys/fs/inotify/max_user_watches", encoding="ascii") as handle:
            return int(handle.read().strip())
    except (OSError, ValueError):
        return None
