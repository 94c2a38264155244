"""Properties of ``check``: total on hostile input, deterministic and ordered,
blind to scan order and to the JSON round trip, and in agreement with the
generator (no error finding means one mount unit per leaf)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st
from layout_trees.core.check import RULES, Report, check, is_leaf
from layout_trees.core.check_report import report_to_json, report_to_sarif
from layout_trees.core.config import Config, ConfigFormat, TreeConfig
from layout_trees.core.errors import LayoutError
from layout_trees.core.model import (
    Entry,
    EntryKind,
    Snapshot,
    Subvolume,
    TreeScan,
    TreeStatus,
)
from layout_trees.core.plan import make_plan
from layout_trees.core.policy import BackupPolicy
from layout_trees.core.snapshot_json import load_snapshot, snapshot_from_data, snapshot_to_data
from layout_trees.core.units import render

POLICY = BackupPolicy(targets=("/mnt/backup",))
SAFE = ["a", "b", "home", "srv", "x_y", "data"]
HOSTILE = ["a,b", "new\nline", "bad\udcff", " lead", "trail\\", "my-data", "ünï", "@", "%n"]
TREE_NAMES = ["t", "u", "v"]
DESTS = ["/", "/srv", "/srv/a", "/srv/www", "/home", "/srv/a/b"]
OPTIONS = ["noatime", "subvol=/x", "subvolid=5", "x-systemd.automount", "x-systemd.bogus",
           "x-systemd.mount-timeout=soon", "x-systemd.idle-timeout=5min", "nofail",
           "x-systemd.makefs", "x-systemd.requires-mounts-for=rel"]
RULE_IDS = [r.id for r in RULES] + ["LT999", "lt020"]


def components(hostile: bool) -> st.SearchStrategy[str]:
    base = st.sampled_from(SAFE)
    names = st.one_of(base, base.map(lambda n: "@" + n), st.just("@"))
    if hostile:
        names = st.one_of(names, st.sampled_from(HOSTILE), st.sampled_from(HOSTILE).map(
            lambda n: "@" + n))
    return names


@st.composite
def entries(draw: st.DrawFn, hostile: bool) -> tuple[Entry, ...]:
    paths = draw(st.lists(st.lists(components(hostile), min_size=1, max_size=3).map(tuple),
                          max_size=8, unique=True))
    kinds = [EntryKind.DIRECTORY, EntryKind.SUBVOLUME, EntryKind.SUBVOLUME]
    if hostile:
        kinds += list(EntryKind)
    out = []
    for path in paths:
        kind = draw(st.sampled_from(kinds))
        owner = draw(st.sampled_from([0, 0, 1000, 1001])) if hostile else 0
        mode = draw(st.sampled_from([0o755, 0o700, 0o777, 0o1777, 0o775])) if hostile else 0o755
        sub = None
        if kind is EntryKind.SUBVOLUME:
            nested = draw(st.lists(st.sampled_from(["x", "@y", "a/@b", "c/d"]), max_size=2,
                                   unique=True)) if hostile else []
            sub = Subvolume("/top/" + "/".join(path),
                            read_only=hostile and draw(st.integers(0, 3)) == 0,
                            backup=draw(st.sampled_from([None, "skip", " skip\n", "daily"])),
                            nested=tuple(nested))
        out.append(Entry(path, kind, uid=owner, gid=owner, mode=mode if not hostile or kind in (
            EntryKind.DIRECTORY, EntryKind.SUBVOLUME) else 0o644, subvolume=sub,
            target="/elsewhere" if kind is EntryKind.SYMLINK else None,
            error="EACCES" if kind is EntryKind.UNREADABLE else None))
    return tuple(out)


@st.composite
def worlds(draw: st.DrawFn, hostile: bool = True) -> tuple[Config, Snapshot]:
    """A configuration and a snapshot; hostile ones have every odd thing we know of."""
    names = draw(st.lists(st.sampled_from(TREE_NAMES), min_size=1, max_size=3, unique=True))
    trees, scans = [], []
    for name in names:
        dest = draw(st.sampled_from(DESTS)) if hostile else f"/srv/{name}"
        options = tuple(draw(st.lists(st.sampled_from(OPTIONS), max_size=3, unique=True))) \
            if hostile else ()
        ignore = tuple(sorted((r, "why") for r in draw(
            st.lists(st.sampled_from(RULE_IDS), max_size=2, unique=True)))) if hostile else ()
        trees.append(TreeConfig(
            name=name, path=f"/trees/{name}", destination=dest, options=options, ignore=ignore,
            device=draw(st.sampled_from([None, "/dev/vdb"])) if hostile else None,
            backup=draw(st.sampled_from([None, POLICY])) if hostile else POLICY))
        if hostile and draw(st.integers(0, 9)) == 0:
            continue  # configured but not in the snapshot
        status = draw(st.sampled_from([TreeStatus.OK] * 6 + list(TreeStatus))) \
            if hostile else TreeStatus.OK
        scans.append(TreeScan(
            name=name, root=f"/trees/{name}", status=status,
            device=draw(st.sampled_from([None, "/dev/vdb"])) if hostile else "/dev/vdb",
            uid=draw(st.sampled_from([0, 1000])) if hostile else 0,
            mode=draw(st.sampled_from([0o755, 0o777])) if hostile else 0o755,
            entries=draw(entries(hostile)) if status is TreeStatus.OK else (),
            device_found=draw(st.sampled_from([None, True, False])) if hostile else None))
    fstab = frozenset(draw(st.lists(st.sampled_from(["/srv/t/a", "/srv", "/home/a"]),
                                    max_size=2))) if hostile else frozenset()
    homes = frozenset({(1000, "/home/a")}) if draw(st.booleans()) else frozenset()
    fmt = draw(st.sampled_from(list(ConfigFormat))) if hostile else ConfigFormat.TOML
    return (Config(tuple(trees), fmt, "/etc/layout-trees.toml"),
            Snapshot(trees=tuple(scans), fstab_mountpoints=fstab, user_homes=homes))


def try_check(config: Config, snapshot: Snapshot) -> Report | None:
    try:
        return check(config, snapshot)
    except LayoutError:
        return None


@given(worlds())
def test_check_is_total(world: tuple[Config, Snapshot]) -> None:
    """Invariant: on any generated world check returns, or raises only LayoutError, and
    every rendering of its report works."""
    report = try_check(*world)
    if report is not None:
        json.loads(report_to_json(report))
        report_to_sarif(report)


@given(worlds())
def test_findings_sorted_and_deterministic(world: tuple[Config, Snapshot]) -> None:
    """Invariant: findings come sorted and unique, and a second run gives the same report."""
    first = try_check(*world)
    if first is None:
        return
    keys = [f.sort_key() for f in first.findings]
    assert keys == sorted(keys)
    assert len(set(first.findings)) == len(first.findings)
    assert try_check(*world) == first


@given(worlds(), st.randoms(use_true_random=False))
def test_scan_order_does_not_matter(world: tuple[Config, Snapshot], rnd: Any) -> None:
    """Metamorphic: shuffling trees, entries and configured trees changes no finding."""
    config, snapshot = world
    trees = []
    for tree in snapshot.trees:
        items = list(tree.entries)
        rnd.shuffle(items)
        trees.append(TreeScan(tree.name, tree.root, tree.status, tree.error, tree.device,
                              tree.fs_uuid, tree.root_subvol_path, tree.uid, tree.gid,
                              tree.mode, tuple(items), tree.device_found))
    rnd.shuffle(trees)
    configured = list(config.trees)
    rnd.shuffle(configured)
    shuffled = (Config(tuple(configured), config.format, config.source),
                Snapshot(tuple(trees), snapshot.fstab_mountpoints, snapshot.version,
                         snapshot.user_homes))
    assert try_check(*shuffled) == try_check(config, snapshot)


@given(worlds())
def test_json_snapshot_gives_same_findings(world: tuple[Config, Snapshot]) -> None:
    """Round trip: a snapshot read back from its JSON gives the same findings."""
    config, snapshot = world
    config = Config(config.trees, ConfigFormat.TOML, config.source)
    data = json.loads(json.dumps(snapshot_to_data(snapshot, config)))
    again, embedded = snapshot_from_data(data)
    assert embedded is not None and not embedded.problems
    assert try_check(embedded.config, again) == try_check(config, snapshot)


def _leaf_units(config: Config, snapshot: Snapshot, report: Report) -> None:
    plan = make_plan(config, snapshot)
    units = {f.path for f in render(plan) if f.path.endswith(".mount") and f.content}
    error_trees = {f.tree for f in report.active if f.severity.value == "error"}
    for tree in config.trees:
        scan = snapshot.tree(tree.name)
        if tree.name in error_trees or scan is None:
            continue
        leaves = [e for e in scan.entries if is_leaf(e)]
        mounts = plan.mounts_of(tree.name)
        assert len(mounts) == len(leaves), tree.name
        assert {m.path for m in mounts} == {e.path for e in leaves}
        assert {m.unit for m in mounts} <= units


@given(worlds(hostile=False))
@example((Config((TreeConfig("t", "/trees/t", "/srv/t", backup=POLICY),)),
          Snapshot((TreeScan("t", "/trees/t", device="/dev/vdb", entries=(
              Entry(("@a",), EntryKind.SUBVOLUME, subvolume=Subvolume("/top/@a")),
              Entry(("a",), EntryKind.DIRECTORY),
              Entry(("a", "@"), EntryKind.SUBVOLUME, subvolume=Subvolume("/top/a/@")),
          )),))))
def test_clean_tree_one_unit_per_leaf(world: tuple[Config, Snapshot]) -> None:
    """Reference model: a tree without error findings gets exactly one mount unit per leaf."""
    report = check(*world)
    _leaf_units(*world, report)


@given(worlds())
def test_clean_hostile_tree_one_unit_per_leaf(world: tuple[Config, Snapshot]) -> None:
    """Reference model, hostile input: wherever a tree has no error, one unit per leaf."""
    report = try_check(*world)
    if report is not None:
        _leaf_units(*world, report)


@given(worlds())
def test_ignoring_everything_silences_every_tree(world: tuple[Config, Snapshot]) -> None:
    """Invariant: a tree that ignores every rule has no active finding; nothing is lost."""
    config, snapshot = world
    everything = tuple((r.id, "all") for r in RULES)
    muted = Config(tuple(TreeConfig(t.name, t.path, t.destination, t.device, t.options,
                                    t.tree_prefix, everything, t.watch, t.backup)
                         for t in config.trees), config.format, config.source)
    report, loud = try_check(muted, snapshot), try_check(config, snapshot)
    if report is None or loud is None:
        return
    assert all(f.tree is None for f in report.active)
    assert len(report.findings) == len(loud.findings) - sum(1 for f in loud.findings
                                                            if f.rule == "LT003")


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2, 70000) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=3),
    max_leaves=8)


@given(worlds(), st.data())
def test_hostile_snapshot_documents(world: tuple[Config, Snapshot], data: st.DataObject) -> None:
    """Invariant: a damaged snapshot document is refused with a LayoutError or checks fine."""
    config, snapshot = world
    doc = snapshot_to_data(snapshot, Config(config.trees, ConfigFormat.TOML, None))
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
    try_check(cfg, again)


@given(st.text())
@example("a\nb\udcff\x9b")
def test_show_is_printable_and_idempotent(text: str) -> None:
    """Invariant and idempotence: show() leaves no control character or surrogate, encodes
    as UTF-8, changes printable text not at all, and is a no-op on its own output."""
    from layout_trees.core.check import show

    shown = show(text)
    shown.encode("utf-8")
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in shown)
    assert show(shown) == shown
    if all(0x20 <= ord(c) < 0x7F or (ord(c) > 0x9F and not 0xD800 <= ord(c) <= 0xDFFF)
           for c in text):
        assert shown == text
