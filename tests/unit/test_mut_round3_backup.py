"""The backup manifest's reader at its limits and a policy's data whole: a name of 255
bytes and an id of 2³²−2 are read, one byte or one more refused; a refused name is shown
by its first 40 characters; ``policy_to_data`` writes every key, the defaults too."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from layout_trees.core.backup.manifest import ManifestError, manifest_from_data, snapshot_name
from layout_trees.core.backup.policy import POLICY_KEYS, BackupPolicy, policy_to_data
from test_mut_manifest import VALID

L0 = "manifest leaf 0"


def with_leaf_name(name: str) -> dict[str, Any]:
    """The valid manifest with its one leaf renamed (its subvolume and snapshot name too)."""
    doc = copy.deepcopy(VALID)
    leaf = doc["leaves"][0]
    leaf["path"] = ["a", "b", name]
    leaf["subvol"] = f"/t/main/a/b/{name}"
    leaf["snapshot_name"] = snapshot_name("main", ("a", "b", name))
    return doc


def test_a_name_of_255_bytes_is_read_and_of_256_refused() -> None:
    """NAME_MAX is 255 bytes: such a leaf name is read; one byte more is refused, the name
    shown by its first 40 characters."""
    longest = "@" + "c" * 254
    manifest = manifest_from_data(with_leaf_name(longest))
    assert manifest.leaves[0].path == ("a", "b", longest)
    with pytest.raises(ManifestError) as info:
        manifest_from_data(with_leaf_name(longest + "c"))
    assert (info.value.message, info.value.hint) == (
        f"{L0}: name {longest[:40]!r}… is longer than 255 bytes", None)


def test_a_name_with_nul_is_shown_by_its_first_40_characters() -> None:
    """A NUL in a long name: the message shows the name's first 40 characters."""
    name = "@" + "d" * 50 + "\x00"
    with pytest.raises(ManifestError) as info:
        manifest_from_data(with_leaf_name(name))
    assert info.value.message == f"{L0}: name {name[:40]!r} contains a NUL character"


def test_the_largest_id_is_read() -> None:
    """2³²−2, the largest uid chown takes, is read as it is."""
    doc = copy.deepcopy(VALID)
    doc["trees"][0]["uid"] = 2**32 - 2
    doc["leaves"][0]["gid"] = 2**32 - 2
    manifest = manifest_from_data(doc)
    assert (manifest.trees[0].uid, manifest.leaves[0].gid) == (2**32 - 2, 2**32 - 2)


def test_policy_data_holds_every_key_and_the_defaults() -> None:
    """A policy that sets only its target is written with every key, in the table's order,
    the defaults included."""
    data = policy_to_data(BackupPolicy(targets=("/backup",)))
    assert tuple(data) == POLICY_KEYS
    assert data == {
        "targets": ["/backup"], "schedule": "daily", "snapshot_dir": ".snapshots",
        "snapshot_preserve_min": "2d", "snapshot_preserve": "14d",
        "target_preserve_min": "latest", "target_preserve": "20d 10w *m"}


def test_a_directory_below_an_unlisted_parent_two_levels_down_is_refused() -> None:
    """'a' and 'a/x/b' listed, 'a/x' not: the directory is refused for its own parent (not
    its grandparent, which is listed)."""
    doc = copy.deepcopy(VALID)
    doc["trees"][0]["directories"][1]["path"] = ["a", "x", "b"]
    with pytest.raises(ManifestError) as info:
        manifest_from_data(doc)
    assert (info.value.message, info.value.hint) == (
        "manifest tree 0: the parent of directory 'a/x/b' is not listed", None)
