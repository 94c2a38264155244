"""The manifest's records refuse inconsistent values with exact messages: a leaf whose path
is not a leaf, whose subvolume is not absolute or whose coverage disagrees with its policy,
and a manifest with two leaves of one snapshot name or two trees of one name; a version the
reader does not know is shown cut to 20 characters."""

from __future__ import annotations

import re
from typing import Any

import pytest
from layout_trees.core.backup.manifest import (
    Coverage,
    Leaf,
    Manifest,
    ManifestError,
    Tree,
    manifest_from_data,
)
from layout_trees.core.backup.policy import BackupPolicy

POLICY = BackupPolicy(("/b",))


def _leaf(**fields: Any) -> Leaf:
    values: dict[str, Any] = {
        "tree": "main", "path": ("a", "@c"), "subvol": "/m/a/@c",
        "snapshot_name": "main.a.@c", "coverage": Coverage.COVERED, "reason": "covered",
        "policy": POLICY}
    values.update(fields)
    return Leaf(**values)


def _refusal(build: Any) -> tuple[str, str | None]:
    with pytest.raises(ManifestError) as info:
        build()
    return info.value.message, info.value.hint


@pytest.mark.parametrize("path", [("a",), ("@a", "@b"), ("@a", "b"), ()])
def test_leaf_refuses_a_path_that_is_no_leaf(path: tuple[str, ...]) -> None:
    """A leaf's path must end in its only '@' name; otherwise it is refused naming the path."""
    assert _refusal(lambda: _leaf(path=path)) == (
        f"leaf {path!r}: a leaf's name starts with '@' and no name above it does", None)


def test_leaf_refuses_a_relative_subvolume() -> None:
    """A leaf's subvolume path must be absolute; the refusal names the leaf and the path."""
    assert _refusal(lambda: _leaf(subvol="m/a/@c")) == (
        "leaf 'a/@c': subvol 'm/a/@c' is not absolute", None)


@pytest.mark.parametrize(("coverage", "policy"), [
    (Coverage.COVERED, None), (Coverage.EXCLUDED, POLICY), (Coverage.NO_POLICY, POLICY)])
def test_leaf_coverage_agrees_with_policy(coverage: Coverage,
                                          policy: BackupPolicy | None) -> None:
    """A covered leaf has a policy and an uncovered one has none; else it is refused."""
    assert _refusal(lambda: _leaf(coverage=coverage, policy=policy)) == (
        "leaf 'a/@c': a covered leaf needs a policy", None)


def test_leaf_accepted() -> None:
    """A consistent leaf keeps every field as given."""
    leaf = _leaf(path=("@c",), subvol="/@c", coverage=Coverage.NO_POLICY, policy=None)
    assert (leaf.tree, leaf.path, leaf.subvol, leaf.coverage, leaf.policy, leaf.relpath) == (
        "main", ("@c",), "/@c", Coverage.NO_POLICY, None, "@c")


def test_manifest_refuses_a_snapshot_name_twice() -> None:
    """Two leaves with one snapshot name (btrbk would abort) are refused."""
    leaves = (_leaf(), _leaf(tree="other"))
    assert _refusal(lambda: Manifest((Tree("main", "/t", "/d", POLICY),), leaves)) == (
        "manifest: two leaves share a snapshot name", None)


def test_manifest_refuses_a_tree_name_twice() -> None:
    """Two trees of one name are refused."""
    trees = (Tree("main", "/t", "/d"), Tree("main", "/u", "/e"))
    assert _refusal(lambda: Manifest(trees)) == ("manifest: two trees share a name", None)


def test_manifest_accepts_distinct_names() -> None:
    """Distinct snapshot names and tree names are accepted as given."""
    trees = (Tree("main", "/t", "/d", POLICY), Tree("other", "/u", "/e"))
    leaves = (_leaf(), _leaf(path=("@d",), subvol="/m/@d", snapshot_name="main.@d"))
    manifest = Manifest(trees, leaves)
    assert (manifest.trees, manifest.leaves, manifest.targets()) == (trees, leaves, ("/b",))


def test_unknown_version_is_cut_to_20_characters() -> None:
    """The version of a document the reader does not know is shown cut to 20 characters,
    with the supported version and a hint."""
    with pytest.raises(ManifestError) as info:
        manifest_from_data({"format": "layout-trees-backup-manifest", "version": 10**25})
    match = re.fullmatch(r"manifest version '?(\d+)'? is not supported \(this is 1\)",
                         info.value.message)
    assert match is not None
    assert match.group(1) == "1" + "0" * 19
    assert info.value.hint == "use the layout-trees version that wrote it"
