"""The backup manifest pinned exactly: every refusal of the reader, word for word and naming
the place in the document; the canonical JSON text; what a target keeps.

The reader takes a document from a storage server and a restore trusts what it returns, so
each refusal is checked with its whole message and hint, one mutation of a valid document
at a time (a tree, a directory of a tree, a leaf, the document itself).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from layout_trees.core.backup.manifest import (
    Coverage,
    Directory,
    Leaf,
    Manifest,
    ManifestError,
    Tree,
    is_utf8,
    manifest_for_target,
    manifest_from_data,
    manifest_from_json,
    manifest_to_json,
)
from layout_trees.core.backup.policy import BackupPolicy

POLICY: dict[str, Any] = {
    "targets": ["/backup"], "schedule": "daily", "snapshot_dir": ".snapshots",
    "snapshot_preserve_min": "2d", "snapshot_preserve": "14d",
    "target_preserve_min": "latest", "target_preserve": "20d"}
VALID: dict[str, Any] = {
    "format": "layout-trees-backup-manifest", "version": 1,
    "trees": [{"name": "main", "path": "/t/main", "destination": "/srv/main", "uid": 0,
               "gid": 0, "mode": "0755", "policy": POLICY,
               "directories": [
                   {"path": ["a"], "uid": 1000, "gid": 1000, "mode": "0750",
                    "subvolume": False},
                   {"path": ["a", "b"], "uid": 0, "gid": 0, "mode": "0755",
                    "subvolume": True}]}],
    "leaves": [{"tree": "main", "path": ["a", "b", "@c"], "subvol": "/t/main/a/b/@c",
                "snapshot_name": "main.a.b.@c", "coverage": "covered", "reason": "covered",
                "uid": 0, "gid": 0, "mode": "0700", "policy": POLICY}]}

Doc = dict[str, Any]


def _tree(d: Doc) -> Doc:
    tree: Doc = d["trees"][0]
    return tree


def _dir(d: Doc, i: int = 0) -> Doc:
    directory: Doc = d["trees"][0]["directories"][i]
    return directory


def _leaf(d: Doc) -> Doc:
    leaf: Doc = d["leaves"][0]
    return leaf


def _set(get: Callable[[Doc], Doc], key: str, value: Any) -> Callable[[Doc], None]:
    return lambda d: get(d).__setitem__(key, value)


def _del(get: Callable[[Doc], Doc], key: str) -> Callable[[Doc], None]:
    return lambda d: get(d).__delitem__(key)


T0 = "manifest tree 0"
D0 = "manifest tree 0 directory 0"
L0 = "manifest leaf 0"
REFUSALS: list[tuple[str, Callable[[Doc], None], str]] = [
    # a tree
    ("tree-not-object", lambda d: d["trees"].__setitem__(0, []),
     f"{T0}: must be an object, not list"),
    ("tree-directories-missing", _del(_tree, "directories"), f"{T0}: missing 'directories'"),
    ("tree-directories-type", _set(_tree, "directories", {}),
     f"{T0}: 'directories' has the wrong type (dict)"),
    ("tree-name-type", _set(_tree, "name", 5), f"{T0}: 'name' has the wrong type (int)"),
    ("tree-name-bool", _set(_tree, "name", True), f"{T0}: 'name' has the wrong type (bool)"),
    ("tree-name-nul", _set(_tree, "name", "m\0"), f"{T0}: 'name' contains a NUL character"),
    ("tree-name-missing", _del(_tree, "name"), f"{T0}: missing 'name'"),
    ("tree-path-missing", _del(_tree, "path"), f"{T0}: missing 'path'"),
    ("tree-destination-missing", _del(_tree, "destination"), f"{T0}: missing 'destination'"),
    ("tree-root-subvol-type", _set(_tree, "root_subvol", 3),
     f"{T0}: 'root_subvol' must be a string"),
    ("tree-root-subvol-nul", _set(_tree, "root_subvol", "/x\0"),
     f"{T0}: 'root_subvol' contains a NUL character"),
    ("tree-uid-missing", _del(_tree, "uid"), f"{T0}: missing 'uid'"),
    ("tree-uid-bool", _set(_tree, "uid", True), f"{T0}: 'uid' has the wrong type (bool)"),
    ("tree-gid-missing", _del(_tree, "gid"), f"{T0}: missing 'gid'"),
    ("tree-gid-negative", _set(_tree, "gid", -1),
     f"{T0}: gid -1 is out of range (0 to 4294967294)"),
    ("tree-uid-too-big", _set(_tree, "uid", 2**32 - 1),
     f"{T0}: uid 4294967295 is out of range (0 to 4294967294)"),
    ("tree-mode-bad", _set(_tree, "mode", "9"), f"{T0}: mode must be an octal string like '0755'"),
    ("tree-mode-long", _set(_tree, "mode", "07555"),
     f"{T0}: mode must be an octal string like '0755'"),
    ("tree-mode-int", _set(_tree, "mode", 493), f"{T0}: mode must be an octal string like '0755'"),
    ("tree-error-type", _set(_tree, "error", []), f"{T0}: 'error' must be a string"),
    ("tree-error-surrogate", _set(_tree, "error", "\ud800"),
     f"{T0}: 'error' is not valid text (a lone surrogate)"),
    ("tree-policy-type", _set(_tree, "policy", []), f"{T0}: policy must be an object"),
    # a directory of a tree
    ("dir-not-object", lambda d: _tree(d)["directories"].__setitem__(0, "x"),
     f"{D0}: must be an object, not str"),
    ("dir-path-type", _set(_dir, "path", "x"), f"{D0}: 'path' has the wrong type (str)"),
    ("dir-path-empty", _set(_dir, "path", []), f"{D0}: path must be a non-empty list of names"),
    ("dir-path-at", _set(_dir, "path", ["@a"]),
     f"{D0}: a structure directory's name cannot start with '@'"),
    ("dir-uid-missing", _del(_dir, "uid"), f"{D0}: missing 'uid'"),
    ("dir-gid-missing", _del(_dir, "gid"), f"{D0}: missing 'gid'"),
    ("dir-mode-missing", _del(_dir, "mode"), f"{D0}: mode must be an octal string like '0755'"),
    ("dir-subvolume-missing", _del(_dir, "subvolume"), f"{D0}: missing 'subvolume'"),
    ("dir-subvolume-type", _set(_dir, "subvolume", 1),
     f"{D0}: 'subvolume' has the wrong type (int)"),
    ("dir-second-bad", _set(lambda d: _dir(d, 1), "uid", -5),
     "manifest tree 0 directory 1: uid -5 is out of range (0 to 4294967294)"),
    ("dir-twice", lambda d: _tree(d)["directories"].append(copy.deepcopy(_dir(d))),
     f"{T0}: directory 'a' is listed twice"),
    ("dir-twice-deep", lambda d: _tree(d)["directories"].append(copy.deepcopy(_dir(d, 1))),
     f"{T0}: directory 'a/b' is listed twice"),
    ("dir-parent-missing", _set(lambda d: _dir(d, 1), "path", ["x", "y"]),
     f"{T0}: the parent of directory 'x/y' is not listed"),
    # a leaf
    ("leaf-not-object", lambda d: d["leaves"].__setitem__(0, 7),
     f"{L0}: must be an object, not int"),
    ("leaf-coverage-missing", _del(_leaf, "coverage"), f"{L0}: missing 'coverage'"),
    ("leaf-coverage-unknown", _set(_leaf, "coverage", "maybe"),
     f"{L0}: unknown coverage 'maybe'"),
    ("leaf-path-missing", _del(_leaf, "path"), f"{L0}: missing 'path'"),
    ("leaf-path-reserved", _set(_leaf, "path", [".layout-trees-x", "@c"]),
     f"{L0}: name '.layout-trees-x' is reserved for layout-trees' own work"),
    ("leaf-path-long", _set(_leaf, "path", ["é" * 128, "@c"]),
     f"{L0}: name {'é' * 40!r}… is longer than 255 bytes"),
    ("leaf-path-nul", _set(_leaf, "path", ["a\0", "@c"]),
     f"{L0}: name 'a\\x00' contains a NUL character"),
    ("leaf-inside-leaf", _set(_leaf, "path", ["@a", "@c"]),
     f"{L0}: a leaf cannot lie inside another leaf"),
    ("leaf-tree-missing", _del(_leaf, "tree"), f"{L0}: missing 'tree'"),
    ("leaf-snapshot-name-missing", _del(_leaf, "snapshot_name"), f"{L0}: missing 'snapshot_name'"),
    ("leaf-snapshot-name-wrong", _set(_leaf, "snapshot_name", "main.a.@c"),
     f"{L0}: snapshot name 'main.a.@c' does not match its path"),
    ("leaf-subvol-missing", _del(_leaf, "subvol"), f"{L0}: missing 'subvol'"),
    ("leaf-reason-missing", _del(_leaf, "reason"), f"{L0}: missing 'reason'"),
    ("leaf-uuid-type", _set(_leaf, "uuid", 1), f"{L0}: 'uuid' must be a string"),
    ("leaf-mount-point-type", _set(_leaf, "mount_point", 1),
     f"{L0}: 'mount_point' must be a string"),
    ("leaf-policy-type", _set(_leaf, "policy", "x"), f"{L0}: policy must be an object"),
    ("leaf-uid-missing", _del(_leaf, "uid"), f"{L0}: missing 'uid'"),
    ("leaf-gid-missing", _del(_leaf, "gid"), f"{L0}: missing 'gid'"),
    ("leaf-mode-bad", _set(_leaf, "mode", "rwx"),
     f"{L0}: mode must be an octal string like '0755'"),
    ("leaf-nested-type", _set(_leaf, "nested", [1]), f"{L0}: nested must be a list of paths"),
    ("leaf-nested-nul", _set(_leaf, "nested", ["a\0"]), f"{L0}: nested contains a NUL character"),
    # the document as a whole
    ("trees-missing", lambda d: d.__delitem__("trees"), "manifest: missing 'trees'"),
    ("leaves-type", lambda d: d.__setitem__("leaves", {}),
     "manifest: 'leaves' has the wrong type (dict)"),
    ("leaf-tree-unlisted", lambda d: _leaf(d).update(tree="other",
                                                     snapshot_name="other.a.b.@c"),
     "manifest leaf 'a/b/@c': its tree 'other' is not listed"),
    ("leaf-parent-unlisted", lambda d: _tree(d)["directories"].pop(),
     "manifest leaf 'a/b/@c': its parent directory is not listed"),
    ("leaf-twice", lambda d: d["leaves"].append(copy.deepcopy(_leaf(d))),
     "manifest leaf 'a/b/@c': listed twice"),
]


@pytest.mark.parametrize(("mutate", "message"), [(m, msg) for _, m, msg in REFUSALS],
                         ids=[i for i, _, _ in REFUSALS])
def test_reader_refusal_names_the_place(mutate: Callable[[Doc], None], message: str) -> None:
    """Each defect of a valid document is refused with this exact message and no hint."""
    doc = copy.deepcopy(VALID)
    mutate(doc)
    with pytest.raises(ManifestError) as info:
        manifest_from_data(doc)
    assert (info.value.message, info.value.hint) == (message, None)


@pytest.mark.parametrize("name", ["a/b", "..", ".", "", 5])
def test_reader_name_refusal_has_hint(name: Any) -> None:
    """A bad name in a path is refused with the rule for names as the hint."""
    doc = copy.deepcopy(VALID)
    _leaf(doc)["path"] = [name, "@c"]
    with pytest.raises(ManifestError) as info:
        manifest_from_data(doc)
    assert (info.value.message, info.value.hint) == (
        f"{L0}: path must be a non-empty list of names",
        "a name is a non-empty string without '/', not '.' or '..'")


@pytest.mark.parametrize(("get", "where"), [(_tree, T0), (_leaf, L0)])
def test_reader_policy_refusal_keeps_its_hint(get: Callable[[Doc], Doc], where: str) -> None:
    """A policy the configuration would refuse is refused at its place, with the policy's hint."""
    doc = copy.deepcopy(VALID)
    get(doc)["policy"] = {**POLICY, "schedule": "daily!"}
    with pytest.raises(ManifestError) as info:
        manifest_from_data(doc)
    assert (info.value.message, info.value.hint) == (
        f"{where}: schedule 'daily!' is not a valid OnCalendar= expression",
        "e.g. 'daily', 'hourly' or '*-*-* 02:30:00' (see systemd.time(7))")


@pytest.mark.parametrize(("doc", "message", "hint"), [
    ([], "not a layout-trees backup manifest",
     "the document's 'format' must be 'layout-trees-backup-manifest'"),
    ({"format": "x"}, "not a layout-trees backup manifest",
     "the document's 'format' must be 'layout-trees-backup-manifest'"),
    ({"format": "layout-trees-backup-manifest", "version": "2"},
     "manifest version '2' is not supported (this is 1)",
     "use the layout-trees version that wrote it"),
])
def test_reader_refuses_other_documents(doc: Any, message: str, hint: str) -> None:
    """A document of another format or version is refused with its message and hint."""
    with pytest.raises(ManifestError) as info:
        manifest_from_data(doc)
    assert (info.value.message, info.value.hint) == (message, hint)


def test_reader_refuses_broken_text() -> None:
    """Bytes that are not UTF-8 and text that is not JSON are refused with the byte or the
    parser's message, and a hint that the next run rewrites the file."""
    with pytest.raises(ManifestError) as info:
        manifest_from_json(b'{"a": "\xff"}')
    assert (info.value.message, info.value.hint) == (
        "the manifest is not UTF-8 text (byte 7)",
        "the file is damaged or not a manifest; every backup run rewrites it")
    with pytest.raises(ManifestError) as info:
        manifest_from_json("{")
    assert (info.value.message, info.value.hint) == (
        "the manifest is not valid JSON: Expecting property name enclosed in double quotes: "
        "line 1 column 2 (char 1)",
        "the file may be truncated; every backup run rewrites it")


def test_reader_reads_every_field() -> None:
    """The valid document reads to exactly these trees, directories and leaves."""
    doc = copy.deepcopy(VALID)
    _tree(doc).update(root_subvol="/t/main", error="e")
    _leaf(doc).update(uuid="u-1", mount_point="/srv/main/a/b/@c", nested=["x/y"])
    policy = BackupPolicy(("/backup",), "daily", ".snapshots", "2d", "14d", "latest", "20d")
    assert manifest_from_json(manifest_to_json(manifest_from_data(doc))) == Manifest(
        (Tree("main", "/t/main", "/srv/main", policy, "/t/main", 0, 0, 0o755,
              (Directory(("a",), 1000, 1000, 0o750, False),
               Directory(("a", "b"), 0, 0, 0o755, True)), "e"),),
        (Leaf("main", ("a", "b", "@c"), "/t/main/a/b/@c", "main.a.b.@c", Coverage.COVERED,
              "covered", "u-1", "/srv/main/a/b/@c", policy, 0, 0, 0o700, ("x/y",)),))


def test_json_text_is_canonical() -> None:
    """The JSON is indented by two, keys sorted, non-ASCII written as itself."""
    manifest = Manifest((Tree("é", "/t", "/d"),), ())
    assert manifest_to_json(manifest) == (
        '{\n'
        '  "format": "layout-trees-backup-manifest",\n'
        '  "leaves": [],\n'
        '  "trees": [\n'
        '    {\n'
        '      "destination": "/d",\n'
        '      "directories": [],\n'
        '      "gid": 0,\n'
        '      "mode": "0755",\n'
        '      "name": "é",\n'
        '      "path": "/t",\n'
        '      "uid": 0\n'
        '    }\n'
        '  ],\n'
        '  "version": 1\n'
        '}\n')


def test_target_keeps_only_utf8_directories() -> None:
    """A target's manifest drops the directories whose names are not UTF-8 and keeps the rest."""
    policy = BackupPolicy(("/b",))
    good = Directory(("a",), 1, 2, 0o700)
    tree = Tree("main", "/t", "/d", policy,
                directories=(good, Directory(("x\udcff",), 0, 0, 0o755)))
    other = Tree("other", "/o", "/o", BackupPolicy(("/c",)))
    assert manifest_for_target(Manifest((tree, other)), "/b") == Manifest(
        (Tree("main", "/t", "/d", policy, directories=(good,)),))


def test_coverage_follows_the_attribute() -> None:
    """The backup attribute of each leaf decides its coverage and reason: none is covered,
    ``skip`` excluded, anything else an invalid override naming the value."""
    from layout_trees.core.backup.manifest import make_manifest
    from layout_trees.core.config import Config, TreeConfig
    from layout_trees.core.model import Entry, EntryKind, Snapshot, Subvolume, TreeScan

    policy = BackupPolicy(("/b",))
    config = Config((TreeConfig("main", "/mnt/m", "/srv/m", backup=policy),))
    subs = {name: Subvolume(f"/m/{name}", id=300 + i, uuid=f"u{i}", backup=attr)
            for i, (name, attr) in enumerate((("@a", None), ("@s", "skip"), ("@x", "maybe")))}
    snapshot = Snapshot((TreeScan("main", "/mnt/m", device="/dev/vdb", root_subvol_path="/m",
                                  entries=tuple(Entry((name,), EntryKind.SUBVOLUME, subvolume=s)
                                                for name, s in subs.items())),))
    assert [(leaf.relpath, leaf.coverage, leaf.reason, leaf.policy)
            for leaf in make_manifest(config, snapshot).leaves] == [
        ("@a", Coverage.COVERED, "covered by the tree's policy", policy),
        ("@s", Coverage.EXCLUDED, "user.layout-trees.backup=skip on the subvolume", None),
        ("@x", Coverage.INVALID_OVERRIDE, "user.layout-trees.backup='maybe' is not understood "
         "(only 'skip'); fix it with 'layout backup include' or 'exclude'", None)]


@pytest.mark.parametrize(("text", "valid"), [
    ("a\udc7f", True), ("a\udc80", False), ("\udcff", False), ("\udd00b", True), ("é", True)])
def test_is_utf8_bounds(text: str, valid: bool) -> None:
    """Only the surrogate escapes U+DC80..U+DCFF mark a name that was not UTF-8 on disk."""
    assert is_utf8(text) is valid


def test_reader_leaf_parent_one_level_down() -> None:
    """A leaf one level below an unlisted directory is refused for its parent."""
    doc = copy.deepcopy(VALID)
    _leaf(doc).update(path=["x", "@c"], snapshot_name="main.x.@c")
    with pytest.raises(ManifestError) as info:
        manifest_from_data(doc)
    assert (info.value.message, info.value.hint) == (
        "manifest leaf 'x/@c': its parent directory is not listed", None)


def test_make_manifest_whole() -> None:
    """A scan with every kind of tree and entry gives exactly these trees and leaves: errors
    of unscanned and unreadable trees (policy kept), structure with owners, skipped entries
    (read-only, below a leaf, below a symlink), and every unsupported path with its reason."""
    from layout_trees.core.backup.manifest import make_manifest
    from layout_trees.core.config import Config, TreeConfig
    from layout_trees.core.model import Entry, Snapshot, Subvolume, TreeScan, TreeStatus
    from layout_trees.core.model import EntryKind as K

    p = BackupPolicy(("/b",))
    config = Config((TreeConfig("main", "/mnt/m", "/srv/m", backup=p),
                     TreeConfig("gone", "/mnt/g", "/srv/g", backup=p),
                     TreeConfig("bad", "/mnt/b", "/srv/b", backup=p),
                     TreeConfig("bare", "/mnt/r", "/srv/r"),
                     TreeConfig("open", "/mnt/o", "/srv/o", backup=p)))
    n194, n195 = "@" + "n" * 194, "@" + "n" * 195

    def sub(path: str, **kw: Any) -> Subvolume:
        return Subvolume(path, **kw)

    entries = (
        Entry((" s",), K.DIRECTORY),
        Entry((" s", "@k"), K.SUBVOLUME, subvolume=sub("/m/ s/@k")),
        Entry(("d",), K.DIRECTORY, uid=5, gid=6, mode=0o700),
        Entry(("d", "@l"), K.SUBVOLUME, uid=7, gid=8, mode=0o750,
              subvolume=sub("/m/d/@l", uuid="u-l", nested=("x",))),
        Entry(("@a",), K.SUBVOLUME, subvolume=sub("/m/@a", uuid="u-a")),
        Entry(("@a", "inner"), K.DIRECTORY),
        Entry(("@b",), K.SUBVOLUME, subvolume=sub("/m/@b", read_only=True)),
        Entry(("@c\udcff",), K.SUBVOLUME, subvolume=sub("/m/@c\udcff")),
        Entry(("@q*",), K.SUBVOLUME, subvolume=sub("/m/@q*")),
        Entry(("@w ",), K.SUBVOLUME, subvolume=sub("/m/@w ")),
        Entry((n194,), K.SUBVOLUME, subvolume=sub("/m/" + n194)),
        Entry((n195,), K.SUBVOLUME, subvolume=sub("/m/" + n195)),
        Entry(("l",), K.SYMLINK, target="/x"),
        Entry(("l", "@z"), K.SUBVOLUME, subvolume=sub("/m/l/@z")),
        Entry(("p",), K.SUBVOLUME, uid=1, gid=2, mode=0o711, subvolume=sub("/m/p")),
        Entry(("p", "@y"), K.SUBVOLUME, subvolume=sub("/m/p/@y")),
    )
    snapshot = Snapshot((
        TreeScan("main", "/mnt/m", device="/dev/vdb", root_subvol_path="/m", uid=3, gid=4,
                 mode=0o750, entries=entries),
        TreeScan("bad", "/mnt/b", status=TreeStatus.UNREADABLE, error="boom"),
        TreeScan("bare", "/mnt/r", device="/dev/vdc", root_subvol_path="/r",
                 entries=(Entry(("@v",), K.SUBVOLUME, subvolume=sub("/r/@v")),)),
        TreeScan("open", "/mnt/o", status=TreeStatus.NOT_BTRFS)))
    manifest = make_manifest(config, snapshot)
    assert manifest.trees == (
        Tree("bad", "/mnt/b", "/srv/b", p, error="boom"),
        Tree("bare", "/mnt/r", "/srv/r", None, "/r"),
        Tree("gone", "/mnt/g", "/srv/g", p, error="not scanned"),
        Tree("main", "/mnt/m", "/srv/m", p, "/m", 3, 4, 0o750,
             (Directory((" s",), 0, 0, 0o755, False), Directory(("d",), 5, 6, 0o700, False),
              Directory(("p",), 1, 2, 0o711, True))),
        Tree("open", "/mnt/o", "/srv/o", p, error="not-btrfs"))
    covered = "covered by the tree's policy"
    unsafe = "btrbk cannot be given this path ("
    got = sorted((leaf.tree, leaf.relpath, leaf.coverage, leaf.reason, leaf.uuid,
                  leaf.mount_point, leaf.policy, leaf.uid, leaf.gid, leaf.mode, leaf.nested)
                 for leaf in manifest.leaves)
    assert got == sorted([
        ("bare", "@v", Coverage.NO_POLICY, "its tree has no [backup] policy", None,
         "/srv/r/v", None, 0, 0, 0o755, ()),
        ("main", " s/@k", Coverage.UNSUPPORTED_PATH,
         unsafe + "whitespace at the start or end of a name)", None, None, None,
         0, 0, 0o755, ()),
        ("main", "d/@l", Coverage.COVERED, covered, "u-l", "/srv/m/d/l", p, 7, 8, 0o750,
         ("x",)),
        ("main", "@a", Coverage.COVERED, covered, "u-a", "/srv/m/a", p, 0, 0, 0o755, ()),
        ("main", "@c\udcff", Coverage.UNSUPPORTED_PATH,
         "the name '@c\\\\xff' in its path is not valid UTF-8, which btrbk and the manifest "
         "cannot carry; rename it (only this leaf is left out)", None, None, None,
         0, 0, 0o755, ()),
        ("main", "@q*", Coverage.UNSUPPORTED_PATH, unsafe + "'*')", None, "/srv/m/q*", None,
         0, 0, 0o755, ()),
        ("main", "@w ", Coverage.UNSUPPORTED_PATH,
         unsafe + "whitespace at the start or end of a name)", None, None, None, 0, 0, 0o755,
         ()),
        ("main", n194, Coverage.COVERED, covered, None, "/srv/m/" + n194[1:], p, 0, 0, 0o755,
         ()),
        ("main", n195, Coverage.UNSUPPORTED_PATH,
         "the derived snapshot name is longer than 200", None, "/srv/m/" + n195[1:], None,
         0, 0, 0o755, ()),
        ("main", "p/@y", Coverage.COVERED, covered, None, "/srv/m/p/y", p, 0, 0, 0o755, ()),
    ])
