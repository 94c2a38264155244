"""The rest of the diff, field for field: a backup manifest's facts compared whole, every
change of a comparison compared whole (records before and after, fields, target), the
read-only leaves a manifest leaves out, partial sections on either side, records of
different kinds, volatile fields compared by default; and the canonical JSON text and the
manifest document of :mod:`layout_trees.core.documents`.
"""

from __future__ import annotations

from typing import Any

from layout_trees.core.backup.manifest import Manifest, Tree, manifest_to_data
from layout_trees.core.diff import (
    Change,
    ChangeKind,
    Facts,
    Section,
    compare,
    diff,
    facts_of,
)
from layout_trees.core.documents import (
    Document,
    DocumentKind,
    canonical_json,
    manifest_document,
    snapshot_document,
)
from layout_trees.core.model import Entry, EntryKind, Snapshot, Subvolume, TreeScan

LEAF, MOVED = Section.LEAF, ChangeKind.MOVED


def test_manifest_facts_field_for_field() -> None:
    """A manifest's facts: configured trees (policy as backup), tree records (root subvolume,
    error), the root directory of a tree that was scanned and every listed directory (path
    joined with ``/``), leaves with every field (uuid, nested and policy only when given) and
    the mount points of leaves that have one; the leaf section omits read-only leaves."""
    data: dict[str, Any] = {
        "format": "layout-trees-backup-manifest", "version": 1,
        "trees": [
            {"name": "t", "path": "/mnt/t", "destination": "/srv", "policy": {"p": 1},
             "root_subvol": "/t", "uid": 1, "gid": 2, "mode": "0750",
             "directories": [{"path": ["d", "e"], "uid": 3, "gid": 4, "mode": "0700",
                              "subvolume": True}]},
            {"name": "u", "path": "/mnt/u", "destination": "/home", "error": "gone",
             "uid": 5, "gid": 6, "mode": "0755", "directories": []}],
        "leaves": [
            {"tree": "t", "path": ["d", "@a"], "subvol": "/t/d/@a", "uid": 7, "gid": 8,
             "mode": "0701", "coverage": "covered", "snapshot_name": "t.d.@a",
             "uuid": "ua", "nested": ["x"], "policy": {"q": 2}, "mount_point": "/srv/d/a",
             "reason": "r"},
            {"tree": "t", "path": ["@b"], "subvol": "/t/@b", "uid": 9, "gid": 10,
             "mode": "0702", "coverage": "uncovered", "snapshot_name": "t.@b",
             "reason": "s"}]}
    facts = facts_of(Document(DocumentKind.MANIFEST, data))
    assert (facts.kind, facts.partial, facts.writable_only) == (
        DocumentKind.MANIFEST, frozenset(), True)
    assert {s: dict(v) for s, v in facts.sections.items()} == {
        Section.CONFIG: {
            ("t", ""): {"path": "/mnt/t", "destination": "/srv", "backup": {"p": 1}},
            ("u", ""): {"path": "/mnt/u", "destination": "/home", "backup": None}},
        Section.TREE: {("t", ""): {"root_subvol": "/t"}, ("u", ""): {"error": "gone"}},
        Section.DIRECTORY: {
            ("t", ""): {"uid": 1, "gid": 2, "mode": "0750"},
            ("t", "d/e"): {"uid": 3, "gid": 4, "mode": "0700", "subvolume": True}},
        Section.LEAF: {
            ("t", "d/@a"): {"subvol": "/t/d/@a", "read_only": False, "uid": 7, "gid": 8,
                            "mode": "0701", "coverage": "covered", "snapshot_name": "t.d.@a",
                            "uuid": "ua", "nested": ["x"], "policy": {"q": 2}},
            ("t", "@b"): {"subvol": "/t/@b", "read_only": False, "uid": 9, "gid": 10,
                          "mode": "0702", "coverage": "uncovered", "snapshot_name": "t.@b"}},
        Section.MOUNT: {("", "/srv/d/a"): {"tree": "t", "leaf": "d/@a"}}}


def _leaves(records: dict[tuple[str, str], dict[str, Any]], *, writable_only: bool = False,
            kind: DocumentKind = DocumentKind.SNAPSHOT) -> Facts:
    return Facts(kind, {LEAF: records}, writable_only=writable_only)


MANIFEST_SIDE = {("t", "same"): {"read_only": False}, ("t", "turned"): {"read_only": False},
                 ("t", "gone"): {"read_only": False}}
SNAPSHOT_SIDE = {("t", "same"): {"read_only": False}, ("t", "turned"): {"read_only": True},
                 ("t", "ro"): {"read_only": True}, ("t", "new"): {"read_only": False}}


def test_manifest_then_snapshot_leaves_skip_read_only_extras() -> None:
    """A manifest (writable leaves only) against a snapshot: the snapshot's read-only leaf the
    manifest lacks is no change; a leaf that became read-only, one added and one removed are,
    each with its whole records."""
    a = _leaves(MANIFEST_SIDE, writable_only=True, kind=DocumentKind.MANIFEST)
    b = _leaves(SNAPSHOT_SIDE)
    assert compare(a, b) == (
        Change(LEAF, ChangeKind.REMOVED, ("t", "gone"), (), {"read_only": False}, None),
        Change(LEAF, ChangeKind.ADDED, ("t", "new"), (), None, {"read_only": False}),
        Change(LEAF, ChangeKind.READ_ONLY, ("t", "turned"), ("read_only",),
               {"read_only": False}, {"read_only": True}))


def test_snapshot_then_manifest_leaves_skip_read_only_extras() -> None:
    """The same the other way round: the read-only leaf is no change, the others are (the
    read-only one became writable)."""
    a = _leaves(SNAPSHOT_SIDE)
    b = _leaves(MANIFEST_SIDE, writable_only=True, kind=DocumentKind.MANIFEST)
    assert compare(a, b) == (
        Change(LEAF, ChangeKind.ADDED, ("t", "gone"), (), None, {"read_only": False}),
        Change(LEAF, ChangeKind.REMOVED, ("t", "new"), (), {"read_only": False}, None),
        Change(LEAF, ChangeKind.WRITABLE, ("t", "turned"), ("read_only",),
               {"read_only": True}, {"read_only": False}))


def test_read_only_leaves_count_when_neither_side_omits_them() -> None:
    """Two documents that both list read-only leaves: one removed and one added are
    reported."""
    a = _leaves({("t", "ro1"): {"read_only": True}})
    b = _leaves({("t", "ro2"): {"read_only": True}})
    assert compare(a, b) == (
        Change(LEAF, ChangeKind.REMOVED, ("t", "ro1"), (), {"read_only": True}, None),
        Change(LEAF, ChangeKind.ADDED, ("t", "ro2"), (), None, {"read_only": True}))


def test_moves_and_re_creations_by_identity() -> None:
    """Same UUID at another path: moved, with both records and the target. Same id but two
    different UUIDs: no move (removed and added). Same id where one side has no UUID: moved.
    Same UUID with another field changed: changed, not re-created."""
    a = _leaves({("t", "a"): {"uuid": "u", "id": 1}, ("t", "c"): {"uuid": "v", "id": 2},
                 ("t", "e"): {"id": 3}, ("t", "g"): {"uuid": "w", "gid": 1}})
    b = _leaves({("t", "b"): {"uuid": "u", "id": 1}, ("t", "d"): {"uuid": "x", "id": 2},
                 ("t", "f"): {"uuid": "y", "id": 3}, ("t", "g"): {"uuid": "w", "gid": 2}})
    assert compare(a, b) == (
        Change(LEAF, MOVED, ("t", "a"), (), {"uuid": "u", "id": 1}, {"uuid": "u", "id": 1},
               to=("t", "b")),
        Change(LEAF, ChangeKind.REMOVED, ("t", "c"), (), {"uuid": "v", "id": 2}, None),
        Change(LEAF, ChangeKind.ADDED, ("t", "d"), (), None, {"uuid": "x", "id": 2}),
        Change(LEAF, MOVED, ("t", "e"), (), {"id": 3}, {"uuid": "y", "id": 3}, to=("t", "f")),
        Change(LEAF, ChangeKind.CHANGED, ("t", "g"), ("gid",), {"uuid": "w", "gid": 1},
               {"uuid": "w", "gid": 2}))


def test_plain_sections_whole_changes_and_owner_kind() -> None:
    """Entries and directories: removed and added with their records; a change of owner
    fields only is an owner change in a directory (all four of them too) but a plain change
    in an entry."""
    owner = {"uid": 0, "gid": 0, "mode": "0755", "acl": ["a"]}
    changed = {"uid": 1, "gid": 1, "mode": "0700", "acl": ["b"]}
    a = Facts(DocumentKind.SNAPSHOT, {
        Section.DIRECTORY: {("t", "d"): owner},
        Section.ENTRY: {("t", "x"): {"uid": 0}, ("t", "y"): {"k": 1}}})
    b = Facts(DocumentKind.SNAPSHOT, {
        Section.DIRECTORY: {("t", "d"): changed},
        Section.ENTRY: {("t", "x"): {"uid": 1}, ("t", "z"): {"k": 2}}})
    assert compare(a, b) == (
        Change(Section.DIRECTORY, ChangeKind.OWNER, ("t", "d"), ("acl", "gid", "mode", "uid"),
               owner, changed),
        Change(Section.ENTRY, ChangeKind.CHANGED, ("t", "x"), ("uid",), {"uid": 0},
               {"uid": 1}),
        Change(Section.ENTRY, ChangeKind.REMOVED, ("t", "y"), (), {"k": 1}, None),
        Change(Section.ENTRY, ChangeKind.ADDED, ("t", "z"), (), None, {"k": 2}))


def test_partial_section_on_the_right_restricts_the_left() -> None:
    """A partial section on ``b`` only: ``a``'s extra key is no change; on both sides neither
    is restricted, so it is."""
    a = Facts(DocumentKind.SNAPSHOT, {Section.DIRECTORY: {("t", "d"): {"uid": 1},
                                                          ("t", "e"): {"uid": 0}}})
    b = Facts(DocumentKind.PLAN, {Section.DIRECTORY: {("t", "d"): {"uid": 2}}},
              partial=frozenset({Section.DIRECTORY}))
    assert compare(a, b) == (
        Change(Section.DIRECTORY, ChangeKind.OWNER, ("t", "d"), ("uid",), {"uid": 1},
               {"uid": 2}),)
    both = Facts(DocumentKind.PLAN, a.sections, partial=frozenset({Section.DIRECTORY}))
    assert compare(both, b) == (
        Change(Section.DIRECTORY, ChangeKind.OWNER, ("t", "d"), ("uid",), {"uid": 1},
               {"uid": 2}),
        Change(Section.DIRECTORY, ChangeKind.REMOVED, ("t", "e"), (), {"uid": 0}, None))


def test_documents_of_different_kinds_compare_common_fields_only() -> None:
    """Between a plan and a manifest a field only one record carries is no change; between
    two plans it is."""
    a = Facts(DocumentKind.PLAN, {Section.CONFIG: {("t", ""): {"p": 1}}})
    b = Facts(DocumentKind.MANIFEST, {Section.CONFIG: {("t", ""): {"p": 1, "q": 2}}})
    assert compare(a, b) == ()
    same = Facts(DocumentKind.PLAN, b.sections)
    assert compare(a, same) == (
        Change(Section.CONFIG, ChangeKind.CHANGED, ("t", ""), ("q",), {"p": 1},
               {"p": 1, "q": 2}),)


def _snapshot(generation: int) -> Snapshot:
    entry = Entry(("@a",), EntryKind.SUBVOLUME,
                  subvolume=Subvolume("/t/@a", uuid="u", generation=generation))
    return Snapshot((TreeScan("t", "/mnt/t", entries=(entry,)),))


def test_volatile_fields_are_compared_by_default() -> None:
    """A leaf whose generation grew is a change unless ``volatile=False`` is asked for, both in
    :func:`compare` and in :func:`diff`."""
    a, b = snapshot_document(_snapshot(1)), snapshot_document(_snapshot(2))
    change = Change(LEAF, ChangeKind.CHANGED, ("t", "@a"), ("generation",),
                    dict(facts_of(a).sections[LEAF])[("t", "@a")],
                    dict(facts_of(b).sections[LEAF])[("t", "@a")])
    assert change.text == "leaf changed: t:@a (generation 1 -> 2)"
    assert compare(facts_of(a), facts_of(b)) == (change,)
    assert compare(facts_of(a), facts_of(b), volatile=False) == ()
    assert diff(a, b).changes == (change,)
    assert diff(a, b, volatile=False).changes == ()


def test_canonical_json_text() -> None:
    """Canonical text: keys sorted at every level, two-space indent, non-ASCII escaped, one
    final newline."""
    assert canonical_json({"b": [1, {"d": "é", "c": None}], "a": True}) == (
        '{\n  "a": true,\n  "b": [\n    1,\n    {\n      "c": null,\n      "d": "\\u00e9"\n'
        '    }\n  ]\n}\n')


def test_manifest_document_holds_the_manifest() -> None:
    """A manifest's document: its kind, its data as written and the manifest itself."""
    manifest = Manifest((Tree("main", "/m", "/srv"),))
    assert manifest_document(manifest) == Document(
        DocumentKind.MANIFEST, manifest_to_data(manifest), manifest=manifest)
    assert manifest_document(manifest).manifest is manifest
