"""The diff of documents, field for field: the facts of a snapshot (with and without its
configuration) and of a plan compared as whole mappings, the rendering of values and control
characters, and the JSON and text output of a diff compared whole.

One snapshot holds every part a scan records: a tree with every optional field, an ACL on its
root, an ancestor, a structure directory with an ACL, a leaf with every subvolume field and an
ACL, a read-only leaf, a subvolume that is a structure directory, a symlink and an unreadable
entry; a missing tree; fstab mount points, user homes, group members and the inotify limit.
"""

from __future__ import annotations

from typing import Any

from layout_trees.core.config import Config, TreeConfig
from layout_trees.core.diff import (
    Change,
    ChangeKind,
    Diff,
    Facts,
    Section,
    change_to_data,
    compare,
    diff,
    diff_to_data,
    diff_to_text,
    facts_of,
)
from layout_trees.core.documents import Document, DocumentKind, snapshot_document
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
)

CONFIG = Config((TreeConfig("t", "/mnt/t", "/srv", device="/dev/vdb", options=("noatime",)),
                 TreeConfig("u", "/mnt/u", "/home", device="/dev/vdc")), source="/etc/lt.toml")
ACL = (AclEntry(AclTag.USER, 7, 1000), AclEntry(AclTag.MASK, 7))
ACL_TEXT = ["user:1000:rwx", "mask::rwx"]
T = TreeScan(
    "t", "/mnt/t", device="/dev/vdb", fs_uuid="fsu", root_subvol_path="/t", uid=1, gid=2,
    mode=0o750, device_found=True, real_root="/mnt/real", fs_mountpoint="/mnt/fs",
    destination_real="/var/srv", acl=ACL, ancestors=(Ancestor("/mnt", 3, 4, 0o711, ACL),),
    entries=(
        Entry(("d",), EntryKind.DIRECTORY, uid=5, gid=6, mode=0o700, acl=ACL),
        Entry(("d", "@a"), EntryKind.SUBVOLUME, uid=7, gid=8, mode=0o701, acl=ACL,
              subvolume=Subvolume("/t/d/@a", id=256, uuid="ua", generation=9, backup="daily",
                                  parent_uuid="pu", received_uuid="ru", nested=("x",))),
        Entry(("@ro",), EntryKind.SUBVOLUME, subvolume=Subvolume("/t/@ro", read_only=True,
                                                                   id=257)),
        Entry(("s",), EntryKind.SUBVOLUME, uid=9, gid=10, mode=0o702, acl=ACL,
              subvolume=Subvolume("/t/s", id=258, uuid="us")),
        Entry(("l",), EntryKind.SYMLINK, target="/x"),
        Entry(("e",), EntryKind.UNREADABLE, error="EACCES")))
U = TreeScan("u", "/mnt/u", status=TreeStatus.MISSING, error="gone", destination_error="crosses")
SNAPSHOT = Snapshot((T, U), fstab_mountpoints=frozenset({"/b", "/a"}),
                    user_homes=frozenset({(1000, "/home/al"), (999, "/home/b")}),
                    group_members=frozenset({(100, frozenset({2, 1}))}), max_user_watches=8192)

LEAVES = {
    ("t", "@ro"): {"gid": 0, "id": 257, "mode": "0755", "read_only": True, "subvol": "/t/@ro",
                   "uid": 0},
    ("t", "d/@a"): {"acl": ACL_TEXT, "backup": "daily", "generation": 9, "gid": 8, "id": 256,
                    "mode": "0701", "nested": ["x"], "parent_uuid": "pu", "read_only": False,
                    "received_uuid": "ru", "subvol": "/t/d/@a", "uid": 7, "uuid": "ua"}}
DIRECTORIES = {
    ("t", ""): {"acl": ACL_TEXT, "gid": 2, "mode": "0750", "uid": 1},
    ("t", "d"): {"acl": ACL_TEXT, "gid": 6, "mode": "0700", "subvolume": False, "uid": 5},
    ("t", "s"): {"acl": ACL_TEXT, "gid": 10, "mode": "0702", "subvolume": True, "uid": 9,
                 "subvolume_facts": {"id": 258, "read_only": False, "subvol": "/t/s",
                                     "uuid": "us"}},
    ("u", ""): {"gid": 0, "mode": "0755", "uid": 0}}
ENTRIES = {
    ("t", "e"): {"error": "EACCES", "gid": 0, "kind": "unreadable", "mode": "0755", "uid": 0},
    ("t", "l"): {"gid": 0, "kind": "symlink", "mode": "0755", "target": "/x", "uid": 0}}
TREE_T = {"ancestors": [{"acl": ACL_TEXT, "gid": 4, "mode": "0711", "path": "/mnt", "uid": 3}],
          "device": "/dev/vdb", "device_found": True, "fs_mountpoint": "/mnt/fs",
          "fs_uuid": "fsu", "real_root": "/mnt/real", "root": "/mnt/t", "root_subvol": "/t",
          "status": "ok"}
TREE_U = {"destination_error": "crosses", "error": "gone", "root": "/mnt/u", "status": "missing"}
DOCUMENT = {("", "fstab_mountpoints"): {"value": ["/a", "/b"]},
            ("", "group_members"): {"value": [[100, [1, 2]]]},
            ("", "max_user_watches"): {"max_user_watches": 8192},
            ("", "user_homes"): {"value": [[999, "/home/b"], [1000, "/home/al"]]}}
MOUNTS = {("", "/var/srv/d/a"): {
    "leaf": "d/@a", "options": ["subvol=/t/d/@a", "subvolid=256", "noatime"],
    "subvol": "/t/d/@a", "subvol_id": 256, "tree": "t", "unit": "var-srv-d-a.mount",
    "what": "/dev/vdb"}}
SKIPS = {("t", "@ro"): {"detail": "/mnt/t/@ro: is a read-only subvolume (a snapshot?), "
                                  "not mounted", "reason": "read-only"},
         ("u", ""): {"detail": "/mnt/u: gone", "reason": "tree-missing"}}
CONFIG_RECORDS = {
    ("t", ""): {"backup": None, "destination": "/srv", "device": "/dev/vdb",
                "options": ["noatime"], "path": "/mnt/t", "resolved_destination": "/var/srv"},
    ("u", ""): {"backup": None, "destination": "/home", "device": "/dev/vdc", "path": "/mnt/u"}}


def _plain(facts: Facts) -> dict[Section, dict[Any, Any]]:
    return {s: dict(v) for s, v in facts.sections.items()}


def test_snapshot_facts_without_configuration_hold_every_field() -> None:
    """Without a configuration: leaves, directories, entries, trees (destination_real kept)
    and document fields, each record exactly as the snapshot document writes it."""
    facts = facts_of(snapshot_document(SNAPSHOT))
    assert (facts.kind, facts.partial, facts.writable_only) == (
        DocumentKind.SNAPSHOT, frozenset(), False)
    assert _plain(facts) == {
        Section.LEAF: LEAVES, Section.DIRECTORY: DIRECTORIES, Section.ENTRY: ENTRIES,
        Section.TREE: {("t", ""): {**TREE_T, "destination_real": "/var/srv"},
                       ("u", ""): TREE_U},
        Section.DOCUMENT: DOCUMENT}


def test_snapshot_facts_with_configuration_add_plan_sections() -> None:
    """With a configuration: the configured trees (with the resolved destination, which then
    replaces the tree's destination_real), the plan's mounts and skips and the source."""
    facts = facts_of(snapshot_document(SNAPSHOT, CONFIG))
    assert (facts.kind, facts.partial, facts.writable_only) == (
        DocumentKind.SNAPSHOT, frozenset(), False)
    assert _plain(facts) == {
        Section.LEAF: LEAVES, Section.DIRECTORY: DIRECTORIES, Section.ENTRY: ENTRIES,
        Section.TREE: {("t", ""): TREE_T, ("u", ""): TREE_U},
        Section.DOCUMENT: {**DOCUMENT, ("", "config_source"): {"value": "/etc/lt.toml"}},
        Section.CONFIG: CONFIG_RECORDS, Section.MOUNT: MOUNTS, Section.SKIP: SKIPS}


def _plan(directories: list[dict[str, Any]], trees: list[dict[str, Any]]) -> Document:
    return Document(DocumentKind.PLAN, {"directories": directories, "trees": trees},
                    config=CONFIG)


def test_plan_facts_field_for_field() -> None:
    """A plan's facts: mounts (with and without a subvolume id), skips, the leaves they name
    (read-only skips only), directories relative to the resolved or configured destination."""
    def d(tree: str, path: str) -> dict[str, Any]:
        return {"tree": tree, "path": path, "uid": 1, "gid": 2, "mode": "0750"}
    mount = {"where": "/var/srv/a", "leaf": "@a", "subvol": "/t/@a", "what": "/dev/vdb",
             "options": ["subvol=/t/@a"], "unit": "var-srv-a.mount"}
    doc = _plan(
        [d("t", "/var/srv"), d("t", "/var/srv/x/y"), d("t", "/var/srvx"), d("t", "/srv/z"),
         d("u", "/home"), d("u", "/home/q"), d("u", "/homeq"), d("v", "/v/w")],
        [{"name": "t", "resolved_destination": "/var/srv",
          "mounts": [mount, {**mount, "where": "/var/srv/b", "leaf": "@b", "subvol": "/t/@b",
                             "subvol_id": 300}],
          "skipped": [{"path": "@ro", "reason": "read-only", "detail": "ro"},
                      {"path": "n", "reason": "nested", "detail": "nn"}]},
         {"name": "u", "mounts": [], "skipped": []},
         {"name": "w", "resolved_destination": "/w", "mounts": [], "skipped": []}])
    facts = facts_of(doc)
    assert (facts.kind, facts.partial, facts.writable_only) == (
        DocumentKind.PLAN, frozenset({Section.DIRECTORY}), False)
    owner = {"uid": 1, "gid": 2, "mode": "0750"}
    assert _plain(facts) == {
        Section.CONFIG: CONFIG_RECORDS,
        Section.MOUNT: {
            ("", "/var/srv/a"): {"tree": "t", "leaf": "@a", "subvol": "/t/@a", "subvol_id": None,
                                 "what": "/dev/vdb", "options": ["subvol=/t/@a"],
                                 "unit": "var-srv-a.mount"},
            ("", "/var/srv/b"): {"tree": "t", "leaf": "@b", "subvol": "/t/@b", "subvol_id": 300,
                                 "what": "/dev/vdb", "options": ["subvol=/t/@a"],
                                 "unit": "var-srv-a.mount"}},
        Section.SKIP: {("t", "@ro"): {"reason": "read-only", "detail": "ro"},
                       ("t", "n"): {"reason": "nested", "detail": "nn"}},
        Section.LEAF: {("t", "@a"): {"subvol": "/t/@a", "read_only": False},
                       ("t", "@b"): {"subvol": "/t/@b", "read_only": False, "id": 300},
                       ("t", "@ro"): {"read_only": True}},
        Section.DIRECTORY: {("t", ""): owner, ("t", "x/y"): owner, ("t", "/var/srvx"): owner,
                            ("t", "/srv/z"): owner, ("u", ""): owner, ("u", "q"): owner,
                            ("u", "/homeq"): owner, ("v", "/v/w"): owner}}


def test_plan_directory_of_a_root_destination() -> None:
    """A tree whose destination is ``/``: ``/`` is the tree's own directory, ``/x`` is ``x``;
    only slashes are cut from a destination's end (``/dX`` keeps its ``X``)."""
    config = Config((TreeConfig("r", "/mnt/r", "/"), TreeConfig("x", "/mnt/x", "/dX")))
    doc = Document(DocumentKind.PLAN, {"trees": [], "directories": [
        {"tree": t, "path": p, "uid": 0, "gid": 0, "mode": "0755"}
        for t, p in (("r", "/"), ("r", "/x"), ("x", "/dX"), ("x", "/dX/y"))]}, config=config)
    owner = {"uid": 0, "gid": 0, "mode": "0755"}
    assert dict(facts_of(doc).sections[Section.DIRECTORY]) == {
        ("r", ""): owner, ("r", "x"): owner, ("x", ""): owner, ("x", "y"): owner}


def test_change_rendering_of_every_value_kind() -> None:
    """Values in a change line: none, strings quoted, booleans, integers, lists as JSON; a
    control character escaped, spaces kept."""
    change = Change(Section.TREE, ChangeKind.CHANGED, ("t\n", ""),
                    ("a", "b", "c", "d", "e", "f"),
                    {"a": None, "b": "x y", "c": True, "d": 7, "e": ["é", 1], "f": False},
                    {"a": 0, "b": None, "c": False, "d": 8, "e": {"k": 2, "a": 1}, "f": True})
    assert change.text == (
        "tree changed: t\\n: (a (none) -> 0; b 'x y' -> (none); c true -> false; d 7 -> 8; "
        "e [\"\\u00e9\", 1] -> {\"a\": 1, \"k\": 2}; f false -> true)")


def test_change_to_data_and_diff_outputs_are_whole() -> None:
    """A moved leaf and an added mount point as JSON data, the whole diff document and its
    text; an equal diff is an empty text and an empty change list."""
    moved = Change(Section.LEAF, ChangeKind.MOVED, ("t", "@a"), (), {"uuid": "u"}, {"uuid": "u"},
                   to=("t", "@b"))
    added = Change(Section.MOUNT, ChangeKind.ADDED, ("", "/srv/a"), (), None, {"tree": "t"})
    removed = Change(Section.SKIP, ChangeKind.REMOVED, ("t", "x"), ("reason",), {"r": 1}, None)
    assert change_to_data(moved) == {
        "section": "leaf", "kind": "moved", "key": "t:@a", "fields": [], "text":
        "leaf moved: t:@a -> t:@b", "before": {"uuid": "u"}, "after": {"uuid": "u"},
        "to": "t:@b"}
    assert change_to_data(added) == {
        "section": "mount", "kind": "added", "key": "/srv/a", "fields": [],
        "text": "mount point gained: /srv/a", "after": {"tree": "t"}}
    assert change_to_data(removed) == {
        "section": "skip", "kind": "removed", "key": "t:x", "fields": ["reason"],
        "text": "skipped entry removed: t:x", "before": {"r": 1}}
    result = Diff((moved, added), DocumentKind.SNAPSHOT, DocumentKind.MANIFEST)
    assert diff_to_data(result, "old", "new") == {
        "format": "layout-trees-diff", "version": 1,
        "a": {"name": "old", "kind": "snapshot"}, "b": {"name": "new", "kind": "manifest"},
        "equal": False, "changes": [change_to_data(moved), change_to_data(added)]}
    assert diff_to_data(Diff()) == {
        "format": "layout-trees-diff", "version": 1, "a": {"name": "a", "kind": None},
        "b": {"name": "b", "kind": None}, "equal": True, "changes": []}
    assert diff_to_text(result) == "leaf moved: t:@a -> t:@b\nmount point gained: /srv/a\n"
    assert diff_to_text(Diff()) == ""


def test_partial_section_keeps_only_the_other_sides_listed_keys() -> None:
    """A partial section on one side: the other side's extra keys are no change, a common
    key's change is."""
    a = Facts(DocumentKind.PLAN, {Section.DIRECTORY: {("t", "d"): {"uid": 1}}},
              partial=frozenset({Section.DIRECTORY}))
    b = Facts(DocumentKind.PLAN, {Section.DIRECTORY: {("t", "d"): {"uid": 2},
                                                      ("t", "e"): {"uid": 0}}})
    assert [(c.kind, c.key, c.fields) for c in compare(a, b)] == [
        (ChangeKind.OWNER, ("t", "d"), ("uid",))]


def test_mount_change_explained_by_a_leaf_or_tree_change() -> None:
    """A mount point whose leaf changed, or whose tree's configuration changed, is not
    repeated; a skip of a changed configured tree neither; others are reported."""
    def facts(leaf: dict[str, Any], cfg: dict[str, Any]) -> Facts:
        return Facts(DocumentKind.PLAN, {
            Section.LEAF: {("t", "@a"): leaf},
            Section.CONFIG: {("u", ""): cfg},
            Section.MOUNT: {("", "/a"): {"tree": "t", "leaf": "@a", "o": leaf["subvol"]},
                            ("", "/u"): {"tree": "u", "leaf": "@u", "o": cfg["p"]},
                            ("", "/z"): {"tree": "z", "leaf": "@z", "o": cfg["p"]}},
            Section.SKIP: {("u", "s"): {"r": cfg["p"]}, ("t", "@a"): {"r": leaf["subvol"]},
                           ("z", "s"): {"r": cfg["p"]}}})
    changes = compare(facts({"subvol": "/1"}, {"p": 1}), facts({"subvol": "/2"}, {"p": 2}))
    assert [c.text for c in changes] == [
        "leaf changed: t:@a (subvol '/1' -> '/2')",
        "mount point changed: /z (o 1 -> 2)",
        "skipped entry changed: z:s (r 1 -> 2)",
        "configured tree changed: u: (p 1 -> 2)"]


def test_snapshot_to_snapshot_diff_of_one_leaf_moved() -> None:
    """A leaf moved inside a tree between two snapshots: one move, keyed by its old path."""
    def snap(name: str) -> Document:
        entry = Entry((name,), EntryKind.SUBVOLUME, subvolume=Subvolume(f"/t/{name}", uuid="u"))
        return snapshot_document(Snapshot((TreeScan("t", "/mnt/t", entries=(entry,)),)))
    result = diff(snap("@a"), snap("@b"))
    assert diff_to_text(result) == "leaf moved: t:@a -> t:@b\n"
    assert (result.a_kind, result.b_kind) == (DocumentKind.SNAPSHOT, DocumentKind.SNAPSHOT)


def test_mount_record_without_a_leaf_is_never_explained() -> None:
    """A mount record that names its tree but no leaf (or a leaf but no tree) is reported,
    even when that tree's configuration changed too."""
    def facts(value: int) -> Facts:
        return Facts(DocumentKind.PLAN, {
            Section.CONFIG: {("t", ""): {"p": value}},
            Section.MOUNT: {("", "/a"): {"tree": "t", "o": value},
                            ("", "/b"): {"leaf": "@b", "o": value}}})
    assert [c.text for c in compare(facts(1), facts(2))] == [
        "mount point changed: /a (o 1 -> 2)", "mount point changed: /b (o 1 -> 2)",
        "configured tree changed: t: (p 1 -> 2)"]
