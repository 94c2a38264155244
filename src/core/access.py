"""Who other than root can change what a directory contains: effective write access.

Theory of operation.  Creating, deleting or renaming an entry in a directory
needs write *and* search permission on it.  Linux decides that as
``generic_permission`` does (acl(5)): the owner gets the owner bits (and an
owner can always ``chmod``, so an owner is a writer whatever the mode says);
otherwise, when the directory has an access ACL and its group bits (the ACL
mask) are not zero, a named user entry decides for that user, else the
owning group and the named group entries (each limited by the mask) decide
for their members, else the other entry; without an ACL the group bits
decide for the owning group's members and the other bits for everyone else.

:func:`writers` turns that into the principals that can write: a user, a
group (with its members when ``/etc/group`` lists it), or every user.  A
group's members come from the snapshot (the shell reads ``/etc/group`` and
the primary groups in ``/etc/passwd``); a group that is not listed there
(one from a network directory) has unknown members and counts as a writer.
Root's group (gid 0) counts too when a non-root user is in it or its members
are unknown; only a snapshot that records no groups at all (one from an
older version) trusts it, as before.  Search permission on the directories
*above* is not required: a directory can be reached through an open
descriptor or a bind mount.

:func:`parse_posix_acl` reads the ``system.posix_acl_access`` extended
attribute (``posix_acl_xattr`` format: a little-endian version 2 header, then
8-byte entries of tag, permissions and id).
"""

from __future__ import annotations

from .errors import SnapshotError
from .model import AclEntry, AclTag, Snapshot
from .record import record

ACL_XATTR = "system.posix_acl_access"
_VERSION = 2
_TAGS = {0x01: AclTag.USER_OBJ, 0x02: AclTag.USER, 0x04: AclTag.GROUP_OBJ,
         0x08: AclTag.GROUP, 0x10: AclTag.MASK, 0x20: AclTag.OTHER}
_NO_ID = 0xFFFFFFFF
WRITE_SEARCH = 0o3
"""``w`` and ``x``: what creating, deleting or renaming an entry needs."""
STICKY = 0o1000


def parse_posix_acl(data: bytes, where: str) -> tuple[AclEntry, ...]:
    """The entries of a ``system.posix_acl_access`` value; raises :class:`SnapshotError`."""
    if len(data) < 4 or (len(data) - 4) % 8 or int.from_bytes(data[:4], "little") != _VERSION:
        raise SnapshotError(f"{where}: the access ACL is not in the posix_acl_xattr format")
    entries: list[AclEntry] = []
    for offset in range(4, len(data), 8):
        tag = _TAGS.get(int.from_bytes(data[offset:offset + 2], "little"))
        perms = int.from_bytes(data[offset + 2:offset + 4], "little")
        ident = int.from_bytes(data[offset + 4:offset + 8], "little")
        if tag is None or perms > 7:
            raise SnapshotError(f"{where}: the access ACL has an unknown entry")
        named = tag in (AclTag.USER, AclTag.GROUP)
        entries.append(AclEntry(tag, perms, ident if named else None))
    return tuple(entries)


def posix_acl_bytes(acl: tuple[AclEntry, ...]) -> bytes:
    """The inverse of :func:`parse_posix_acl` (for tests and snapshots)."""
    codes = {tag: code for code, tag in _TAGS.items()}
    out = _VERSION.to_bytes(4, "little")
    for entry in acl:
        out += codes[entry.tag].to_bytes(2, "little") + entry.perms.to_bytes(2, "little")
        out += (_NO_ID if entry.id is None else entry.id).to_bytes(4, "little")
    return out


@record
class Writer:
    """Someone other than root who can create, delete or rename entries in a directory."""

    key: str
    """``uid N``, ``group N`` or ``every user``: one name per principal."""
    uids: frozenset[int] | None
    """The users this stands for; None when not known (a group not listed, everyone)."""
    how: str
    """``owner``, ``mode`` or ``ACL``."""

    @property
    def label(self) -> str:
        if self.key.startswith("group") and self.uids:
            return f"{self.key} (uids {', '.join(str(u) for u in sorted(self.uids))})"
        return self.key


def _grants(perms: int) -> bool:
    return perms & WRITE_SEARCH == WRITE_SEARCH


def _group(gid: int, snapshot: Snapshot, excluded: set[int], how: str) -> Writer | None:
    members = snapshot.members_of(gid)
    if members is None:
        # Root's group is trusted when nothing is known about groups (a snapshot from before
        # they were recorded); when they are, an unlisted root group counts like any other.
        unknown = gid != 0 or bool(snapshot.group_members)
        return Writer(f"group {gid}", None, how) if unknown else None
    users = frozenset(members - excluded - {0})
    return Writer(f"group {gid}", users, how) if users else None


def writers(uid: int, gid: int, mode: int, acl: tuple[AclEntry, ...],
            snapshot: Snapshot) -> tuple[Writer, ...]:
    """Everyone other than root who can change what the directory contains."""
    found: list[Writer] = []
    if uid != 0:
        found.append(Writer(f"uid {uid}", frozenset({uid}), "owner"))
    named = {e.id: e.perms for e in acl if e.tag is AclTag.USER and e.id is not None}
    use_acl = bool(acl) and bool(mode & 0o070)
    if use_acl:
        masks = [e.perms for e in acl if e.tag is AclTag.MASK]
        mask = masks[0] if masks else 7
        for user, perms in sorted(named.items()):
            if user not in (0, uid) and _grants(perms & mask):
                found.append(Writer(f"uid {user}", frozenset({user}), "ACL"))
        excluded = {uid, *named}
        groups = [(gid, e.perms) for e in acl if e.tag is AclTag.GROUP_OBJ]
        groups += [(e.id, e.perms) for e in acl if e.tag is AclTag.GROUP and e.id is not None]
        for group, perms in sorted(set(groups)):
            if _grants(perms & mask):
                writer = _group(group, snapshot, excluded, "ACL")
                if writer is not None:
                    found.append(writer)
        others = [e.perms for e in acl if e.tag is AclTag.OTHER]
        other = others[0] if others else mode & 0o7
    else:
        if _grants(mode >> 3):
            writer = _group(gid, snapshot, {uid}, "mode")
            if writer is not None:
                found.append(writer)
        other = mode & 0o7
    if _grants(other):
        found.append(Writer("every user", None, "ACL" if use_acl else "mode"))
    return tuple(found)


def replacers(uid: int, gid: int, mode: int, acl: tuple[AclEntry, ...],
              snapshot: Snapshot) -> tuple[Writer, ...]:
    """Everyone other than root who can rename or replace what a directory above a tree
    holds: its writers, but in a sticky directory (``/tmp``) only its owner, as the others
    can move only what they own (and what they own is reported on its own)."""
    found = writers(uid, gid, mode, acl, snapshot)
    if mode & STICKY:
        return tuple(w for w in found if w.how == "owner")
    return found


def parse_passwd(text: str) -> dict[str, tuple[int, int]]:
    """``name -> (uid, primary gid)`` from ``/etc/passwd`` text; bad lines are skipped."""
    users: dict[str, tuple[int, int]] = {}
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) >= 4 and fields[2].isdigit() and fields[3].isdigit():
            users.setdefault(fields[0], (int(fields[2]), int(fields[3])))
    return users


def parse_group(text: str) -> dict[int, tuple[str, ...]]:
    """``gid -> member names`` from ``/etc/group`` text; bad lines are skipped."""
    groups: dict[int, tuple[str, ...]] = {}
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) >= 4 and fields[2].isdigit():
            names = tuple(n.strip() for n in fields[3].split(",") if n.strip())
            groups[int(fields[2])] = groups.get(int(fields[2]), ()) + names
    return groups


def group_members(groups: dict[int, tuple[str, ...]], users: dict[str, tuple[int, int]],
                  gids: frozenset[int]) -> frozenset[tuple[int, frozenset[int]]]:
    """The members (uids) of each group in ``gids`` that ``/etc/group`` lists: the users it
    names and those whose primary group it is.  A group naming a user not in ``users`` is
    left out (its members are unknown)."""
    out: set[tuple[int, frozenset[int]]] = set()
    for gid in sorted(gids):
        if gid not in groups:
            continue
        if any(name not in users for name in groups[gid]):
            continue
        members = {users[name][0] for name in groups[gid]}
        members |= {uid for uid, primary in users.values() if primary == gid}
        out.add((gid, frozenset(members)))
    return frozenset(out)
