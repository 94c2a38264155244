"""The snapshot document: round trip, canonical bytes, hostile documents."""

from __future__ import annotations

import json

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from layout_trees.core.config import Config
from layout_trees.core.errors import LayoutError, SnapshotError
from layout_trees.core.model import Entry, EntryKind, Snapshot, Subvolume, TreeScan
from layout_trees.core.snapshot_json import (
    dump_snapshot,
    load_snapshot,
    snapshot_from_data,
    snapshot_to_data,
)
from strategies import World, permuted, worlds

NON_UTF8 = Snapshot((TreeScan("t", "/mnt/t", entries=(
    Entry(("@a\udcff",), EntryKind.SUBVOLUME, subvolume=Subvolume("/t/@a\udcff")),
    Entry(("l\n",), EntryKind.SYMLINK, target="\udc80"),
)),))

LOCATED = Snapshot((TreeScan("t", "/mnt/t", entries=(
    Entry(("@a",), EntryKind.SUBVOLUME, subvolume=Subvolume("/t/@a", id=257)),),
    real_root="/mnt/real/t", fs_mountpoint="/mnt", destination_real="/var/home/a",
    destination_error="/home/x is a user's symlink"),))


@given(worlds(hostile=True))
@example(World(Config(()), NON_UTF8))
@example(World(Config(()), LOCATED))
def test_dump_load_snapshot_round_trip(world: World) -> None:
    """Loading a dumped snapshot gives the canonical snapshot and its configuration back."""
    text = dump_snapshot(world.snapshot, world.config)
    snapshot, parsed = load_snapshot(text)
    assert snapshot == world.snapshot.canonical()
    assert parsed is not None
    assert sorted(parsed.config.trees, key=lambda t: t.name) == sorted(
        world.config.trees, key=lambda t: t.name)
    assert parsed.problems == ()


@given(worlds(hostile=True))
def test_dump_snapshot_idempotence(world: World) -> None:
    """dump(load(dump(s))) is byte-identical to dump(s)."""
    text = dump_snapshot(world.snapshot, world.config)
    snapshot, parsed = load_snapshot(text)
    assert parsed is not None
    assert dump_snapshot(snapshot, parsed.config) == text


@given(worlds(hostile=True), st.data())
def test_dump_snapshot_metamorphic_permutation(world: World, data: st.DataObject) -> None:
    """The document's bytes do not depend on the order the scan listed things in."""
    other = data.draw(permuted(world))
    assert dump_snapshot(other.snapshot) == dump_snapshot(world.snapshot)


@given(worlds(hostile=True))
def test_dump_snapshot_invariant_ascii_json(world: World) -> None:
    """The document is ASCII-only JSON with sorted keys."""
    text = dump_snapshot(world.snapshot)
    assert text.isascii()
    assert json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n" == text


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-5, 5000), st.text(max_size=6)),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=12,
)


@st.composite
def mutated_documents(draw: st.DrawFn) -> object:
    """A real snapshot document with one value somewhere replaced by junk."""
    world = draw(worlds(hostile=True))
    doc = snapshot_to_data(world.snapshot, world.config)
    node = doc
    while True:
        if isinstance(node, dict) and node:
            key = draw(st.sampled_from(sorted(node)))
        elif isinstance(node, list) and node:
            key = draw(st.integers(0, len(node) - 1))
        else:
            break
        if draw(st.booleans()) or not isinstance(node[key], (dict, list)):  # type: ignore[index]
            node[key] = draw(json_values)  # type: ignore[index]
            break
        node = node[key]  # type: ignore[index]
    return doc


@given(st.one_of(mutated_documents(), json_values))
@example({"format": "layout-trees-snapshot", "version": 1, "trees": [{"name": "t", "root": "/t",
                                                                     "mode": "9"}]})
@example({"format": "layout-trees-snapshot", "version": 1, "trees": [], "config": []})
@example({"format": "layout-trees-snapshot", "version": 1, "trees": [
    {"name": "t", "root": "/t", "entries": [{"path": [], "kind": "directory"}]}]})
@example({"format": "layout-trees-snapshot", "version": 1, "trees": [], "fstab_mountpoints": 3})
@example({"format": "layout-trees-snapshot", "version": 1, "trees": [
    {"name": "t", "root": "/t", "mode": "77777"}]})
def test_snapshot_from_data_invariant_raises_only_layout_error(doc: object) -> None:
    """Any decoded JSON gives a valid snapshot or raises LayoutError, nothing else."""
    try:
        snapshot, _ = snapshot_from_data(doc)
    except LayoutError:
        return
    for tree in snapshot.trees:
        assert 0 <= tree.mode <= 0o7777 and tree.uid >= 0 and tree.gid >= 0


@given(st.text(max_size=40))
@example("[" * 5000)
@example('{"format": "layout-trees-snapshot", "version": 1, "trees": [}')
def test_load_snapshot_invariant_raises_only_layout_error(text: str) -> None:
    """Non-JSON text raises SnapshotError; JSON text gives what its decoded value gives."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        with pytest.raises(SnapshotError):
            load_snapshot(text)
        return
    try:
        expected = snapshot_from_data(data)
    except LayoutError as exc:
        with pytest.raises(type(exc)):
            load_snapshot(text)
        return
    assert load_snapshot(text) == expected
