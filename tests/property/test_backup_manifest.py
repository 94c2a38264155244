"""Properties of the backup manifest, its JSON, the btrbk rendering and the timers."""

from __future__ import annotations

import json
import re

from hypothesis import example, given, settings
from hypothesis import strategies as st
from layout_trees.core.backup.btrbk import render_btrbk_config
from layout_trees.core.backup.manifest import (
    Coverage,
    Manifest,
    ManifestError,
    make_manifest,
    manifest_for_target,
    manifest_from_data,
    manifest_from_json,
    manifest_to_json,
    snapshot_name,
    split_snapshot_name,
)
from layout_trees.core.backup.policy import BackupPolicy
from layout_trees.core.backup.units import backup_units
from layout_trees.core.config import Config, TreeConfig
from layout_trees.core.errors import LayoutError, UserError
from layout_trees.core.escape import escape_string
from layout_trees.core.model import Entry, EntryKind, Snapshot, Subvolume, TreeScan
from layout_trees.core.plan import overlapping_trees
from layout_trees.core.record import replace
from strategies import World, any_names, worlds

TARGETS = ("/backup/a", "/backup/b", "ssh://host.example:2222/srv/backup", "ssh://nas/b")
policies = st.builds(
    BackupPolicy,
    targets=st.lists(st.sampled_from(TARGETS), min_size=1, max_size=3, unique=True).map(tuple),
    schedule=st.sampled_from(["daily", "hourly", "*-*-* 02:30:00", "Mon..Fri 22:00"]),
    snapshot_dir=st.sampled_from([".snapshots", "snap/layout"]),
)
attrs = st.sampled_from([None, None, None, "skip", "keep", ""])
NESTED = ((), (), (), ("inner",), ("a b/c", "d"))


@st.composite
def backup_worlds(draw: st.DrawFn, hostile: bool = False) -> World:
    """A world whose trees have (or lack) policies and whose leaves carry override attributes."""
    world = draw(worlds(hostile=hostile))
    trees = tuple(replace(t, backup=draw(st.one_of(st.none(), policies)))
                  for t in world.config.trees)
    scans = []
    for scan in world.snapshot.trees:
        entries = []
        for entry in scan.entries:
            if entry.subvolume is not None:
                sub = replace(entry.subvolume, backup=draw(attrs),
                                          uuid=f"uuid-{'/'.join(entry.path)}",
                                          nested=draw(st.sampled_from(NESTED)))
                entry = replace(entry, subvolume=sub)
            entries.append(entry)
        scans.append(replace(scan, entries=tuple(entries)))
    return World(replace(world.config, trees=trees),
                 replace(world.snapshot, trees=tuple(scans)))


def _volumes(config: Config) -> dict[str, str]:
    return {t.name: "/run/layout-trees/backup/top/x" for t in config.trees}


def _permuted(snapshot: Snapshot, seed: int) -> Snapshot:
    trees = list(reversed(snapshot.trees)) if seed % 2 else list(snapshot.trees)
    return Snapshot(tuple(replace(t, entries=tuple(
        t.entries[seed % max(1, len(t.entries)):] + t.entries[:seed % max(1, len(t.entries))]))
        for t in trees), snapshot.fstab_mountpoints)


@given(st.text(min_size=1, max_size=8), st.lists(any_names(), min_size=1, max_size=4))
@example("main", ["a.b", "@c"])
@example("a.b", ["@c"])
@example("main", ["a+2E", "@x"])
def test_snapshot_name_round_trip(tree: str, path: list[str]) -> None:
    """snapshot_name is inverted by split_snapshot_name and uses btrbk's safe characters only."""
    name = snapshot_name(tree, tuple(path))
    assert re.fullmatch(r"[A-Za-z0-9_@+.\-]+", name)
    assert split_snapshot_name(name) == (tree, tuple(path))


@settings(max_examples=40, deadline=None)
@given(backup_worlds())
def test_manifest_invariant_unique_names_and_every_leaf_once(world: World) -> None:
    """Every writable '@' subvolume of a tree that is not refused for overlapping another
    is in the manifest once, under a name no other leaf has; a refused tree has an error."""
    manifest = make_manifest(world.config, world.snapshot)
    names = [leaf.snapshot_name for leaf in manifest.leaves]
    assert len(names) == len(set(names))
    expected = set()
    configured = {t.name for t in world.config.trees}
    refused = overlapping_trees(world.config, world.snapshot)
    for tree in manifest.trees:
        assert (tree.name not in refused) or tree.error is not None
    for scan in world.snapshot.trees:
        if scan.name not in configured or scan.status.value != "ok" or scan.name in refused:
            continue
        for e in scan.entries:
            if (e.kind is EntryKind.SUBVOLUME and e.is_at_name and e.subvolume is not None
                    and not e.subvolume.read_only
                    and not any(p.startswith("@") for p in e.path[:-1])):
                expected.add((scan.name, e.path))
    assert {leaf.key for leaf in manifest.leaves} == expected
    for leaf in manifest.leaves:
        tree = world.config.tree(leaf.tree)
        assert tree is not None
        assert (leaf.coverage is Coverage.COVERED) == (leaf.policy is not None)
        if leaf.coverage is Coverage.COVERED:
            assert leaf.policy == tree.backup


@settings(max_examples=40, deadline=None)
@given(backup_worlds(), st.integers(0, 50))
def test_manifest_metamorphic_scan_order(world: World, seed: int) -> None:
    """The manifest JSON and the btrbk configuration are byte-identical in any scan order."""
    a = make_manifest(world.config, world.snapshot)
    b = make_manifest(world.config, _permuted(world.snapshot, seed))
    assert manifest_to_json(a) == manifest_to_json(b)
    vols = _volumes(world.config)
    lock = "/run/l.lock"
    assert render_btrbk_config(a, vols, lock) == render_btrbk_config(b, vols, lock)


@settings(max_examples=40, deadline=None)
@given(backup_worlds())
def test_manifest_json_round_trip(world: World) -> None:
    """A manifest read back from its JSON is equal to it, and renders the same bytes."""
    manifest = make_manifest(world.config, world.snapshot)
    text = manifest_to_json(manifest)
    again = manifest_from_json(text)
    assert again == manifest
    assert manifest_to_json(again) == text


@settings(max_examples=30, deadline=None)
@given(backup_worlds())
def test_manifest_for_target_invariant(world: World) -> None:
    """A target's manifest holds exactly the trees that send there, and all their leaves."""
    manifest = make_manifest(world.config, world.snapshot)
    for target in TARGETS:
        part = manifest_for_target(manifest, target)
        for tree in part.trees:
            assert tree.policy is not None and target in tree.policy.targets
        assert set(part.leaves) == {x for x in manifest.leaves if part.tree(x.tree) is not None}
        assert manifest_from_json(manifest_to_json(part)) == part


def _sections(config: str) -> list[dict[str, list[str]]]:
    sections: list[dict[str, list[str]]] = []
    for line in config.splitlines():
        words = line.split(None, 1)
        if not words or words[0].startswith("#"):
            continue
        if words[0] == "subvolume":
            sections.append({"subvolume": [words[1]]})
        elif sections:
            sections[-1].setdefault(words[0], []).append(words[1] if len(words) > 1 else "")
    return sections


@settings(max_examples=40, deadline=None)
@given(backup_worlds())
def test_btrbk_config_reference_model(world: World) -> None:
    """One btrbk subvolume section per covered leaf, carrying exactly its name, policy and
    targets; names unique (btrbk aborts on duplicates)."""
    manifest = make_manifest(world.config, world.snapshot)
    config = render_btrbk_config(manifest, _volumes(world.config), "/run/l.lock")
    sections = _sections(config)
    covered = sorted(manifest.covered(), key=lambda x: x.key)
    assert len(sections) == len(covered)
    names = [s["snapshot_name"][0] for s in sections]
    assert len(names) == len(set(names))
    by_name = {s["snapshot_name"][0]: s for s in sections}
    for leaf in covered:
        section = by_name[leaf.snapshot_name]
        assert leaf.policy is not None
        assert section["subvolume"] == [f'"{leaf.subvol.lstrip("/")}"']
        assert [" ".join(v.split()) for v in section["target"]] == [
            f"send-receive {t}" for t in leaf.policy.targets]
        assert section["snapshot_dir"] == [leaf.policy.snapshot_dir]
        assert section["target_preserve"] == [leaf.policy.target_preserve]


# a leaf below a mount point: no real scan has one, an untrusted snapshot document may
_BELOW_MOUNT = World(
    Config((TreeConfig("t", "/mnt/top/t", "/srv/t", backup=BackupPolicy(("/backup/a",))),)),
    Snapshot((TreeScan("t", "/mnt/top/t", entries=(
        Entry(("m",), EntryKind.MOUNTPOINT),
        Entry(("m", "@x"), EntryKind.SUBVOLUME, subvolume=Subvolume("/t/m/@x")))),)))


@settings(max_examples=60, deadline=None)
@given(backup_worlds(hostile=True))
@example(_BELOW_MOUNT)
def test_manifest_hostile_input_only_layout_errors(world: World) -> None:
    """For hostile snapshots, deriving refuses with a one-line user error (exit 2) or gives
    a manifest that renders to btrbk without error and reads back equal."""
    try:
        manifest = make_manifest(world.config, world.snapshot)
    except LayoutError as exc:
        assert isinstance(exc, UserError), repr(exc)
        assert len(f"{exc.message} {exc.hint or ''}".splitlines()) == 1, repr(exc)
        return
    render_btrbk_config(manifest, _volumes(world.config), "/run/l.lock")
    assert manifest_from_json(manifest_to_json(manifest)) == manifest


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12,
)


@given(json_values)
def test_manifest_from_data_hostile_only_manifest_errors(data: object) -> None:
    """Arbitrary JSON data reads as a manifest or raises ManifestError, nothing else, and
    the refusal is one non-empty line."""
    try:
        manifest = manifest_from_data(data)
    except ManifestError as exc:
        assert exc.message and "\n" not in str(exc)
        return
    assert isinstance(manifest, Manifest)


@settings(max_examples=30, deadline=None)
@given(backup_worlds())
def test_manifest_mutated_document_only_manifest_errors(world: World) -> None:
    """A real manifest with one value replaced still reads or raises ManifestError."""
    data = json.loads(manifest_to_json(make_manifest(world.config, world.snapshot)))
    for leaf in data["leaves"][:1]:
        leaf["snapshot_name"] = "other.@x"
        try:
            manifest_from_data(data)
            raise AssertionError("a leaf whose name does not match its path was accepted")
        except ManifestError:
            pass


@given(st.text(min_size=1, max_size=12))
@example(".hidden")
@example("*-*-* 02:00:00")
def test_escape_string_round_trip(text: str) -> None:
    """escape_string output has only unit-name characters and unescapes back to the input."""
    escaped = escape_string(text)
    assert re.fullmatch(r"[A-Za-z0-9:_.\\x-]*", escaped)
    raw = re.sub(r"\\x([0-9a-f]{2})", lambda m: chr(int(m.group(1), 16)),
                 escaped.replace("-", "/")).encode("latin-1")
    assert raw.decode("utf-8", "surrogateescape") == text


@settings(max_examples=30, deadline=None)
@given(backup_worlds())
def test_backup_units_invariant_one_pair_per_schedule(world: World) -> None:
    """Exactly one service, one timer and one wants-link per distinct schedule in use."""
    files = backup_units(world.config)
    schedules = {t.backup.schedule for t in world.config.trees if t.backup is not None}
    assert len([f for f in files if f.path.endswith(".timer") and "/" not in f.path]) == len(
        schedules)
    assert len([f for f in files if f.path.endswith(".service")]) == len(schedules)
    for f in files:
        if f.path.endswith(".timer") and f.content:
            assert any(f"OnCalendar={s}" in f.content for s in schedules)


def test_snapshot_names_distinguish_same_leaf_name_in_two_places() -> None:
    """a/@cache and b/@cache in one tree (and @x in two trees) get different names."""
    sub = EntryKind.SUBVOLUME
    from layout_trees.core.config import TreeConfig
    from layout_trees.core.model import Subvolume

    def leaf(*path: str) -> Entry:
        return Entry(path, sub, subvolume=Subvolume("/t/" + "/".join(path)))

    def d(*path: str) -> Entry:
        return Entry(path, EntryKind.DIRECTORY)

    policy = BackupPolicy(("/b",))
    config = Config((TreeConfig("t", "/m/t", "/srv", backup=policy),
                     TreeConfig("u", "/m/u", "/srv2", backup=policy)))
    snap = Snapshot((TreeScan("t", "/m/t", entries=(d("a"), d("b"), leaf("a", "@cache"),
                                                    leaf("b", "@cache"), leaf("@x"))),
                     TreeScan("u", "/m/u", entries=(leaf("@x"),))))
    names = [x.snapshot_name for x in make_manifest(config, snap).leaves]
    assert sorted(names) == ["t.@x", "t.a.@cache", "t.b.@cache", "u.@x"]
