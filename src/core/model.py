"""The snapshot: what a scan of the layout trees saw, as plain frozen data.

A snapshot is the one input of every core function.  The shell produces it
from the disk (``layout_trees.shell.scan``) or reads it from JSON
(``layout_trees.core.snapshot_json``); nothing in the core can tell the two
apart, which is what makes ``layout check --snapshot`` in CI equal to a live
check on the machine.

Entries are recorded flat, each with its path inside the tree as a tuple of
components.  The walk never follows symlinks and never descends into leaves,
mount points or unreadable directories.
"""

from __future__ import annotations

from enum import Enum

from .errors import SnapshotError, UserError
from .escape import check_unit_value, is_plain_component
from .paths import has_at_above, is_leaf_path, is_structure_path
from .record import record

SNAPSHOT_VERSION = 1
ID_MAX = 0xFFFFFFFE
"""The largest uid or gid (``(uid_t) -1`` means "none" to the kernel)."""


class EntryKind(Enum):
    """What the scan found at a path inside a tree."""

    DIRECTORY = "directory"
    SUBVOLUME = "subvolume"
    SYMLINK = "symlink"
    OTHER = "other"
    MOUNTPOINT = "mountpoint"
    UNREADABLE = "unreadable"

    @property
    def described(self) -> str:
        """The kind in a sentence: "is a directory", "is unreadable"."""
        return _DESCRIBED.get(self.value, f"a {self.value}")


_DESCRIBED = {"other": "a file (no directory, subvolume or symlink)",
              "mountpoint": "a mount point", "unreadable": "unreadable"}


class TreeStatus(Enum):
    """Whether a configured tree could be scanned."""

    OK = "ok"
    MISSING = "missing"
    NOT_DIRECTORY = "not-directory"
    NOT_BTRFS = "not-btrfs"
    UNREADABLE = "unreadable"


def _check_component(component: str, where: str) -> None:
    if not is_plain_component(component):
        raise SnapshotError(
            f"{where}: invalid path component {component!r}",
            "path components are single, non-empty names without '/'",
        )


def check_owner(uid: int, gid: int, mode: int, where: str,
                error: type[UserError] = SnapshotError) -> None:
    """Validate an owner, group and permission mode; raise ``error`` naming ``where``."""
    if type(uid) is int and type(gid) is int and type(mode) is int \
            and 0 <= uid <= ID_MAX and 0 <= gid <= ID_MAX and 0 <= mode <= 0o7777:
        return  # the common case, in one test; the loop below says what is wrong
    for name, value in (("uid", uid), ("gid", gid), ("mode", mode)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise error(f"{where}: {name} must be a non-negative integer")
        if value > ID_MAX:
            raise error(f"{where}: {name} {value} is out of range (at most {ID_MAX})")
    if mode > 0o7777:
        raise error(f"{where}: mode {mode:o} has more than permission bits")


def _check_absolute(path: str, where: str) -> None:
    if not isinstance(path, str) or not path.startswith("/"):
        raise SnapshotError(f"{where}: {path!r} is not an absolute path")


class AclTag(Enum):
    """The kind of a POSIX ACL entry (acl(5))."""

    USER_OBJ = "user_obj"
    USER = "user"
    GROUP_OBJ = "group_obj"
    GROUP = "group"
    MASK = "mask"
    OTHER = "other"


@record
class AclEntry:
    """One entry of a directory's access ACL (``system.posix_acl_access``)."""

    tag: AclTag
    perms: int
    """``rwx`` as bits 4, 2, 1."""
    id: int | None = None
    """The uid of a USER entry, the gid of a GROUP entry; None for the others."""

    def __post_init__(self) -> None:
        if not isinstance(self.tag, AclTag):
            raise SnapshotError(f"ACL entry: tag {self.tag!r} is not an AclTag")
        if not isinstance(self.perms, int) or isinstance(self.perms, bool) \
                or not 0 <= self.perms <= 7:
            raise SnapshotError(f"ACL entry: permissions {self.perms!r} are not 0-7")
        named = self.tag in (AclTag.USER, AclTag.GROUP)
        if named != (self.id is not None) or (named and (
                not isinstance(self.id, int) or isinstance(self.id, bool)
                or not 0 <= self.id < 2**32)):
            raise SnapshotError(f"ACL entry: {self.tag.value} entries "
                                + ("need a uid or gid" if named else "have no id"))

    @property
    def text(self) -> str:
        """``user:1000:rwx``-style text (``getfacl`` without names)."""
        tag = {AclTag.USER_OBJ: "user", AclTag.GROUP_OBJ: "group"}.get(self.tag, self.tag.value)
        perms = "".join(c if self.perms & b else "-" for c, b in (("r", 4), ("w", 2), ("x", 1)))
        return f"{tag}:{'' if self.id is None else self.id}:{perms}"


def acl_from_text(text: str, where: str) -> AclEntry:
    """The inverse of :attr:`AclEntry.text`; raises :class:`SnapshotError` naming ``where``."""
    parts = text.split(":") if isinstance(text, str) else []
    if len(parts) != 3 or len(parts[2]) != 3 or any(
            c not in (f, "-") for c, f in zip(parts[2], "rwx", strict=True)):
        raise SnapshotError(f"{where}: ACL entry {text!r} is not like 'user:1000:rwx'")
    kind, ident, perms = parts
    bits = sum(b for c, b in zip(perms, (4, 2, 1), strict=True) if c != "-")
    tags = {("user", False): AclTag.USER_OBJ, ("user", True): AclTag.USER,
            ("group", False): AclTag.GROUP_OBJ, ("group", True): AclTag.GROUP,
            ("mask", False): AclTag.MASK, ("other", False): AclTag.OTHER}
    tag = tags.get((kind, ident != ""))
    if tag is None or (ident and not ident.isdigit()) or (ident and not ident.isascii()):
        raise SnapshotError(f"{where}: ACL entry {text!r} is not like 'user:1000:rwx'")
    return AclEntry(tag, bits, int(ident) if ident else None)


def _check_acl(acl: tuple[AclEntry, ...], where: str) -> None:
    if acl == ():
        return
    if not isinstance(acl, tuple) or not all(isinstance(e, AclEntry) for e in acl):
        raise SnapshotError(f"{where}: acl must be a tuple of ACL entries")


@record
class Ancestor:
    """A directory above a tree root: whoever can write it can replace the tree."""

    path: str
    uid: int = 0
    gid: int = 0
    mode: int = 0o755
    """Permission bits, sticky bit included."""
    acl: tuple[AclEntry, ...] = ()

    def __post_init__(self) -> None:
        _check_absolute(self.path, "ancestor")
        check_owner(self.uid, self.gid, self.mode, self.path)
        _check_acl(self.acl, self.path)


@record
class Subvolume:
    """Btrfs facts about a subvolume entry."""

    path: str
    """Path from the filesystem's top level, e.g. ``/trees/alice/@ws``."""
    read_only: bool = False
    id: int | None = None
    uuid: str | None = None
    parent_uuid: str | None = None
    received_uuid: str | None = None
    generation: int | None = None
    backup: str | None = None
    """Value of the ``user.layout-trees.backup`` extended attribute, if set."""
    nested: tuple[str, ...] = ()
    """Subvolumes found below this one (paths relative to it), recorded for leaves
    by a full scan; the walk itself never descends into a leaf."""

    def __post_init__(self) -> None:
        _check_absolute(self.path, "subvolume")
        if self.id is not None and (not isinstance(self.id, int) or isinstance(self.id, bool)
                                    or not 0 < self.id < 2**64):
            raise SnapshotError(f"subvolume {self.path!r}: id {self.id!r} is not a subvolume id")
        for rel in self.nested:
            if not isinstance(rel, str):
                raise SnapshotError(f"subvolume {self.path!r}: nested paths must be strings")
            for component in rel.split("/"):
                _check_component(component, f"subvolume {self.path!r}: nested {rel!r}")


@record
class Entry:
    """One thing found inside a tree."""

    path: tuple[str, ...]
    kind: EntryKind
    uid: int = 0
    gid: int = 0
    mode: int = 0o755
    subvolume: Subvolume | None = None
    target: str | None = None
    """Symlink target."""
    error: str | None = None
    """Why an unreadable entry could not be read."""
    acl: tuple[AclEntry, ...] = ()
    """The access ACL of a structure directory, read by a full scan; () when it has none."""

    def __post_init__(self) -> None:
        if not isinstance(self.path, tuple) or not self.path:
            raise SnapshotError(f"entry {self.path!r}: an entry path must be non-empty")
        for component in self.path:
            if not is_plain_component(component):
                _check_component(component, "/".join(map(str, self.path)))
        where = self.relpath
        if not isinstance(self.kind, EntryKind):
            raise SnapshotError(f"{where}: kind {self.kind!r} is not an EntryKind")
        if (self.kind is EntryKind.SUBVOLUME) != (self.subvolume is not None):
            raise SnapshotError(f"{where}: subvolume facts belong to subvolume entries only")
        if self.kind is EntryKind.SYMLINK and self.target is None:
            raise SnapshotError(f"{where}: a symlink entry needs its target")
        check_owner(self.uid, self.gid, self.mode, where)
        _check_acl(self.acl, where)

    @property
    def name(self) -> str:
        return self.path[-1]

    @property
    def is_at_name(self) -> bool:
        """Whether the entry's own name starts with ``@``."""
        return self.path[-1].startswith("@")

    @property
    def below_at_name(self) -> bool:
        """Whether an ``@`` name stands above the entry (a scan never walks there)."""
        return has_at_above(self.path)

    @property
    def has_leaf_name(self) -> bool:
        """The leaf rule on names: an ``@`` name with no ``@`` name above it."""
        return is_leaf_path(self.path)

    @property
    def is_structure_directory(self) -> bool:
        """A directory or plain subvolume with no ``@`` name at or above it: what the
        plan creates at the destination and the watch watches."""
        return (self.kind in (EntryKind.DIRECTORY, EntryKind.SUBVOLUME)
                and is_structure_path(self.path))

    @property
    def relpath(self) -> str:
        return "/".join(self.path)


@record
class TreeScan:
    """The scan of one configured tree."""

    name: str
    root: str
    """Absolute path of the tree directory as configured."""
    status: TreeStatus = TreeStatus.OK
    error: str | None = None
    device: str | None = None
    """Source of the mount holding the tree, from mountinfo."""
    fs_uuid: str | None = None
    root_subvol_path: str | None = None
    """The tree root's path from the filesystem's top level."""
    uid: int = 0
    gid: int = 0
    mode: int = 0o755
    """Owner and mode of the tree root directory (they go to the destination)."""
    entries: tuple[Entry, ...] = ()
    device_found: bool | None = None
    """Whether the configured ``device`` existed at scan time; None when no device
    is configured or it was not looked for."""
    real_root: str | None = None
    """The tree directory with symlinks resolved, when it differs from ``root``."""
    fs_mountpoint: str | None = None
    """Where the filesystem holding the tree is mounted (from mountinfo)."""
    destination_real: str | None = None
    """The configured destination with symlinks resolved (``/home`` to ``/var/home``),
    when it differs; the plan mounts there (see ``effective_destination``)."""
    destination_error: str | None = None
    """Why the destination cannot be used: it crosses a symlink that someone other
    than root can change (the scan resolves only root's symlinks)."""

    acl: tuple[AclEntry, ...] = ()
    """The tree root's access ACL (full scans)."""
    ancestors: tuple[Ancestor, ...] = ()
    """The directories above the tree root, from ``/`` down (full scans)."""

    def __post_init__(self) -> None:
        _check_absolute(self.root, f"tree {self.name!r}")
        for key in ("real_root", "fs_mountpoint", "destination_real"):
            value = getattr(self, key)
            if value is not None:
                _check_absolute(value, f"tree {self.name!r}: {key}")
                if ".." in value.split("/"):
                    raise SnapshotError(f"tree {self.name!r}: {key} {value!r} contains '..'")
        if self.device is not None:
            check_unit_value(self.device, f"tree {self.name!r}: device", SnapshotError)
        _check_acl(self.acl, f"tree {self.name!r}")
        if not isinstance(self.ancestors, tuple) or not all(
                isinstance(a, Ancestor) for a in self.ancestors):
            raise SnapshotError(f"tree {self.name!r}: ancestors must be a tuple of Ancestor")
        if not isinstance(self.status, TreeStatus):
            raise SnapshotError(f"tree {self.name!r}: status {self.status!r} is not a TreeStatus")
        if self.status is not TreeStatus.OK and self.entries:
            raise SnapshotError(f"tree {self.name!r}: a tree that was not scanned has no entries")
        check_owner(self.uid, self.gid, self.mode, f"tree {self.name!r}")
        seen: set[tuple[str, ...]] = set()
        for entry in self.entries:
            if entry.path in seen:
                raise SnapshotError(f"tree {self.name!r}: entry {entry.relpath!r} appears twice")
            seen.add(entry.path)

    def sorted(self) -> TreeScan:
        """The same scan with entries in canonical order."""
        return TreeScan(
            name=self.name,
            root=self.root,
            status=self.status,
            error=self.error,
            device=self.device,
            fs_uuid=self.fs_uuid,
            root_subvol_path=self.root_subvol_path,
            uid=self.uid,
            gid=self.gid,
            mode=self.mode,
            entries=tuple(sorted(self.entries, key=lambda e: e.path)),
            device_found=self.device_found,
            real_root=self.real_root,
            fs_mountpoint=self.fs_mountpoint,
            destination_real=self.destination_real,
            destination_error=self.destination_error,
            acl=self.acl,
            ancestors=tuple(sorted(self.ancestors, key=lambda a: a.path)),
        )


@record
class Snapshot:
    """Everything a scan saw: the trees, and what ``/etc/fstab`` mounts."""

    trees: tuple[TreeScan, ...] = ()
    fstab_mountpoints: frozenset[str] = frozenset()
    version: int = SNAPSHOT_VERSION
    user_homes: frozenset[tuple[int, str]] = frozenset()
    """``(uid, home directory)`` of the non-root users owning directories in the
    trees, from the password database (read by the shell)."""
    crossings: frozenset[str] = frozenset()
    """Paths below a destination, on the way to a leaf's mount point, that are symlinks
    or not directories (``lstat`` by the live commands and ``check``; not in snapshot
    files)."""
    group_members: frozenset[tuple[int, frozenset[int]]] = frozenset()
    """``(gid, member uids)`` of the groups in ``/etc/group`` that own or are named on
    directories of the trees (members listed there, and users whose primary group it is).
    A gid not recorded has unknown members."""
    max_user_watches: int | None = None
    """``fs.inotify.max_user_watches`` of the scanned machine (what the watch may use
    depends on it); None when not known."""

    def __post_init__(self) -> None:
        for path in self.crossings:
            _check_absolute(path, "snapshot: crossing")
        if self.version != SNAPSHOT_VERSION:
            raise SnapshotError(
                f"snapshot version {self.version} is not supported (this is {SNAPSHOT_VERSION})",
                "re-create the snapshot with this version of 'layout snapshot'",
            )
        names = [t.name for t in self.trees]
        if len(names) != len(set(names)):
            raise SnapshotError("snapshot: two trees share a name")
        for pair in self.user_homes:
            uid, home = pair if isinstance(pair, tuple) and len(pair) == 2 else (None, None)
            if not isinstance(uid, int) or isinstance(uid, bool) or uid < 0:
                raise SnapshotError(f"snapshot: user home {pair!r} needs a non-negative uid")
            _check_absolute(home, f"snapshot: home of uid {uid}")
        for group in self.group_members:
            gid, members = group if isinstance(group, tuple) and len(group) == 2 else (None, None)
            if (not isinstance(gid, int) or isinstance(gid, bool) or gid < 0
                    or not isinstance(members, frozenset)
                    or not all(isinstance(u, int) and not isinstance(u, bool) and u >= 0
                               for u in members)):
                raise SnapshotError(f"snapshot: group members {group!r} need a gid and uids")
        if len({gid for gid, _ in self.group_members}) != len(self.group_members):
            raise SnapshotError("snapshot: a group's members are listed twice")
        if self.max_user_watches is not None and (
                not isinstance(self.max_user_watches, int)
                or isinstance(self.max_user_watches, bool) or self.max_user_watches < 0):
            raise SnapshotError("snapshot: max_user_watches must be a non-negative integer")

    def canonical(self) -> Snapshot:
        """The same snapshot in canonical order (trees by name, entries by path)."""
        return Snapshot(
            trees=tuple(sorted((t.sorted() for t in self.trees), key=lambda t: t.name)),
            fstab_mountpoints=self.fstab_mountpoints,
            version=self.version,
            user_homes=self.user_homes,
            crossings=self.crossings,
            group_members=self.group_members,
            max_user_watches=self.max_user_watches,
        )

    def tree(self, name: str) -> TreeScan | None:
        for tree in self.trees:
            if tree.name == name:
                return tree
        return None

    def members_of(self, gid: int) -> frozenset[int] | None:
        """The uids in group ``gid`` as recorded, or None when unknown."""
        for known, members in self.group_members:
            if known == gid:
                return members
        return None

    def home_of(self, uid: int) -> str | None:
        """The home directory of ``uid`` as recorded, or None."""
        for known, home in sorted(self.user_homes):
            if known == uid:
                return home
        return None
