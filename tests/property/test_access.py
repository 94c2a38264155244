"""Properties of effective write access (``layout_trees.core.access``) and of the ACL facts
in snapshots."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st
from layout_trees.core.access import (
    group_members,
    parse_group,
    parse_passwd,
    parse_posix_acl,
    posix_acl_bytes,
    replacers,
    writers,
)
from layout_trees.core.errors import SnapshotError
from layout_trees.core.model import (
    AclEntry,
    AclTag,
    Ancestor,
    Snapshot,
    TreeScan,
    acl_from_text,
)
from layout_trees.core.snapshot_json import dump_snapshot, load_snapshot

USERS = (1, 2, 3, 4)
OUTSIDER = 99
"""A user in no group and named nowhere: what 'other' permissions are for."""
perms = st.integers(0, 7)
ids = st.integers(0, 4)


@st.composite
def acls(draw: st.DrawFn) -> tuple[AclEntry, ...]:
    """An access ACL as the kernel stores it: the three base entries, and when there are
    named entries, a mask; named ids unique per tag."""
    named_users = draw(st.dictionaries(ids, perms, max_size=3))
    named_groups = draw(st.dictionaries(ids, perms, max_size=3))
    if not named_users and not named_groups and draw(st.booleans()):
        return ()
    entries = [AclEntry(AclTag.USER_OBJ, draw(perms))]
    entries += [AclEntry(AclTag.USER, p, u) for u, p in sorted(named_users.items())]
    entries.append(AclEntry(AclTag.GROUP_OBJ, draw(perms)))
    entries += [AclEntry(AclTag.GROUP, p, g) for g, p in sorted(named_groups.items())]
    entries.append(AclEntry(AclTag.MASK, draw(perms)))
    entries.append(AclEntry(AclTag.OTHER, draw(perms)))
    return tuple(entries)


def mode_of(acl: tuple[AclEntry, ...], mode: int) -> int:
    """The mode the kernel shows for a directory with ``acl``: owner, mask (or group
    object), other."""
    if not acl:
        return mode
    get = {e.tag: e.perms for e in acl if e.id is None}
    group = get.get(AclTag.MASK, get[AclTag.GROUP_OBJ])
    return (mode & 0o7000) | get[AclTag.USER_OBJ] << 6 | group << 3 | get[AclTag.OTHER]


def allowed(user: int, groups: set[int], uid: int, gid: int, mode: int,
            acl: tuple[AclEntry, ...]) -> bool:
    """A reference model of Linux's generic_permission for MAY_WRITE|MAY_EXEC, plus: an
    owner can chmod."""
    def grants(p: int) -> bool:
        return p & 3 == 3

    if user == uid:
        return True
    if acl and mode & 0o070:
        mask = next(e.perms for e in acl if e.tag is AclTag.MASK)
        for e in acl:
            if e.tag is AclTag.USER and e.id == user:
                return grants(e.perms & mask)
        matched = [e.perms for e in acl if (e.tag is AclTag.GROUP_OBJ and gid in groups)
                   or (e.tag is AclTag.GROUP and e.id in groups)]
        if matched:
            return any(grants(p & mask) for p in matched)
        return grants(next(e.perms for e in acl if e.tag is AclTag.OTHER))
    if gid in groups:
        return grants(mode >> 3)
    return grants(mode)


@given(ids, ids, st.integers(0, 0o7777), acls(),
       st.lists(st.frozensets(st.sampled_from((0, *USERS))), min_size=5, max_size=5))
@example(0, 0, 0o755, (AclEntry(AclTag.USER_OBJ, 7), AclEntry(AclTag.USER, 7, 1),
                       AclEntry(AclTag.GROUP_OBJ, 5), AclEntry(AclTag.MASK, 7),
                       AclEntry(AclTag.OTHER, 5)), [frozenset()] * 5)
def test_writers_match_the_kernel(uid, gid, mode, acl, members) -> None:
    """Reference model: with every group's members known, some non-root user can create an
    entry iff writers() names someone; every user a writer stands for really can."""
    mode = mode_of(acl, mode)
    facts = frozenset((g, members[g]) for g in range(5))
    snapshot = Snapshot(group_members=facts)
    found = writers(uid, gid, mode, acl, snapshot)
    groups_of = {u: {g for g in range(5) if u in members[g]} for u in (*USERS, OUTSIDER)}
    can = {u for u in (*USERS, OUTSIDER) if allowed(u, groups_of[u], uid, gid, mode, acl)}
    assert bool(found) == bool(can), (found, can)
    for writer in found:
        if writer.uids is not None:
            assert writer.uids <= can, (writer, can)
    if OUTSIDER in can:
        assert any(w.key == "every user" for w in found)


@given(ids, ids, st.integers(0, 0o777), acls())
def test_sticky_parents_are_replaced_only_by_their_owner(uid, gid, mode, acl) -> None:
    """Invariant: in a sticky directory only its (non-root) owner can replace the tree."""
    mode = mode_of(acl, mode) | 0o1000
    found = replacers(uid, gid, mode, acl, Snapshot())
    assert [w.key for w in found] == ([f"uid {uid}"] if uid else [])


@given(acls())
def test_posix_acl_xattr_round_trips(acl) -> None:
    """Round trip: the xattr bytes of an ACL parse back to it, and so does its text form."""
    assert parse_posix_acl(posix_acl_bytes(acl), "/d") == acl
    assert tuple(acl_from_text(e.text, "/d") for e in acl) == acl


@given(st.binary(max_size=64))
def test_garbage_acl_xattrs_are_refused_cleanly(data) -> None:
    """Invariant: any bytes either parse or raise SnapshotError, never anything else."""
    try:
        parse_posix_acl(data, "/d")
    except SnapshotError as exc:
        assert "/d" in str(exc)


@given(st.text(max_size=20))
def test_garbage_acl_text_is_refused_cleanly(text) -> None:
    """Invariant: any text either parses to an entry that prints back the same, or raises
    SnapshotError."""
    try:
        entry = acl_from_text(text, "snap")
    except SnapshotError:
        return
    assert acl_from_text(entry.text, "snap") == entry


@given(acls(), acls(), st.integers(0, 0o7777),
       st.frozensets(st.tuples(ids, st.frozensets(ids)), max_size=3),
       st.one_of(st.none(), st.integers(0, 2**31)))
def test_snapshot_json_keeps_acls_ancestors_and_groups(root_acl, parent_acl, mode, groups,
                                                       watches) -> None:
    """Round trip: ACLs, ancestors, group members and the watch limit survive 'layout
    snapshot' JSON."""
    groups = frozenset({g: m for g, m in groups}.items())
    scan = TreeScan("t", "/trees/t", device="/dev/vdb", root_subvol_path="/t", acl=root_acl,
                    ancestors=(Ancestor("/"), Ancestor("/trees", 0, 0, mode, parent_acl)))
    snapshot = Snapshot((scan,), group_members=groups, max_user_watches=watches)
    again, _ = load_snapshot(dump_snapshot(snapshot))
    assert again == snapshot.canonical()


def test_group_members_from_files() -> None:
    """Example: members are the users /etc/group names plus those whose primary group it is;
    a group naming an unknown user, or not listed, has unknown members (left out)."""
    users = parse_passwd("root:x:0:0::/root:/bin/sh\nalice:x:1000:100::/h:/bin/sh\n"
                         "bob:x:1001:1001::/h:/bin/sh\nbad line\n")
    groups = parse_group("root:x:0:\nusers:x:100:bob\nghost:x:5:nobody-here\n")
    facts = dict(group_members(groups, users, frozenset({0, 100, 5, 7})))
    assert facts == {0: frozenset({0}), 100: frozenset({1000, 1001})}
