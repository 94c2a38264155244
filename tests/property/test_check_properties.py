"""Properties of ``check``: total on hostile input (it never raises on a value that
exists), ordered, blind to scan order and to the JSON round trip, and in agreement
with the generator (no error finding means one mount unit per leaf)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st
from layout_trees.core.check import RULES, Report, check, is_leaf
from layout_trees.core.check.report import report_to_json, report_to_sarif
from layout_trees.core.config import Config, ConfigFormat, TreeConfig
from layout_trees.core.errors import LayoutError
from layout_trees.core.model import Entry, EntryKind, Snapshot, Subvolume, TreeScan
from layout_trees.core.plan import make_plan
from layout_trees.core.record import replace
from layout_trees.core.snapshot_json import load_snapshot, snapshot_from_data, snapshot_to_data
from layout_trees.core.units import render
from strategies import POLICY, World, permuted, worlds


def returns(world: World) -> Report:
    """check's report on a generated world; check never raises on a value that exists."""
    return check(world.config, world.snapshot)


@given(worlds(hostile=True))
def test_check_is_total(world: World) -> None:
    """Invariant: check returns on every world, and its JSON and SARIF renderings are JSON."""
    report = returns(world)
    assert json.loads(report_to_json(report))
    json.dumps(report_to_sarif(report))


@given(worlds(hostile=True))
def test_findings_sorted_and_unique(world: World) -> None:
    """Invariant: findings come sorted by their key, each once."""
    findings = returns(world).findings
    keys = [f.sort_key() for f in findings]
    assert keys == sorted(keys)
    assert len(set(findings)) == len(findings)


@given(worlds(hostile=True), st.data())
def test_scan_order_does_not_matter(world: World, data: st.DataObject) -> None:
    """Metamorphic: listing trees and entries in another order changes no finding."""
    assert returns(data.draw(permuted(world))) == returns(world)


@given(worlds(hostile=True))
def test_json_snapshot_gives_same_findings(world: World) -> None:
    """Round trip: a snapshot read back from its JSON gives the same findings."""
    config = replace(world.config, format=ConfigFormat.TOML)
    data = json.loads(json.dumps(snapshot_to_data(world.snapshot, config)))
    again, embedded = snapshot_from_data(data)
    assert embedded is not None and not embedded.problems
    assert returns(World(embedded.config, again)) == returns(World(config, world.snapshot))


def _leaf_units(world: World, report: Report) -> int:
    """Assert one mount unit per reachable leaf of every tree without an error finding;
    how many trees that held for."""
    config, snapshot = world.config, world.snapshot
    plan = make_plan(config, snapshot)
    units = {f.path for f in render(plan) if f.path.endswith(".mount") and f.content}
    error_trees = {f.tree for f in report.active if f.severity.value == "error"}
    clean = 0
    for tree in config.trees:
        scan = snapshot.tree(tree.name)
        if tree.name in error_trees or scan is None:
            continue
        clean += 1
        # nothing below a mount point, symlink or unreadable directory is scanned or mounted
        # (check warns about those); a snapshot may still list entries there
        kinds = {e.path: e.kind for e in scan.entries}
        leaves = [e for e in scan.entries if is_leaf(e) and all(
            kinds.get(e.path[:i], EntryKind.DIRECTORY) in (EntryKind.DIRECTORY,
                                                           EntryKind.SUBVOLUME)
            for i in range(1, len(e.path)))]
        mounts = plan.mounts_of(tree.name)
        assert len(mounts) == len(leaves), tree.name
        assert {m.path for m in mounts} == {e.path for e in leaves}
        assert {m.unit for m in mounts} <= units
    return clean


@given(worlds())
@example(World(Config((TreeConfig("t", "/trees/t", "/srv/t", backup=POLICY),)),
               Snapshot((TreeScan("t", "/trees/t", device="/dev/vdb", entries=(
                   Entry(("@a",), EntryKind.SUBVOLUME, subvolume=Subvolume("/top/@a")),
                   Entry(("a",), EntryKind.DIRECTORY),
                   Entry(("a", "@"), EntryKind.SUBVOLUME, subvolume=Subvolume("/top/a/@")),
               )),))))
def test_clean_tree_one_unit_per_leaf(world: World) -> None:
    """Reference model: a tree without error findings gets exactly one mount unit per leaf."""
    _leaf_units(world, returns(world))


BELOW_MOUNTPOINT = World(Config((TreeConfig("t", "/mnt/t", "/srv/t"),)), Snapshot((TreeScan(
    "t", "/mnt/t", device="/dev/vdb", entries=(
        Entry(("@",), EntryKind.SUBVOLUME, subvolume=Subvolume("/t/@", read_only=True)),
        Entry(("s",), EntryKind.MOUNTPOINT),
        Entry(("s", "@below"), EntryKind.SUBVOLUME, subvolume=Subvolume("/t/s/@below")))),)))


@given(worlds(hostile=True))
@example(BELOW_MOUNTPOINT)
def test_clean_hostile_tree_one_unit_per_leaf(world: World) -> None:
    """Reference model, hostile input: wherever a tree has no error, one unit per leaf."""
    _leaf_units(world, returns(world))


@given(worlds(hostile=True))
def test_ignoring_everything_silences_every_tree(world: World) -> None:
    """Invariant: a tree that ignores every rule has no active finding; nothing is lost."""
    config, snapshot = world.config, world.snapshot
    everything = tuple((r.id, "all") for r in RULES)
    muted = replace(config, trees=tuple(
        replace(t, ignore=everything) for t in config.trees))
    report, loud = returns(World(muted, snapshot)), returns(world)
    assert all(f.tree is None for f in report.active)
    assert len(report.findings) == len(loud.findings) - sum(1 for f in loud.findings
                                                            if f.rule == "LT003")


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2, 70000) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=3),
    max_leaves=8)


@given(worlds(hostile=True), st.data())
def test_hostile_snapshot_documents(world: World, data: st.DataObject) -> None:
    """Invariant: a damaged snapshot document is refused with LayoutError or checked."""
    config = world.config
    doc = snapshot_to_data(world.snapshot, replace(config, format=ConfigFormat.TOML))
    target: Any = doc
    for _ in range(data.draw(st.integers(1, 4))):
        if isinstance(target, dict) and target:
            key = data.draw(st.sampled_from(sorted(target)))
            if data.draw(st.booleans()) or not isinstance(target[key], (dict, list)):
                target[key] = data.draw(JSON_VALUES)
                break
            target = target[key]
        elif isinstance(target, list) and target:
            target = target[data.draw(st.integers(0, len(target) - 1))]
        else:
            break
    try:
        again, embedded = load_snapshot(json.dumps(doc))
    except LayoutError:
        return
    cfg = embedded.config if embedded is not None else config
    assert isinstance(returns(World(cfg, again)), Report)


@given(st.text())
@example("a\nb\udcff\x9b")
def test_show_is_printable_and_idempotent(text: str) -> None:
    """Invariant and idempotence: show() leaves printable UTF-8, unchanged if already so."""
    from layout_trees.core.check import show

    shown = show(text)
    shown.encode("utf-8")
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in shown)
    assert show(shown) == shown
    if all(0x20 <= ord(c) < 0x7F or (ord(c) > 0x9F and not 0xD800 <= ord(c) <= 0xDFFF)
           for c in text):
        assert shown == text
