"""Effective write access (``layout_trees.core.access``) compared exactly: every field of
every writer, for groups listed, unlisted and root's; ACLs with and without a mask or an
other entry; the mode's group and other bits at their edges; sticky and plain parents."""

from __future__ import annotations

import pytest
from layout_trees.core.access import Writer, replacers, writers
from layout_trees.core.model import AclEntry, AclTag, Snapshot

NO_GROUPS = Snapshot()
"""A snapshot that records no groups at all (one from an older version)."""


def listed(**members: frozenset[int]) -> Snapshot:
    """A snapshot recording the members of the groups named ``gN``."""
    return Snapshot(group_members=frozenset((int(k[1:]), v) for k, v in members.items()))


def acl(*named: AclEntry, user: int = 7, group: int = 7, mask: int | None = 7,
        other: int | None = 0) -> tuple[AclEntry, ...]:
    """An access ACL: the owner entry, ``named`` entries, the group entry, the mask and the
    other entry (either left out when None)."""
    out = [AclEntry(AclTag.USER_OBJ, user), *named, AclEntry(AclTag.GROUP_OBJ, group)]
    if mask is not None:
        out.append(AclEntry(AclTag.MASK, mask))
    if other is not None:
        out.append(AclEntry(AclTag.OTHER, other))
    return tuple(out)


def owner(uid: int) -> Writer:
    return Writer(f"uid {uid}", frozenset({uid}), "owner")


# --- the mode alone ---------------------------------------------------------------------------


def test_group_bits_of_the_mode_name_the_listed_members_but_the_owner_and_root() -> None:
    """Group write+search in the mode: the owning group's members other than the owner and
    root, as uids, by 'mode'; the owner itself by 'owner'."""
    snapshot = listed(g10=frozenset({0, 1, 5, 6}))
    assert writers(5, 10, 0o770, (), snapshot) == (
        owner(5), Writer("group 10", frozenset({1, 6}), "mode"))


def test_a_group_of_root_and_the_owner_only_is_no_writer() -> None:
    """A listed group whose only members are root and the owner adds no writer."""
    assert writers(5, 10, 0o770, (), listed(g10=frozenset({0, 5}))) == (owner(5),)
    assert writers(0, 10, 0o770, (), listed(g10=frozenset({0}))) == ()


def test_a_group_with_uid_1_counts_it() -> None:
    """Only uid 0 is dropped from a group's members: uid 1 is an ordinary user."""
    assert writers(0, 10, 0o770, (), listed(g10=frozenset({0, 1}))) == (
        Writer("group 10", frozenset({1}), "mode"),)


def test_an_unlisted_group_has_unknown_members() -> None:
    """A group that is not listed (a network directory's) is a writer with unknown members,
    with and without other groups recorded; gid 1 is not root's group."""
    expected = (Writer("group 10", None, "mode"),)
    assert writers(0, 10, 0o770, (), NO_GROUPS) == expected
    assert writers(0, 10, 0o770, (), listed(g20=frozenset({3}))) == expected
    assert writers(0, 1, 0o770, (), NO_GROUPS) == (Writer("group 1", None, "mode"),)


def test_root_group_unlisted_is_trusted_only_when_no_group_is_recorded() -> None:
    """Root's group with unknown members: trusted by a snapshot recording no groups, a writer
    with unknown members when other groups are recorded."""
    assert writers(0, 0, 0o770, (), NO_GROUPS) == ()
    assert writers(0, 0, 0o770, (), listed(g20=frozenset({3}))) == (
        Writer("group 0", None, "mode"),)


@pytest.mark.parametrize(("mode", "group_writes"), [
    (0o730, True), (0o030, True), (0o770, True), (0o750, False), (0o760, False),
    (0o700, False), (0o707, False),
])
def test_group_bits_need_write_and_search(mode: int, group_writes: bool) -> None:
    """The group bits (mode >> 3) decide for the group: w and x both, whatever r is."""
    found = writers(0, 10, mode, (), NO_GROUPS)
    assert (Writer("group 10", None, "mode") in found) == group_writes


@pytest.mark.parametrize(("mode", "everyone"), [
    (0o703, True), (0o707, True), (0o773, True), (0o705, False), (0o706, False),
    (0o770, False), (0o717, True), (0o710, False),
])
def test_other_bits_need_write_and_search(mode: int, everyone: bool) -> None:
    """The other bits (mode & 7) decide for every user: w and x both."""
    found = writers(0, 0, mode, (), NO_GROUPS)
    assert (Writer("every user", None, "mode") in found) == everyone


def test_every_user_by_mode_after_owner_and_group() -> None:
    """Owner, group, every user: in that order, each with its uids and how."""
    assert writers(3, 10, 0o777, (), listed(g10=frozenset({4}))) == (
        owner(3), Writer("group 10", frozenset({4}), "mode"),
        Writer("every user", None, "mode"))


# --- an access ACL ----------------------------------------------------------------------------


def test_named_user_with_a_granting_mask_is_a_writer_by_acl() -> None:
    """A named user entry with wx (within the mask) is a writer 'uid N' by 'ACL'; named
    root and the owner are not listed again."""
    entries = acl(AclEntry(AclTag.USER, 7, 0), AclEntry(AclTag.USER, 3, 4),
                  AclEntry(AclTag.USER, 7, 5), group=0)
    assert writers(5, 10, 0o770, entries, NO_GROUPS) == (
        owner(5), Writer("uid 4", frozenset({4}), "ACL"))


def test_the_mask_limits_named_users_not_the_owner_entry() -> None:
    """The mask entry, not the owner entry, limits a named user: mask r-x denies, mask rwx
    with owner entry r-x grants."""
    named = AclEntry(AclTag.USER, 7, 4)
    assert writers(0, 10, 0o750, acl(named, user=5, group=0, mask=5), NO_GROUPS) == ()
    assert writers(0, 10, 0o770, acl(named, user=5, group=0, mask=7), NO_GROUPS) == (
        Writer("uid 4", frozenset({4}), "ACL"),)


def test_an_acl_without_a_mask_does_not_limit() -> None:
    """Without a mask entry, nothing limits the entries (the mask is rwx)."""
    entries = acl(mask=None, group=7)
    assert writers(0, 10, 0o770, entries, NO_GROUPS) == (Writer("group 10", None, "ACL"),)


def test_named_group_entries_are_not_named_users() -> None:
    """A named group entry grants its members, not a user of the same number."""
    entries = acl(AclEntry(AclTag.GROUP, 7, 20), group=0)
    assert writers(0, 10, 0o770, entries, NO_GROUPS) == (Writer("group 20", None, "ACL"),)


def test_owning_group_and_named_groups_both_count() -> None:
    """The owning group's entry and every named group entry each make a writer, by gid, with
    the members other than the owner, the named users and root."""
    entries = acl(AclEntry(AclTag.USER, 0, 6), AclEntry(AclTag.GROUP, 7, 20), group=7)
    snapshot = listed(g10=frozenset({0, 2, 5, 6}), g20=frozenset({3, 6}))
    assert writers(5, 10, 0o770, entries, snapshot) == (
        owner(5), Writer("group 10", frozenset({2}), "ACL"),
        Writer("group 20", frozenset({3}), "ACL"))


def test_acl_other_entry_decides_for_every_user() -> None:
    """With an ACL in force, its other entry decides for every user (by 'ACL'), not the
    mode's other bits; without one, the mode's other bits do."""
    assert writers(0, 0, 0o770, acl(group=0, other=3), NO_GROUPS) == (
        Writer("every user", None, "ACL"),)
    assert writers(0, 0, 0o777, acl(group=0, other=0), NO_GROUPS) == ()
    assert writers(0, 0, 0o777, acl(group=0, other=None), NO_GROUPS) == (
        Writer("every user", None, "ACL"),)
    assert writers(0, 0, 0o770, acl(group=0, other=None), NO_GROUPS) == ()


def test_an_acl_is_ignored_when_the_group_bits_are_zero() -> None:
    """Group bits (the mask) of zero: the ACL is not consulted, the mode decides, also when
    the other bits have x."""
    entries = acl(AclEntry(AclTag.USER, 7, 4), mask=0, other=3)
    assert writers(0, 10, 0o703, entries, NO_GROUPS) == (Writer("every user", None, "mode"),)
    assert writers(0, 10, 0o701, acl(AclEntry(AclTag.USER, 7, 4), other=3), NO_GROUPS) == ()


def test_no_acl_means_the_mode() -> None:
    """An empty ACL: the mode's group bits name the owning group, by 'mode'."""
    assert writers(0, 10, 0o770, (), NO_GROUPS) == (Writer("group 10", None, "mode"),)


# --- replacers ----------------------------------------------------------------------------------


def test_replacers_of_a_plain_directory_are_its_writers() -> None:
    """Without the sticky bit every writer can replace; with it only the owner."""
    snapshot = listed(g10=frozenset({4}))
    assert replacers(3, 10, 0o777, (), snapshot) == (
        owner(3), Writer("group 10", frozenset({4}), "mode"),
        Writer("every user", None, "mode"))
    assert replacers(3, 10, 0o1777, (), snapshot) == (owner(3),)
