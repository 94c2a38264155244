"""The snapshot's value types and its JSON form at their edges, with exact messages.

ACL entries (tags, permission bits, ids at 2**32), their text form, ancestors
of a tree (owner, group, mode and ACL survive the JSON round trip; absent keys
take their defaults), and the messages of refused values, word for word.
"""

from __future__ import annotations

import json

import pytest
from layout_trees.core.errors import SnapshotError
from layout_trees.core.model import (
    AclEntry,
    AclTag,
    Ancestor,
    Entry,
    EntryKind,
    Snapshot,
    Subvolume,
    TreeScan,
    TreeStatus,
    acl_from_text,
    check_owner,
)
from layout_trees.core.snapshot_json import dump_snapshot, load_snapshot, snapshot_from_data


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"tag": "user", "perms": 7}, "ACL entry: tag 'user' is not an AclTag"),
    ({"tag": AclTag.OTHER, "perms": 8}, "ACL entry: permissions 8 are not 0-7"),
    ({"tag": AclTag.OTHER, "perms": -1}, "ACL entry: permissions -1 are not 0-7"),
    ({"tag": AclTag.OTHER, "perms": True}, "ACL entry: permissions True are not 0-7"),
    ({"tag": AclTag.OTHER, "perms": "7"}, "ACL entry: permissions '7' are not 0-7"),
    ({"tag": AclTag.USER, "perms": 7}, "ACL entry: user entries need a uid or gid"),
    ({"tag": AclTag.GROUP, "perms": 7, "id": True}, "ACL entry: group entries need a uid or gid"),
    ({"tag": AclTag.USER, "perms": 7, "id": "1"}, "ACL entry: user entries need a uid or gid"),
    ({"tag": AclTag.USER, "perms": 7, "id": 2**32}, "ACL entry: user entries need a uid or gid"),
    ({"tag": AclTag.USER, "perms": 7, "id": -1}, "ACL entry: user entries need a uid or gid"),
    ({"tag": AclTag.MASK, "perms": 7, "id": 5}, "ACL entry: mask entries have no id"),
])
def test_acl_entry_refusals_exact(kwargs: dict[str, object], message: str) -> None:
    """Each invalid ACL entry is refused with its own message."""
    with pytest.raises(SnapshotError) as caught:
        AclEntry(**kwargs)  # type: ignore[arg-type]
    assert caught.value.message == message


def test_acl_entry_edges_accepted() -> None:
    """Permissions 0 and 7 and ids 0 and 2**32 - 1 are valid."""
    assert AclEntry(AclTag.USER, 0, 2**32 - 1).text == f"user:{2**32 - 1}:---"
    assert AclEntry(AclTag.GROUP, 7, 0).text == "group:0:rwx"


@pytest.mark.parametrize(("text", "entry"), [
    ("user::r-x", AclEntry(AclTag.USER_OBJ, 5)),
    ("user:1000:rw-", AclEntry(AclTag.USER, 6, 1000)),
    ("group::--x", AclEntry(AclTag.GROUP_OBJ, 1)),
    ("group:10:-w-", AclEntry(AclTag.GROUP, 2, 10)),
    ("mask::rwx", AclEntry(AclTag.MASK, 7)),
    ("other::---", AclEntry(AclTag.OTHER, 0)),
])
def test_acl_from_text_reference(text: str, entry: AclEntry) -> None:
    """Text reads back to the entry it describes, and the entry writes the same text."""
    assert acl_from_text(text, "w") == entry
    assert entry.text == text


@pytest.mark.parametrize("text", [
    "user:1000:rwxr", "user:1000:rw", "user:1000", "user:1:2:rwx", "user:1000:xwr",
    "user:abc:rwx", "user:\u0661\u0662:rwx", "bogus::rwx", "mask:5:rwx", "other:1:---",
    5, None,
])
def test_acl_from_text_refusals_exact(text: object) -> None:
    """Anything not like 'user:1000:rwx' is refused with one message naming it and where."""
    with pytest.raises(SnapshotError) as caught:
        acl_from_text(text, "/t/d")  # type: ignore[arg-type]
    assert caught.value.message == f"/t/d: ACL entry {text!r} is not like 'user:1000:rwx'"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"path": "rel"}, "ancestor: 'rel' is not an absolute path"),
    ({"path": "/a", "uid": -1}, "/a: uid must be a non-negative integer"),
    ({"path": "/a", "acl": [AclEntry(AclTag.MASK, 7)]}, "/a: acl must be a tuple of ACL entries"),
])
def test_ancestor_refusals_exact(kwargs: dict[str, object], message: str) -> None:
    """An invalid ancestor is refused with a message naming it."""
    with pytest.raises(SnapshotError) as caught:
        Ancestor(**kwargs)  # type: ignore[arg-type]
    assert caught.value.message == message


def with_ancestors(*ancestors: Ancestor) -> Snapshot:
    return Snapshot((TreeScan("t", "/trees/t", ancestors=ancestors),))


def test_ancestors_round_trip_through_json() -> None:
    """Owner, group, mode (sticky bit included) and ACL of every ancestor survive JSON."""
    acl = (AclEntry(AclTag.USER_OBJ, 7), AclEntry(AclTag.USER, 5, 1000))
    snapshot = with_ancestors(Ancestor("/", 0, 0, 0o755),
                              Ancestor("/trees", 1000, 100, 0o1777, acl))
    data = json.loads(dump_snapshot(snapshot))
    assert data["trees"][0]["ancestors"] == [
        {"path": "/", "uid": 0, "gid": 0, "mode": "0755"},
        {"path": "/trees", "uid": 1000, "gid": 100, "mode": "1777",
         "acl": ["user::rwx", "user:1000:r-x"]}]
    assert load_snapshot(dump_snapshot(snapshot))[0] == snapshot


def document(ancestors: list[object]) -> dict[str, object]:
    return {"format": "layout-trees-snapshot", "version": 1, "fstab_mountpoints": [],
            "trees": [{"name": "t", "root": "/trees/t", "status": "ok", "uid": 0, "gid": 0,
                       "mode": "0755", "entries": [], "ancestors": ancestors}]}


def test_ancestor_defaults_when_keys_are_absent() -> None:
    """An ancestor with only a path is owned by root, mode 0755, no ACL."""
    snapshot, _ = snapshot_from_data(document([{"path": "/trees"}]))
    assert snapshot.trees[0].ancestors == (Ancestor("/trees", 0, 0, 0o755, ()),)
    snapshot, _ = snapshot_from_data(document([{"path": "/trees", "uid": 7, "gid": 8}]))
    assert snapshot.trees[0].ancestors == (Ancestor("/trees", 7, 8, 0o755, ()),)


@pytest.mark.parametrize(("ancestor", "message"), [
    ([], "trees[0].ancestors[0]: an ancestor must be an object"),
    ({}, "trees[0].ancestors[0]: missing 'path'"),
    ({"path": "/a", "uid": "0"}, "trees[0].ancestors[0]: 'uid' has the wrong type (str)"),
    ({"path": "/a", "gid": True}, "trees[0].ancestors[0]: 'gid' has the wrong type (bool)"),
    ({"path": "/a", "mode": 493},
     "trees[0].ancestors[0]: mode must be an octal string like '0755'"),
    ({"path": "/a", "acl": ["x"]},
     "trees[0].ancestors[0]: ACL entry 'x' is not like 'user:1000:rwx'"),
])
def test_ancestor_from_data_refusals_exact(ancestor: object, message: str) -> None:
    """An invalid ancestor in a snapshot document is refused naming the tree and its index."""
    with pytest.raises(SnapshotError) as caught:
        snapshot_from_data(document([ancestor]))
    assert caught.value.message == message


def test_snapshot_lookups() -> None:
    """tree() and home_of() find the entry asked for among several, None for another."""
    snapshot = Snapshot((TreeScan("a", "/trees/a"), TreeScan("b", "/trees/b")),
                        user_homes=frozenset({(1000, "/home/a"), (1001, "/home/b")}))
    assert snapshot.tree("b") == TreeScan("b", "/trees/b")
    assert snapshot.tree("c") is None
    assert snapshot.home_of(1001) == "/home/b"
    assert snapshot.home_of(1002) is None


def test_load_snapshot_messages_exact() -> None:
    """Text that is not JSON, or nested too deeply, is refused with the reason."""
    with pytest.raises(SnapshotError) as caught:
        load_snapshot("[" * 100_000)
    assert caught.value.message == "the snapshot is not valid JSON: nested too deeply"
    assert caught.value.hint == "create one with 'layout snapshot'"
    with pytest.raises(SnapshotError) as caught:
        load_snapshot("{")
    assert caught.value.message == ("the snapshot is not valid JSON: Expecting property name "
                                    "enclosed in double quotes: line 1 column 2 (char 1)")


def test_subvolume_facts_round_trip_through_json() -> None:
    """Every optional fact of a subvolume (id, uuids, generation, backup, nested) survives JSON."""
    sub = Subvolume("/t/@a", read_only=True, id=256, uuid="u-1", parent_uuid="p-2",
                    received_uuid="r-3", generation=42, backup="skip", nested=("x", "y/z"))
    snapshot = Snapshot((TreeScan("t", "/trees/t",
                                  entries=(Entry(("@a",), EntryKind.SUBVOLUME, subvolume=sub),)),))
    assert load_snapshot(dump_snapshot(snapshot))[0] == snapshot
    with pytest.raises(SnapshotError) as caught:
        snapshot_from_data({"format": "layout-trees-snapshot", "version": 1, "trees": [
            {"name": "t", "root": "/trees/t",
             "entries": [{"path": ["@a"], "kind": "subvolume", "subvolume": []}]}]})
    assert caught.value.message == "trees[0].entries[0] (@a): subvolume must be an object"


def subvolume_document(subvolume: dict[str, object]) -> dict[str, object]:
    return {"format": "layout-trees-snapshot", "version": 1, "trees": [
        {"name": "t", "root": "/trees/t",
         "entries": [{"path": ["@a"], "kind": "subvolume", "subvolume": subvolume}]}]}


@pytest.mark.parametrize("key", ["read_only", "id", "uuid", "parent_uuid", "received_uuid",
                                 "generation", "backup", "nested", "path"])
def test_subvolume_wrong_types_name_the_entry(key: str) -> None:
    """A subvolume fact of the wrong type is refused naming the entry and the key."""
    value: object = 1.5 if key != "nested" else "x"
    with pytest.raises(SnapshotError) as caught:
        snapshot_from_data(subvolume_document({"path": "/t/@a", key: value}))
    kind = type(value).__name__
    assert caught.value.message == f"trees[0].entries[0] (@a): {key!r} has the wrong type ({kind})"


def test_subvolume_defaults() -> None:
    """A subvolume with only a path is writable, with no other facts; without a path refused."""
    snapshot, _ = snapshot_from_data(subvolume_document({"path": "/t/@a"}))
    assert snapshot.trees[0].entries[0].subvolume == Subvolume("/t/@a")
    assert Subvolume("/t/@a").read_only is False
    with pytest.raises(SnapshotError) as caught:
        snapshot_from_data(subvolume_document({}))
    assert caught.value.message == "trees[0].entries[0] (@a): missing 'path'"


def entry_document(entry: object) -> dict[str, object]:
    return {"format": "layout-trees-snapshot", "version": 1,
            "trees": [{"name": "t", "root": "/trees/t", "entries": [entry]}]}


@pytest.mark.parametrize(("entry", "message"), [
    ([], "trees[0].entries[0]: an entry must be an object"),
    ({"kind": "directory"}, "trees[0].entries[0]: missing 'path'"),
    ({"path": ["a", 5], "kind": "directory"},
     "trees[0].entries[0]: path must be a list of strings"),
    ({"path": ["a", "b"]}, "trees[0].entries[0] (a/b): missing 'kind'"),
    ({"path": ["a", "b"], "kind": "door"},
     "trees[0].entries[0] (a/b): 'door' is not one of directory, subvolume, symlink, "
     "other, mountpoint, unreadable"),
    ({"path": ["a", "b"], "kind": "directory", "uid": "0"},
     "trees[0].entries[0] (a/b): 'uid' has the wrong type (str)"),
    ({"path": ["a", "b"], "kind": "directory", "gid": "0"},
     "trees[0].entries[0] (a/b): 'gid' has the wrong type (str)"),
    ({"path": ["a", "b"], "kind": "directory", "mode": 7},
     "trees[0].entries[0] (a/b): mode must be an octal string like '0755'"),
    ({"path": ["a", "b"], "kind": "symlink", "target": 7},
     "trees[0].entries[0] (a/b): 'target' has the wrong type (int)"),
    ({"path": ["a", "b"], "kind": "unreadable", "error": 7},
     "trees[0].entries[0] (a/b): 'error' has the wrong type (int)"),
    ({"path": ["a", "b"], "kind": "directory", "acl": "user::rwx"},
     "trees[0].entries[0] (a/b): 'acl' has the wrong type (str)"),
    ({"path": ["a", "b"], "kind": "directory", "acl": [5]},
     "trees[0].entries[0] (a/b): 'acl' must be a list of strings"),
    ({"path": ["a", "b"], "kind": "directory", "acl": ["x"]},
     "trees[0].entries[0] (a/b): ACL entry 'x' is not like 'user:1000:rwx'"),
    ({"path": ["@a"], "kind": "subvolume", "subvolume": {"path": "/a", "nested": [5]}},
     "trees[0].entries[0] (@a): 'nested' must be a list of strings"),
])
def test_entry_refusals_exact(entry: object, message: str) -> None:
    """An invalid entry of a snapshot document is refused naming its index and path."""
    with pytest.raises(SnapshotError) as caught:
        snapshot_from_data(entry_document(entry))
    assert caught.value.message == message


def test_entry_defaults_and_acl() -> None:
    """An entry without owner and mode is root's with 0755; its ACL is read."""
    snapshot, _ = snapshot_from_data(entry_document(
        {"path": ["a"], "kind": "directory", "acl": ["user::rwx", "group:5:r-x"]}))
    assert snapshot.trees[0].entries[0] == Entry(
        ("a",), EntryKind.DIRECTORY, 0, 0, 0o755,
        acl=(AclEntry(AclTag.USER_OBJ, 7), AclEntry(AclTag.GROUP, 5, 5)))


def tree_document(tree: object) -> dict[str, object]:
    return {"format": "layout-trees-snapshot", "version": 1, "trees": [tree]}


@pytest.mark.parametrize("key", ["error", "device", "fs_uuid", "root_subvol_path", "real_root",
                                 "fs_mountpoint", "destination_real", "destination_error",
                                 "name", "root", "status", "entries", "uid", "gid",
                                 "device_found", "acl", "ancestors"])
def test_tree_wrong_types_name_the_tree(key: str) -> None:
    """A tree fact of the wrong type is refused naming the tree's index and the key."""
    tree = {"name": "t", "root": "/trees/t", key: 1.5}
    with pytest.raises(SnapshotError) as caught:
        snapshot_from_data(tree_document(tree))
    assert caught.value.message == f"trees[0]: {key!r} has the wrong type (float)"


@pytest.mark.parametrize(("tree", "message"), [
    ([], "trees[0]: a tree must be an object"),
    ({"root": "/trees/t"}, "trees[0]: missing 'name'"),
    ({"name": "t"}, "trees[0]: missing 'root'"),
    ({"name": "t", "root": "/trees/t", "status": "gone"},
     "trees[0]: 'gone' is not one of ok, missing, not-directory, not-btrfs, unreadable"),
    ({"name": "t", "root": "/trees/t", "mode": "0x9"}, "trees[0]: mode '0x9' is not octal"),
])
def test_tree_refusals_exact(tree: object, message: str) -> None:
    """An invalid tree of a snapshot document is refused naming its index."""
    with pytest.raises(SnapshotError) as caught:
        snapshot_from_data(tree_document(tree))
    assert caught.value.message == message


def test_tree_facts_and_defaults() -> None:
    """A tree with only name and root is an OK, empty tree; its filesystem facts are read."""
    snapshot, _ = snapshot_from_data(tree_document({"name": "t", "root": "/trees/t"}))
    assert snapshot.trees[0] == TreeScan("t", "/trees/t")
    facts = TreeScan("t", "/trees/t", device="/dev/vdb", fs_uuid="f-1", root_subvol_path="/t",
                     device_found=True, fs_mountpoint="/mnt", destination_error="why")
    assert load_snapshot(dump_snapshot(Snapshot((facts,))))[0] == Snapshot((facts,))


def top_document(**keys: object) -> dict[str, object]:
    return {"format": "layout-trees-snapshot", "version": 1, "trees": [], **keys}


@pytest.mark.parametrize(("document", "message", "hint"), [
    ([], "not a layout-trees snapshot document", "create one with 'layout snapshot > snap.json'"),
    ({"format": "other"}, "not a layout-trees snapshot document",
     "create one with 'layout snapshot > snap.json'"),
    ({"format": "layout-trees-snapshot", "version": 2},
     "snapshot version 2 is not supported (this is 1)",
     "re-create the snapshot with this version of 'layout snapshot'"),
    ({"format": "layout-trees-snapshot", "version": 1}, "snapshot: missing 'trees'", None),
    (top_document(user_homes=[[1000]]), "snapshot: user_homes items must be [uid, home] pairs",
     None),
    (top_document(user_homes=[["1000", "/h"]]),
     "snapshot: user_homes items must be [uid, home] pairs", None),
    (top_document(user_homes=[[True, "/h"]]),
     "snapshot: user_homes items must be [uid, home] pairs", None),
    (top_document(user_homes=[[1000, 5]]),
     "snapshot: user_homes items must be [uid, home] pairs", None),
    (top_document(user_homes=[5]), "snapshot: user_homes items must be [uid, home] pairs", None),
    (top_document(group_members=[[10]]),
     "snapshot: group_members items must be [gid, [uid, ...]] pairs", None),
    (top_document(group_members=[[True, [1]]]),
     "snapshot: group_members items must be [gid, [uid, ...]] pairs", None),
    (top_document(group_members=[["10", [1]]]),
     "snapshot: group_members items must be [gid, [uid, ...]] pairs", None),
    (top_document(group_members=[[10, 1]]),
     "snapshot: group_members items must be [gid, [uid, ...]] pairs", None),
    (top_document(group_members=[[10, [True]]]),
     "snapshot: group_members items must be [gid, [uid, ...]] pairs", None),
    (top_document(group_members=[[10, ["1"]]]),
     "snapshot: group_members items must be [gid, [uid, ...]] pairs", None),
    (top_document(group_members=[5]),
     "snapshot: group_members items must be [gid, [uid, ...]] pairs", None),
])
def test_snapshot_document_refusals_exact(document: object, message: str,
                                          hint: str | None) -> None:
    """A document that is not a snapshot, of another version or with malformed user or group
    facts is refused with its own message and hint."""
    with pytest.raises(SnapshotError) as caught:
        snapshot_from_data(document)
    assert (caught.value.message, caught.value.hint) == (message, hint)


@pytest.mark.parametrize(("keys", "message"), [
    ({"fstab_mountpoints": "/boot"}, "snapshot: 'fstab_mountpoints' has the wrong type (str)"),
    ({"fstab_mountpoints": [5]}, "snapshot: fstab_mountpoints must be strings"),
    ({"user_homes": {}}, "snapshot: 'user_homes' has the wrong type (dict)"),
    ({"group_members": {}}, "snapshot: 'group_members' has the wrong type (dict)"),
    ({"max_user_watches": "5"}, "snapshot: 'max_user_watches' has the wrong type (str)"),
    ({"trees": {}}, "snapshot: 'trees' has the wrong type (dict)"),
    ({"config": []}, "snapshot: 'config' must be an object"),
])
def test_snapshot_top_level_refusals_exact(keys: dict[str, object], message: str) -> None:
    """A top-level key of the wrong type is refused, named."""
    with pytest.raises(SnapshotError) as caught:
        snapshot_from_data(top_document(**keys))
    assert caught.value.message == message


def test_snapshot_config_source_is_read() -> None:
    """The embedded configuration keeps the file name it was read from, if a string."""
    config = {"tree": {"t": {"path": "/trees/t", "destination": "/srv/t"}}}
    parsed = snapshot_from_data(top_document(config=config, config_source="/etc/x.toml"))[1]
    assert parsed is not None and parsed.config.source == "/etc/x.toml"
    parsed = snapshot_from_data(top_document(config=config, config_source=5))[1]
    assert parsed is not None and parsed.config.source is None


def test_canonical_keeps_every_tree_fact() -> None:
    """Putting a snapshot in canonical order changes no fact of a tree."""
    entries = (Entry(("b",), EntryKind.DIRECTORY), Entry(("a",), EntryKind.DIRECTORY))
    facts = {"real_root": "/real/t", "destination_real": "/var/srv", "uid": 5, "gid": 6,
             "mode": 0o700}
    tree = TreeScan("t", "/trees/t", entries=entries, **facts)  # type: ignore[arg-type]
    canonical = Snapshot((tree,)).canonical().trees[0]
    assert canonical == TreeScan("t", "/trees/t", entries=entries[::-1],
                                 **facts)  # type: ignore[arg-type]
    broken = TreeScan("t", "/trees/t", status=TreeStatus.UNREADABLE, error="EIO")
    assert Snapshot((broken,)).canonical().trees[0] == broken
    entry = Entry(("a",), EntryKind.DIRECTORY, acl=(AclEntry(AclTag.USER, 5, 7),))
    data = json.loads(dump_snapshot(Snapshot((TreeScan("t", "/trees/t", entries=(entry,)),))))
    assert data["trees"][0]["entries"][0]["acl"] == ["user:7:r-x"]


def test_canonical_keeps_every_snapshot_fact() -> None:
    """A snapshot in canonical order keeps its mounts, users, groups, crossings and watches."""
    tree = TreeScan("t", "/trees/t", acl=(AclEntry(AclTag.USER_OBJ, 7),))
    snapshot = Snapshot((tree,), fstab_mountpoints=frozenset({"/boot"}),
                        user_homes=frozenset({(1000, "/home/a")}),
                        crossings=frozenset({"/srv/t/x"}),
                        group_members=frozenset({(100, frozenset({1000}))}),
                        max_user_watches=8192)
    assert snapshot.canonical() == snapshot


def test_invalid_component_message_exact() -> None:
    """A path component with a slash is refused naming the entry, with a hint."""
    with pytest.raises(SnapshotError) as caught:
        Entry(("a", "b/c"), EntryKind.DIRECTORY)
    assert caught.value.message == "a/b/c: invalid path component 'b/c'"
    assert caught.value.hint == "path components are single, non-empty names without '/'"


def test_dump_snapshot_config_source() -> None:
    """The configuration's file name is written when known, and left out otherwise."""
    from layout_trees.core.config import Config

    snapshot = Snapshot()
    data = json.loads(dump_snapshot(snapshot, Config(source="/etc/x.toml")))
    assert data["config_source"] == "/etc/x.toml"
    assert "config_source" not in json.loads(dump_snapshot(snapshot, Config()))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"path": "a"}, "subvolume: 'a' is not an absolute path"),
    ({"path": "/a", "id": 0}, "subvolume '/a': id 0 is not a subvolume id"),
    ({"path": "/a", "id": -5}, "subvolume '/a': id -5 is not a subvolume id"),
    ({"path": "/a", "id": 2**64}, f"subvolume '/a': id {2**64} is not a subvolume id"),
    ({"path": "/a", "id": True}, "subvolume '/a': id True is not a subvolume id"),
    ({"path": "/a", "id": "5"}, "subvolume '/a': id '5' is not a subvolume id"),
    ({"path": "/a", "nested": (5,)}, "subvolume '/a': nested paths must be strings"),
    ({"path": "/a", "nested": ("x//y",)}, "subvolume '/a': nested 'x//y': invalid path "
                                          "component ''"),
])
def test_subvolume_refusals_exact(kwargs: dict[str, object], message: str) -> None:
    """Invalid subvolume facts are refused naming the subvolume."""
    with pytest.raises(SnapshotError) as caught:
        Subvolume(**kwargs)  # type: ignore[arg-type]
    assert caught.value.message == message


def test_subvolume_id_edges_accepted() -> None:
    """Subvolume ids 1 and 2**64 - 1 are valid."""
    assert Subvolume("/a", id=1).id == 1
    assert Subvolume("/a", id=2**64 - 1).id == 2**64 - 1


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"path": (), "kind": EntryKind.DIRECTORY}, "entry (): an entry path must be non-empty"),
    ({"path": ["a"], "kind": EntryKind.DIRECTORY},
     "entry ['a']: an entry path must be non-empty"),
    ({"path": ("a", "b"), "kind": "directory"}, "a/b: kind 'directory' is not an EntryKind"),
    ({"path": ("a", "b"), "kind": EntryKind.DIRECTORY, "subvolume": Subvolume("/a")},
     "a/b: subvolume facts belong to subvolume entries only"),
    ({"path": ("a", "b"), "kind": EntryKind.SUBVOLUME},
     "a/b: subvolume facts belong to subvolume entries only"),
    ({"path": ("a", "b"), "kind": EntryKind.SYMLINK}, "a/b: a symlink entry needs its target"),
    ({"path": ("a", "b"), "kind": EntryKind.DIRECTORY, "uid": -1},
     "a/b: uid must be a non-negative integer"),
    ({"path": ("a", "b"), "kind": EntryKind.DIRECTORY, "acl": [AclEntry(AclTag.MASK, 7)]},
     "a/b: acl must be a tuple of ACL entries"),
])
def test_entry_value_refusals_exact(kwargs: dict[str, object], message: str) -> None:
    """An invalid entry value is refused naming its path."""
    with pytest.raises(SnapshotError) as caught:
        Entry(**kwargs)  # type: ignore[arg-type]
    assert caught.value.message == message


@pytest.mark.parametrize(("uid", "gid", "mode", "message"), [
    (True, 0, 0o755, "w: uid must be a non-negative integer"),
    (0, True, 0o755, "w: gid must be a non-negative integer"),
    (0, 0, True, "w: mode must be a non-negative integer"),
    (0, 0, 0o10000, "w: mode 10000 has more than permission bits"),
    (0, -1, 0o755, "w: gid must be a non-negative integer"),
    (2**32 - 1, 0, 0o755, "w: uid 4294967295 is out of range (at most 4294967294)"),
])
def test_check_owner_refusals_exact(uid: int, gid: int, mode: int, message: str) -> None:
    """Booleans, negative numbers, the id (uid_t) -1 and modes beyond 0o7777 are refused."""
    with pytest.raises(SnapshotError) as caught:
        check_owner(uid, gid, mode, "w")
    assert caught.value.message == message


def test_check_owner_edges_accepted() -> None:
    """Owner and group 0 and 2**32 - 2, modes 0 and 0o7777 are valid."""
    check_owner(0, 0, 0, "w")
    check_owner(2**32 - 2, 2**32 - 2, 0o7777, "w")


class _Id(int):
    """An int subclass: not the fast path's exact int, accepted all the same."""


def test_check_owner_slow_path_edges() -> None:
    """Values that take the slow path are judged like ints: the largest uid and mode pass,
    and the first invalid value is the one named."""
    check_owner(_Id(2**32 - 2), 0, 0o7777, "w")
    check_owner(0, _Id(2**32 - 2), 0o7777, "w")
    with pytest.raises(SnapshotError) as caught:
        check_owner(2**32 - 2, True, 0o755, "w")
    assert caught.value.message == "w: gid must be a non-negative integer"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"root": "trees/t"}, "tree 't': 'trees/t' is not an absolute path"),
    ({"real_root": "real"}, "tree 't': real_root: 'real' is not an absolute path"),
    ({"fs_mountpoint": "/mnt/../x"}, "tree 't': fs_mountpoint '/mnt/../x' contains '..'"),
    ({"destination_real": "/a/.."}, "tree 't': destination_real '/a/..' contains '..'"),
    ({"device": "/dev/vd b "},
     "tree 't': device '/dev/vd b ' begins or ends with white space, which systemd strips "
     "from unit values"),
    ({"acl": [AclEntry(AclTag.MASK, 7)]}, "tree 't': acl must be a tuple of ACL entries"),
    ({"ancestors": [Ancestor("/")]}, "tree 't': ancestors must be a tuple of Ancestor"),
    ({"ancestors": ("/",)}, "tree 't': ancestors must be a tuple of Ancestor"),
    ({"status": "ok"}, "tree 't': status 'ok' is not a TreeStatus"),
    ({"status": TreeStatus.MISSING, "entries": (Entry(("a",), EntryKind.DIRECTORY),)},
     "tree 't': a tree that was not scanned has no entries"),
    ({"mode": -1}, "tree 't': mode must be a non-negative integer"),
    ({"entries": (Entry(("a", "b"), EntryKind.DIRECTORY), Entry(("a", "b"), EntryKind.SYMLINK,
                                                                 target="x"))},
     "tree 't': entry 'a/b' appears twice"),
])
def test_tree_scan_refusals_exact(kwargs: dict[str, object], message: str) -> None:
    """An invalid tree scan is refused naming the tree (and the field)."""
    kwargs = {"root": "/trees/t", **kwargs}
    with pytest.raises(SnapshotError) as caught:
        TreeScan("t", **kwargs)  # type: ignore[arg-type]
    assert caught.value.message == message


def test_tree_scan_paths_with_dots_in_names_accepted() -> None:
    """Only a '..' component is refused; names containing dots are fine."""
    scan = TreeScan("t", "/trees/t", real_root="/a/..b/c..", fs_mountpoint="/m",
                    destination_real="/d/x..", device="/dev/vdb")
    assert scan.real_root == "/a/..b/c.."


@pytest.mark.parametrize(("kwargs", "message", "hint"), [
    ({"version": 2}, "snapshot version 2 is not supported (this is 1)",
     "re-create the snapshot with this version of 'layout snapshot'"),
    ({"trees": (TreeScan("t", "/a"), TreeScan("t", "/b"))}, "snapshot: two trees share a name",
     None),
    ({"crossings": frozenset({"rel"})}, "snapshot: crossing: 'rel' is not an absolute path",
     None),
    ({"user_homes": frozenset({(0, "/root", "x")})},
     "snapshot: user home (0, '/root', 'x') needs a non-negative uid", None),
    ({"user_homes": frozenset({"ab"})}, "snapshot: user home 'ab' needs a non-negative uid",
     None),
    ({"user_homes": frozenset({(True, "/h")})},
     "snapshot: user home (True, '/h') needs a non-negative uid", None),
    ({"user_homes": frozenset({(-1, "/h")})},
     "snapshot: user home (-1, '/h') needs a non-negative uid", None),
    ({"user_homes": frozenset({(5, "h")})}, "snapshot: home of uid 5: 'h' is not an absolute path",
     None),
])
def test_snapshot_refusals_exact(kwargs: dict[str, object], message: str,
                                 hint: str | None) -> None:
    """An invalid snapshot is refused with its own message (and hint)."""
    with pytest.raises(SnapshotError) as caught:
        Snapshot(**kwargs)  # type: ignore[arg-type]
    assert (caught.value.message, caught.value.hint) == (message, hint)


def test_snapshot_root_home_accepted() -> None:
    """uid 0 may have a home recorded."""
    assert Snapshot(user_homes=frozenset({(0, "/root")})).home_of(0) == "/root"


@pytest.mark.parametrize(("group", "message"), [
    ((10,), "snapshot: group members (10,) need a gid and uids"),
    ("ab", "snapshot: group members 'ab' need a gid and uids"),
    ((True, frozenset({1})), "snapshot: group members (True, frozenset({1})) need a gid and uids"),
    ((-1, frozenset({1})), "snapshot: group members (-1, frozenset({1})) need a gid and uids"),
    ((10, (1,)), "snapshot: group members (10, (1,)) need a gid and uids"),
    ((10, frozenset({True})), "snapshot: group members (10, frozenset({True})) need a gid and "
                              "uids"),
    ((10, frozenset({-1})), "snapshot: group members (10, frozenset({-1})) need a gid and uids"),
    ((10, frozenset({"1"})), "snapshot: group members (10, frozenset({'1'})) need a gid and "
                             "uids"),
])
def test_snapshot_group_members_refusals_exact(group: object, message: str) -> None:
    """A malformed group entry is refused, shown as given."""
    with pytest.raises(SnapshotError) as caught:
        Snapshot(group_members=frozenset({group}))
    assert caught.value.message == message


def test_snapshot_groups_and_watches_edges() -> None:
    """gid 0 with uid 0 and zero watches are valid; a group twice, or negative or boolean
    watches, are refused."""
    snapshot = Snapshot(group_members=frozenset({(0, frozenset({0}))}), max_user_watches=0)
    assert snapshot.members_of(0) == frozenset({0})
    with pytest.raises(SnapshotError) as caught:
        Snapshot(group_members=frozenset({(5, frozenset({1})), (5, frozenset({2}))}))
    assert caught.value.message == "snapshot: a group's members are listed twice"
    for watches in (-1, True, "5"):
        with pytest.raises(SnapshotError) as caught:
            Snapshot(max_user_watches=watches)  # type: ignore[arg-type]
        assert caught.value.message == "snapshot: max_user_watches must be a non-negative integer"
