"""The one module that talks to btrfs.

Detection follows the usual rule: a directory whose inode number is 256 on a
btrfs filesystem is a subvolume root (the caller knows the filesystem type
from mountinfo, so detection costs no extra system call).  Facts about a
subvolume (read-only flag, UUIDs, generation, its path from the top level)
come from ``btrfsutil``, imported lazily so that tools which only read
snapshots never need it.  Without ``btrfsutil`` the read-only flag is read
with the ``BTRFS_IOC_SUBVOL_GETFLAGS`` ioctl and the path is derived from
mountinfo, which gives the same answer for any path below a btrfs mount.  As
root, the boot-time scan reads the id, place and read-only flag of all its
leaves at once from the root tree (:func:`subvolume_places`).
"""

from __future__ import annotations

import errno
import os
import sys

from ..core.errors import EnvironmentProblem

TYPE_CHECKING = False  # typing is not imported at run time (the generator's start-up)
if TYPE_CHECKING:
    import subprocess
    from collections.abc import Sequence
    from typing import Any

SUBVOLUME_INODE = 256
BTRFS_SUBVOL_RDONLY = 1 << 1  # flag bit of BTRFS_IOC_SUBVOL_GETFLAGS
BTRFS_ROOT_SUBVOL_RDONLY = 1 << 0  # flag bit in btrfs_util_subvolume_info.flags
BTRFS_IOC_SUBVOL_GETFLAGS = 0x80089419
BACKUP_XATTR = "user.layout-trees.backup"

_btrfsutil: Any = None
_btrfsutil_missing = False


def btrfsutil() -> Any:
    """The ``btrfsutil`` module, or None when it is not installed."""
    global _btrfsutil, _btrfsutil_missing
    if _btrfsutil is None and not _btrfsutil_missing:
        try:
            import btrfsutil as module
        except ImportError:
            _btrfsutil_missing = True
        else:
            _btrfsutil = module
    return _btrfsutil


def require_btrfsutil() -> Any:
    module = btrfsutil()
    if module is None:
        raise EnvironmentProblem(
            "the btrfsutil Python module is not installed",
            "install python3-btrfsutil (Debian) or 'pip install btrfsutil==6.12'",
        )
    return module


def _uuid(raw: bytes | None) -> str | None:
    if not raw or raw == bytes(16):
        return None
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def read_only_by_ioctl(path: str | int) -> bool:
    """The read-only flag of the subvolume at ``path`` (or open directory fd)."""
    import fcntl
    import struct

    if isinstance(path, int):
        buf = fcntl.ioctl(path, BTRFS_IOC_SUBVOL_GETFLAGS, b"\0" * 8)
        return bool(struct.unpack("=Q", buf)[0] & BTRFS_SUBVOL_RDONLY)
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC | os.O_NOFOLLOW)
    try:
        return read_only_by_ioctl(fd)
    finally:
        os.close(fd)


BTRFS_IOC_INO_LOOKUP = 0xD0009412  # _IOWR(0x94, 18, struct btrfs_ioctl_ino_lookup_args)
BTRFS_FIRST_FREE_OBJECTID = 256


def subvolume_id_by_ioctl(fd: int) -> int:
    """The id of the subvolume holding the open directory ``fd``: one unprivileged
    ``BTRFS_IOC_INO_LOOKUP`` (tree id 0, object id 256), as ``btrfsutil.subvolume_id``."""
    import fcntl
    import struct

    args = bytearray(struct.pack("=QQ", 0, BTRFS_FIRST_FREE_OBJECTID) + bytes(4080))
    fcntl.ioctl(fd, BTRFS_IOC_INO_LOOKUP, args, True)
    return int(struct.unpack_from("=Q", args)[0])


BTRFS_IOC_GET_SUBVOL_INFO = 0x81F8943C  # _IOR(0x94, 60, struct btrfs_ioctl_get_subvol_info_args)
_SUBVOL_INFO_SIZE = 504
_SUBVOL_INFO_FLAGS = 288  # offset of 'flags': after treeid, name[256], parent_id, dirid, generation
_subvol_info_missing = False


def subvolume_info_by_ioctl(fd: int) -> tuple[int, bool] | None:
    """``(id, read-only)`` of the subvolume open as ``fd`` from one unprivileged
    ``BTRFS_IOC_GET_SUBVOL_INFO`` (Linux 4.18 and later); None when the kernel lacks it."""
    global _subvol_info_missing
    if _subvol_info_missing:
        return None
    import fcntl
    import struct

    buf = bytearray(_SUBVOL_INFO_SIZE)
    try:
        fcntl.ioctl(fd, BTRFS_IOC_GET_SUBVOL_INFO, buf, True)
    except OSError as exc:
        if exc.errno not in (errno.ENOTTY, errno.EINVAL, errno.EOPNOTSUPP):
            raise
        _subvol_info_missing = True
        return None
    treeid = struct.unpack_from("=Q", buf)[0]
    flags = struct.unpack_from("=Q", buf, _SUBVOL_INFO_FLAGS)[0]
    return int(treeid), bool(flags & BTRFS_ROOT_SUBVOL_RDONLY)


def boot_facts(fd: int, fallback_path: str) -> dict[str, Any]:
    """The boot-time facts of the subvolume open as ``fd`` (opened without following
    symlinks by the walk): its path from the top level, read-only flag and id, read
    from the very directory that was scanned.  One ioctl (two on kernels before 4.18),
    no btrfsutil needed."""
    info = subvolume_info_by_ioctl(fd)
    if info is None:
        return {"path": fallback_path, "read_only": read_only_by_ioctl(fd),
                "id": subvolume_id_by_ioctl(fd)}
    return {"path": fallback_path, "read_only": info[1], "id": info[0]}


# --- subvolumes by id from the root tree (the boot-time scan) --------------------------
# A directory entry that is a subvolume root carries the subvolume's id as its inode
# number (getdents reports the ROOT_ITEM key it points to; stat reports 256).  The root
# tree holds, by that id, where the subvolume is (its back reference: parent subvolume,
# parent directory inode, name) and its read-only flag: a few tree-search ioctls over
# the ids a scan found answer for every leaf at once.

BTRFS_IOC_TREE_SEARCH_V2 = 0xC0709411  # _IOWR(0x94, 17, struct btrfs_ioctl_search_args_v2)
ROOT_TREE_OBJECTID = 1
ROOT_ITEM_KEY = 132
ROOT_BACKREF_KEY = 144
ROOT_ITEM_FLAGS = 208  # le64 after the inode item (160 bytes) and six le64 fields
ROOT_REF_SIZE = 18  # struct btrfs_root_ref: dirid le64, sequence le64, name_len le16
SEARCH_HEADER_SIZE = 32  # struct btrfs_ioctl_search_header: transid, objectid, offset, type, len
_SEARCH_ARGS_SIZE = 112  # struct btrfs_ioctl_search_key (104 bytes), then buf_size
SEARCH_BUFFER_SIZE = 1 << 20
MAX_ITEM_SIZE = 1 << 16
"""No item is larger than a tree block (64 KiB at most): a search that left more room
than that in its buffer found all there was."""
RANGE_GAP = 4
"""Ids this close together are read by one search: reading the few subvolumes between
them costs less than another ioctl."""
_NOT_PERMITTED = (errno.EPERM, errno.EACCES, errno.ENOTTY, errno.EINVAL, errno.EOPNOTSUPP)
_layouts: tuple[Any, ...] = ()


def _search_layouts() -> tuple[Any, ...]:
    """The ``struct`` layouts of a search (made once, on first use): its arguments (key
    and buffer size), a result header, a little-endian u64, a root reference."""
    global _layouts
    if not _layouts:
        import struct

        _layouts = (struct.Struct("=7Q4I4QQ"), struct.Struct("=8xQQII"),
                    struct.Struct("<Q"), struct.Struct("<Q8xH"))
    return _layouts

def parse_root_items(buf: bytes | bytearray | memoryview, count: int,
                     read_only: dict[int, bool],
                     refs: list[tuple[int, int, int, bytes]],
                     ) -> tuple[tuple[int, int, int] | None, int]:
    """Decode ``count`` results of a tree search of the root tree in ``buf``: the read-only
    flag of each ROOT_ITEM into ``read_only`` (by subvolume id) and each ROOT_BACKREF into
    ``refs`` as ``(id, parent id, parent directory inode, name)``.  Other item types and
    items too short for their type are passed over.  Returns the key (objectid, type,
    offset) of the last result (None when there was none) and the bytes the results
    take; ValueError when a result runs past the end of ``buf``."""
    _args, header, le64, ref = _search_layouts()
    view = memoryview(buf)
    size = len(view)
    pos = 0
    key = None
    for _ in range(count):
        if pos + SEARCH_HEADER_SIZE > size:
            raise ValueError(f"tree search result {pos} runs past the buffer ({size} bytes)")
        objectid, offset, kind, length = header.unpack_from(view, pos)
        pos += SEARCH_HEADER_SIZE
        end = pos + length
        if end > size:
            raise ValueError(f"tree search item at {pos} runs past the buffer ({size} bytes)")
        if kind == ROOT_ITEM_KEY:
            if length >= ROOT_ITEM_FLAGS + 8:
                flags = le64.unpack_from(view, pos + ROOT_ITEM_FLAGS)[0]
                read_only[objectid] = bool(flags & BTRFS_ROOT_SUBVOL_RDONLY)
        elif kind == ROOT_BACKREF_KEY and length >= ROOT_REF_SIZE:
            dirid, name_len = ref.unpack_from(view, pos)
            if ROOT_REF_SIZE + name_len <= length:
                start = pos + ROOT_REF_SIZE
                refs.append((objectid, offset, dirid, bytes(view[start:start + name_len])))
        pos = end
        key = (objectid, kind, offset)
    return key, pos


def _next_key(key: tuple[int, int, int]) -> tuple[int, int, int] | None:
    """The smallest key after ``key``; None after the last one possible."""
    objectid, kind, offset = key
    if offset < 2**64 - 1:
        return objectid, kind, offset + 1
    if kind < 255:
        return objectid, kind + 1, 0
    return (objectid + 1, 0, 0) if objectid < 2**64 - 1 else None


def id_ranges(ids: Sequence[int], gap: int = RANGE_GAP) -> list[tuple[int, int]]:
    """The sorted ``ids`` as inclusive ranges, ids at most ``gap`` apart in one range."""
    ranges: list[tuple[int, int]] = []
    for i in sorted(ids):
        if ranges and i - ranges[-1][1] <= gap:
            ranges[-1] = (ranges[-1][0], i)
        else:
            ranges.append((i, i))
    return ranges


def _search(fd: int, args: bytearray, first: int, last: int,
            read_only: dict[int, bool], refs: list[tuple[int, int, int, bytes]]) -> None:
    """Every ROOT_ITEM and ROOT_BACKREF of the subvolumes ``first`` to ``last`` (into
    ``read_only`` and ``refs``), one ``BTRFS_IOC_TREE_SEARCH_V2`` per buffer full (the
    buffer ``args`` holds more than ``MAX_ITEM_SIZE``).  The search range is a range of
    keys, (objectid, type, offset) in that order: items of other types between them come
    too and are passed over."""
    import fcntl

    layout = _search_layouts()[0]
    size = len(args) - _SEARCH_ARGS_SIZE
    results = memoryview(args)[_SEARCH_ARGS_SIZE:]
    key: tuple[int, int, int] | None = (first, ROOT_ITEM_KEY, 0)
    while key is not None and key[0] <= last:
        layout.pack_into(args, 0, ROOT_TREE_OBJECTID, key[0], last, key[2], 2**64 - 1,
                         0, 2**64 - 1, key[1], ROOT_BACKREF_KEY, 2**32 - 1, 0, 0, 0, 0, 0,
                         size)
        fcntl.ioctl(fd, BTRFS_IOC_TREE_SEARCH_V2, args, True)
        count = layout.unpack_from(args)[9]  # nr_items: how many results there are
        if count == 0:
            return
        found, used = parse_root_items(results, count, read_only, refs)
        if found is None or size - used > SEARCH_HEADER_SIZE + MAX_ITEM_SIZE:
            return  # the next item would have fitted: there is none
        key = _next_key(found)


def tree_search_permitted(fd: int) -> bool:
    """Whether this process may search the root tree of the filesystem of ``fd``: the
    tree-search ioctl needs CAP_SYS_ADMIN (and Linux 3.16 for its second version)."""
    try:
        # a range that holds nothing: the root tree's own root item is in the superblock
        _search(fd, bytearray(_SEARCH_ARGS_SIZE + 4096), ROOT_TREE_OBJECTID,
                ROOT_TREE_OBJECTID, {}, [])
    except OSError as exc:
        if exc.errno in _NOT_PERMITTED:
            return False
        raise
    return True


def subvolume_places(fd: int, ids: Sequence[int], buffer_size: int = SEARCH_BUFFER_SIZE,
                     ) -> dict[int, tuple[bool, list[tuple[int, int, str]]]] | None:
    """For the subvolumes ``ids`` of the filesystem of the open file ``fd``: ``id ->
    (read-only, places)``, each place ``(parent subvolume id, parent directory inode,
    name)`` with the name decoded as ``os.scandir`` decodes names.  An id that is no
    subvolume, or one deleted but not yet cleaned up (it has no place), is not in it.  A few
    ``BTRFS_IOC_TREE_SEARCH_V2`` ioctls over the root tree, as root: None when the search
    is not permitted (the caller then asks each subvolume itself)."""
    wanted = set(ids)
    read_only: dict[int, bool] = {}
    refs: list[tuple[int, int, int, bytes]] = []
    args = bytearray(_SEARCH_ARGS_SIZE + buffer_size)  # a small one only costs more ioctls
    try:
        for first, last in id_ranges(tuple(wanted)):
            _search(fd, args, first, last, read_only, refs)
    except OSError as exc:
        if exc.errno in _NOT_PERMITTED:
            return None
        raise
    places: dict[int, tuple[bool, list[tuple[int, int, str]]]] = {
        i: (flag, []) for i, flag in read_only.items() if i in wanted}
    encoding, errors = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()
    for subvol, parent, dirid, name in refs:
        if subvol in places:  # decoded as os.fsdecode does, without its checks per name
            places[subvol][1].append((parent, dirid, name.decode(encoding, errors)))
    return {i: found for i, found in places.items() if found[1]}


def subvolume_facts(path: str, fallback_path: str, *, full: bool = True,
                    fd: int | None = None) -> dict[str, Any]:
    """Facts for the subvolume at ``path``: keyword arguments for ``Subvolume``.

    ``full`` adds the UUIDs, generation and backup attribute (for snapshots,
    checks and backups); without it only the read-only flag is read.

    ``fallback_path`` is the path from the top level derived from mountinfo,
    used when btrfsutil cannot tell (not installed, or not root).
    """
    module = btrfsutil()
    if module is None:
        if fd is not None:
            return boot_facts(fd, fallback_path)
        return {"path": fallback_path, "read_only": read_only_by_ioctl(path)}
    if not full:
        # The boot-time path: one ioctl.  The path from the top level is the
        # mount's subvolume (from mountinfo, which btrfs reports) plus the
        # path below the mount point, exactly what subvolume_path() computes
        # with one ioctl per directory level.
        return {"path": fallback_path, "read_only": bool(module.get_subvolume_read_only(path))}
    where: str | int = path if fd is None else fd  # an fd: the very directory scanned
    info = module.subvolume_info(where)
    facts: dict[str, Any] = {
        "read_only": bool(info.flags & BTRFS_ROOT_SUBVOL_RDONLY),
        "id": info.id,
        "uuid": _uuid(info.uuid),
        "parent_uuid": _uuid(info.parent_uuid),
        "received_uuid": _uuid(info.received_uuid),
        "generation": info.generation,
    }
    try:
        facts["path"] = "/" + module.subvolume_path(where).lstrip("/")
    except module.BtrfsUtilError:
        facts["path"] = fallback_path
    try:
        raw = (os.getxattr(where, BACKUP_XATTR) if isinstance(where, int)
               else os.getxattr(where, BACKUP_XATTR, follow_symlinks=False))
        facts["backup"] = raw.decode("utf-8", "replace")
    except OSError:
        facts["backup"] = None
    facts["nested"] = nested_subvolumes(path)
    return facts


NESTED_LIMIT = 256


def nested_subvolumes(path: str) -> tuple[str, ...]:
    """Subvolumes below the subvolume at ``path`` (relative paths, at most
    ``NESTED_LIMIT``); empty when they cannot be listed (no btrfsutil, not root).

    One tree-search ioctl per result, so it costs nothing for the usual leaf
    that holds no subvolumes.
    """
    module = btrfsutil()
    if module is None:
        return ()
    found: list[str] = []
    try:
        with module.SubvolumeIterator(path) as listing:
            for rel, _id in listing:
                found.append(rel)
                if len(found) >= NESTED_LIMIT:
                    break
    except (module.BtrfsUtilError, OSError):
        return ()
    return tuple(sorted(found))


def is_subvolume(path: str) -> bool:
    module = require_btrfsutil()
    try:
        return bool(module.is_subvolume(path))
    except module.BtrfsUtilError:
        return False


def create_subvolume(path: str) -> None:
    require_btrfsutil().create_subvolume(path)


def delete_subvolume(path: str) -> None:
    require_btrfsutil().delete_subvolume(path)


def create_snapshot(source: str, dest: str, *, read_only: bool = False) -> None:
    """Snapshot the subvolume at ``source`` as ``dest`` (``read_only``: a snapshot that
    ``btrfs send`` can take)."""
    require_btrfsutil().create_snapshot(source, dest, read_only=read_only)


def set_backup_attr(path: str, value: str | None) -> None:
    if value is None:
        try:
            os.removexattr(path, BACKUP_XATTR, follow_symlinks=False)
        except OSError as exc:
            if exc.errno != errno.ENODATA:  # nothing to remove
                raise
    else:
        os.setxattr(path, BACKUP_XATTR, value.encode(), follow_symlinks=False)


# Acting on a subvolume through a directory descriptor (persist builds leaves below
# directories that users own, so it never resolves a path there).

_BTRFS_IOC_SNAP_DESTROY_V2 = 0x5000943F
_BTRFS_SUBVOL_SPEC_BY_ID = 1 << 4


def create_subvolume_at(dir_fd: int, name: str) -> None:
    """Create subvolume ``name`` in the directory open as ``dir_fd``."""
    require_btrfsutil().create_subvolume(f"/proc/{os.getpid()}/fd/{dir_fd}/{name}")


def subvolume_id_of(where: int | str) -> int:
    """The ID of the subvolume holding the open file ``where`` (or the path ``where``)."""
    return int(require_btrfsutil().subvolume_id(where))


def delete_subvolume_by_id(fs_fd: int, subvol_id: int) -> None:
    """Delete the subvolume with this ID (on the filesystem of ``fs_fd``), whatever its
    name is now (``BTRFS_IOC_SNAP_DESTROY_V2`` by ID)."""
    import fcntl
    import struct

    args = bytearray(4096)
    struct.pack_into("=qQQ", args, 0, 0, 0, _BTRFS_SUBVOL_SPEC_BY_ID)
    struct.pack_into("=Q", args, 56, subvol_id)
    fcntl.ioctl(fs_fd, _BTRFS_IOC_SNAP_DESTROY_V2, args)


def sync_filesystem(fd: int) -> None:
    """Commit the filesystem of ``fd`` (data and metadata) to disk."""
    require_btrfsutil().sync(fd)


# --- the btrfs command (btrfs-progs) ----------------------------------------------------
# For what btrfsutil does not do (send/receive, mkfs) and for tools that must work
# without it (the demo).  Imported lazily: the generator never runs a command.


def cli_argv(*args: str) -> list[str]:
    """The argv of ``btrfs ARGS`` (for pipelines such as ``btrfs send | btrfs receive``)."""
    return ["btrfs", *args]


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    """Run ``btrfs ARGS`` through the one subprocess gateway."""
    from .run import run

    return run(cli_argv(*args), check=check)


def changes_dump(parent: str, snapshot: str) -> str:
    """What differs between two read-only snapshots of one subvolume: the metadata-only
    stream ``btrfs send --no-data -p PARENT SNAPSHOT``, read back as text by ``btrfs
    receive --dump`` (paths escaped as that command does; not UTF-8 as surrogates)."""
    from .run import run_pipeline

    result = run_pipeline(cli_argv("send", "-q", "--no-data", "-p", parent, snapshot),
                          cli_argv("receive", "--dump"))
    return result.stdout.decode("utf-8", "surrogateescape")


def receive(send: Sequence[str], into: str, *, hint: str | None = None) -> None:
    """Receive the stream that the command ``send`` writes (a ``btrfs send``, perhaps on
    another machine) into the directory ``into``, confined to it (``--chroot``)."""
    from .run import run_pipeline

    run_pipeline(send, cli_argv("receive", "--chroot", into), hint=hint)


def wait_deleted(directory: str, ids: Sequence[int]) -> None:
    """Wait until the deleted subvolumes ``ids`` (of the filesystem of ``directory``) are
    cleaned up and their space is free again (``btrfs subvolume sync``; at most 10 min)."""
    from .run import run

    if ids:
        run(cli_argv("subvolume", "sync", directory, *map(str, ids)), check=False, timeout=600)


def snapshot(source: str, dest: str, *, read_only: bool = False) -> None:
    """``btrfs subvolume snapshot [-r] SOURCE DEST``."""
    cli("subvolume", "snapshot", *(["-r"] if read_only else []), source, dest)


def make_filesystem(device: str, label: str) -> None:
    """``mkfs.btrfs`` on ``device`` (overwriting whatever it holds) with ``label``."""
    from .run import run

    run(["mkfs.btrfs", "-q", "-f", "-L", label, device])
