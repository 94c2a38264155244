"""The manifest reader takes untrusted documents: whatever the bytes, it returns a manifest
whose every name, id and parent is sound, or raises ManifestError with a one-line message."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from layout_trees.core.backup.manifest import (
    COMPONENT_MAX,
    ID_MAX,
    Manifest,
    ManifestError,
    manifest_from_data,
    manifest_from_json,
)

POLICY = {"targets": ["/backup"], "schedule": "daily", "snapshot_dir": ".snapshots",
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
                "uid": 0, "gid": 0, "mode": "0700", "policy": POLICY},
               {"tree": "main", "path": ["@top"], "subvol": "/t/main/@top",
                "snapshot_name": "main.@top", "coverage": "no-policy", "reason": "none",
                "uid": 5, "gid": 5, "mode": "0755"}],
}


def _check_sound(manifest: Manifest) -> None:
    for tree in manifest.trees:
        listed = {d.path for d in tree.directories}
        for d in tree.directories:
            assert len(d.path) == 1 or d.path[:-1] in listed
            for part in d.path:
                assert "\0" not in part and "/" not in part and part not in ("", ".", "..")
                assert len(part.encode("utf-8", "surrogateescape")) <= COMPONENT_MAX
            assert 0 <= d.uid <= ID_MAX and 0 <= d.gid <= ID_MAX and 0 <= d.mode <= 0o7777
    for leaf in manifest.leaves:
        tree = manifest.tree(leaf.tree)
        assert tree is not None
        assert len(leaf.path) == 1 or leaf.path[:-1] in {d.path for d in tree.directories}
        assert 0 <= leaf.uid <= ID_MAX and 0 <= leaf.gid <= ID_MAX


def _read(data: bytes | str) -> Manifest | None:
    try:
        manifest = manifest_from_json(data)
    except ManifestError as exc:
        assert "\n" not in str(exc)
        return None
    _check_sound(manifest)
    return manifest


def test_valid_document_reads() -> None:
    """The reference document itself is accepted (so the rejections below are meaningful)."""
    manifest = _read(json.dumps(VALID))
    assert manifest is not None and len(manifest.leaves) == 2


def _with(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(VALID)
    here: Any = data
    for key in path[:-1]:
        here = here[key]
    here[path[-1]] = value
    return data


@pytest.mark.parametrize(("where", "value"), [
    (("trees", 0, "directories", 0, "path"), ["a\0b"]),
    (("leaves", 0, "uid"), 10 ** 20),
    (("leaves", 0, "gid"), -5),
    (("trees", 0, "directories", 0, "uid"), 2 ** 32 - 1),
    (("trees", 0, "uid"), 10 ** 20),
    (("trees", 0, "directories", 0, "path"), ["x" * 300]),
    (("trees", 0, "directories", 1, "path"), ["missing", "b"]),
    (("leaves", 1, "tree"), "other"),
    (("trees", 0, "directories", 0, "path"), [".layout-trees-restore"]),
    (("trees", 0, "directories", 0, "path"), ["@inside"]),
    (("leaves", 0, "mode"), "17777"),
    (("trees", 0, "directories", 0), "not an object"),
    (("leaves", 0), ["a", "list"]),
    (("trees",), {"not": "a list"}),
    (("trees", 0, "policy"), {"targets": ["/b"], "snapshot_dir": "../../etc"}),
    (("leaves", 0, "reason"), "\udc80\ud800"),
])
def test_hostile_values_are_refused_in_one_line(where: tuple[Any, ...], value: Any) -> None:
    """Each hostile value the review tried (NUL, out-of-range ids, 300-byte names, a parent
    not listed, wrong types, a reserved name) is refused with a one-line ManifestError."""
    with pytest.raises(ManifestError) as info:
        manifest_from_data(_with(where, value))
    assert "\n" not in str(info.value)


def test_leaf_whose_parent_is_not_listed_is_refused() -> None:
    """A leaf below a directory the manifest does not list is refused."""
    data = copy.deepcopy(VALID)
    data["trees"][0]["directories"] = data["trees"][0]["directories"][:1]
    with pytest.raises(ManifestError, match="parent"):
        manifest_from_data(data)


@pytest.mark.parametrize("text", [
    b"\xff\xfe{}", json.dumps(VALID).encode() + b"\x80", b"[" * 100_000, b"{\"a\":" * 50_000,
    "[" * 100_000, b"", b"null", b"\0",
])
def test_binary_and_deep_documents_are_refused(text: bytes | str) -> None:
    """Non-UTF-8 bytes, deep nesting and non-objects are one-line ManifestErrors."""
    with pytest.raises(ManifestError) as info:
        manifest_from_json(text)
    assert "\n" not in str(info.value)


@given(st.binary(max_size=400))
@example(b'{"format":"layout-trees-backup-manifest","version":1,"trees":[],"leaves":[7]}')
def test_arbitrary_bytes_only_manifest_errors(raw: bytes) -> None:
    """Arbitrary bytes read as a sound manifest or raise ManifestError, nothing else."""
    _read(raw)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2 ** 70), 2 ** 70) | st.floats()
    | st.text(max_size=6) | st.sampled_from(["\0", "x" * 300, "..", "/", "@a", "0755"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=10,
)


def _locations(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(data, dict):
        for key, value in data.items():
            found += _locations(value, (*prefix, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            found += _locations(value, (*prefix, i))
    return found


LOCATIONS = _locations(VALID)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(LOCATIONS), json_values), min_size=1, max_size=3))
def test_mutated_documents_only_manifest_errors(edits: list[tuple[tuple[Any, ...], Any]]) -> None:
    """A valid manifest with values replaced by arbitrary JSON (wrong types, huge ints, NUL,
    long names, nesting) reads as a sound manifest or raises ManifestError, nothing else."""
    data: Any = copy.deepcopy(VALID)
    for where, value in edits:
        here = data
        try:
            for key in where[:-1]:
                here = here[key]
            here[where[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue
    _read(json.dumps(data))
