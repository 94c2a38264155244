"""Unit tests of the pure backup modules: policy, names, listings, verify, restore, drop."""

from __future__ import annotations

import ast
import datetime
import pathlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from layout_trees.core.backup.btrbk import (
    ListedSubvolume,
    format_time,
    parse_backup_name,
    parse_subvolume_list,
)
from layout_trees.core.backup.drop import drop_check
from layout_trees.core.backup.manifest import Coverage, Leaf, Manifest, Tree
from layout_trees.core.backup.policy import Override, parse_override, parse_policy
from layout_trees.core.backup.restore import LocalLeaf, plan_restore
from layout_trees.core.backup.status import backup_status, verify
from layout_trees.core.errors import ConfigError, LayoutError, UserError
from layout_trees.core.record import replace

CORE = pathlib.Path(__file__).resolve().parents[2] / "src" / "core"
MINE = ("backup/policy.py", "backup/manifest.py", "backup/status.py", "backup/units.py",
        "backup/restore.py", "backup/btrbk.py", "backup/drop.py", "calendar.py")
ALLOWED = {"__future__", "dataclasses", "enum", "typing", "collections", "collections.abc",
           "itertools", "functools", "re", "json", "pathlib"}


@pytest.mark.parametrize("name", MINE)
def test_backup_core_modules_are_pure(name: str) -> None:
    """The backup core imports only the core and pure standard library modules."""
    tree = ast.parse((CORE / name).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            mods = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                continue
            mods = [node.module or ""]
        else:
            continue
        for mod in mods:
            assert mod in ALLOWED, f"{name} imports {mod}"
        if isinstance(node, ast.ImportFrom) and node.module == "pathlib":
            assert [a.name for a in node.names] == ["PurePosixPath"]


@pytest.mark.parametrize("table, needle", [
    ({"targets": []}, "at least one target"),
    ({"targets": ["relative"]}, "neither an absolute path"),
    ({"targets": ["ssh://host"]}, "not a valid ssh://"),
    ({"targets": ["ssh://host:22:33/b"]}, "not a valid ssh://"),
    ({"targets": ["ssh://host:0/b"]}, "port 0 is not"),
    ({"targets": ["ssh://host:99999/b"]}, "port 99999 is not"),
    ({"targets": ["ssh://-F/b"]}, "not a host name"),
    ({"targets": ["ssh://[zz::1]/b"]}, "not an IPv6 address"),
    ({"targets": ["ssh://[::1/b"]}, "not a valid ssh://"),
    ({"targets": ["/b", "/b"]}, "listed twice"),
    ({"targets": ["/b c"]}, "characters btrbk"),
    ({"targets": ["/b"], "schedule": "daily\nExecStart=/bin/sh"}, "OnCalendar"),
    ({"targets": ["/b"], "snapshot_dir": "/abs"}, "relative to the filesystem"),
    ({"targets": ["/b"], "snapshot_dir": "a/../b"}, "relative to the filesystem"),
    ({"targets": ["/b"], "target_preserve": "forever"}, "retention"),
    ({"targets": ["/b"], "snapshot_preserve_min": "2 days"}, "retention"),
    ({"targets": ["/b"], "retention": "2d"}, "unknown key"),
])
def test_policy_errors_name_the_problem(table: dict[str, object], needle: str) -> None:
    """Every invalid policy is a ConfigError whose message names what is wrong."""
    with pytest.raises(ConfigError) as info:
        parse_policy(table, "tree.t.backup")
    assert needle in str(info.value)


def test_policy_accepts_btrbk_retention_forms() -> None:
    """The retention forms of btrbk.conf(5) are accepted verbatim."""
    for value in ("no", "all", "14d", "20d 10w *m", "6h 7d 4w 12m 10y", "3 7d", "*d"):
        assert parse_policy({"targets": ["/b"], "target_preserve": value}, "t").target_preserve \
            == value


def test_override_values() -> None:
    """Only 'skip' excludes; no attribute inherits; anything else is invalid."""
    assert parse_override(None) is Override.INHERIT
    assert parse_override("skip") is Override.SKIP
    assert parse_override("keep") is Override.INVALID


@given(st.datetimes(min_value=datetime.datetime(1971, 1, 1),
                    max_value=datetime.datetime(2200, 1, 1)),
       st.integers(-12 * 60, 14 * 60))
def test_parse_backup_name_reference_model_datetime(when: datetime.datetime, offset: int) -> None:
    """Timestamps in names parse to the same epoch seconds as the datetime module says."""
    tz = datetime.timezone(datetime.timedelta(minutes=offset))
    aware = when.replace(microsecond=0, tzinfo=tz)
    sign = "+" if offset >= 0 else "-"
    stamp = aware.strftime("%Y%m%dT%H%M%S") + f"{sign}{abs(offset) // 60:02d}{abs(offset) % 60:02d}"
    parsed = parse_backup_name(f"main.a+2Eb.@c.{stamp}_3")
    assert parsed is not None
    assert parsed.snapshot_name == "main.a+2Eb.@c"
    assert parsed.time == int(aware.timestamp())
    assert parsed.serial == 3
    utc = datetime.datetime.fromtimestamp(parsed.time, datetime.UTC)
    assert format_time(parsed.time) == utc.strftime("%Y-%m-%d %H:%M:%S UTC")


def test_parse_backup_name_rejects_other_names() -> None:
    """Names without a btrbk timestamp are not backups."""
    for name in ("layout-trees-manifest.json", "main.@c", "main.@c.2026", "x.20261399T000000"):
        assert parse_backup_name(name) is None


LISTING = "\n".join([
    "/@b /mnt/b",
    "/mnt/b/backups",
    "ID 258 gen 13 top level 256 parent_uuid -                                    "
    "received_uuid 85101f41-57c1-2b41-9969-3354d29376f3 uuid be1f8baf-5969-a14a-8490-b07d1792c16f"
    " path @b/backups/main.@c.20261125T172235+0000",
    "ID 259 gen 14 top level 256 parent_uuid -                                    "
    "received_uuid -                                    uuid f6fbbdd8-1c6e-4d43-936b-42fc43781352"
    " path @b/backups/main.@c.20261125T172300+0000",
    "ID 260 gen 15 top level 256 parent_uuid -                                    "
    "received_uuid 85101f41-57c1-2b41-9969-3354d29376f3 uuid 01010101-1c6e-4d43-936b-42fc43781352"
    " path @b/elsewhere/main.@c.20261125T172235+0000",
    "ID 261 gen 15 top level 256 parent_uuid -                                    "
    "received_uuid -                                    uuid 02020202-1c6e-4d43-936b-42fc43781352"
    " path @b/backups/deeper/main.@c.20261125T172235+0000",
    "--",
    "ID 258 gen 13 top level 256 path @b/backups/main.@c.20261125T172235+0000",
    "ID 260 gen 15 top level 256 path @b/elsewhere/main.@c.20261125T172235+0000",
    "",
])


def test_parse_subvolume_list_marks_incomplete_receives() -> None:
    """Only subvolumes directly in the directory count; a writable one without received UUID
    (an interrupted receive) is listed but is not a backup."""
    listing = parse_subvolume_list(LISTING)
    assert [s.name for s in listing] == ["main.@c.20261125T172235+0000",
                                         "main.@c.20261125T172300+0000"]
    assert listing[0].is_complete_backup and listing[0].generation == 13
    assert listing[0].uuid == "be1f8baf-5969-a14a-8490-b07d1792c16f"
    assert not listing[1].is_complete_backup and not listing[1].read_only


def test_parse_subvolume_list_paths_from_the_top_level() -> None:
    """The directory's path from the top level is the mount's FSROOT plus the part below
    the mount point (findmnt's \\x20 escapes decoded); the top level itself works too."""
    top = parse_subvolume_list("/ /\n/\nID 256 gen 7 top level 5 parent_uuid - received_uuid - "
                               "uuid u path x\n--\n")
    assert [s.name for s in top] == ["x"]
    spaced = parse_subvolume_list("/a\\x20b /mnt/x\\x20y\n/mnt/x y/d\nID 257 gen 7 top level 5 "
                                  "parent_uuid - received_uuid r uuid u path a b/d/n\n--\n")
    assert [s.name for s in spaced] == ["n"]
    with pytest.raises(LayoutError):
        parse_subvolume_list("/ /\n/x\n")


def _policy(targets: tuple[str, ...] = ("/t1", "/t2")):  # type: ignore[no-untyped-def]
    return parse_policy({"targets": list(targets)}, "p")


def _leaf(path: tuple[str, ...] = ("@c",), coverage: Coverage = Coverage.COVERED) -> Leaf:
    policy = _policy() if coverage is Coverage.COVERED else None
    from layout_trees.core.backup.manifest import snapshot_name

    return Leaf("main", path, "/trees/main/" + "/".join(path), snapshot_name("main", path),
                coverage, "why", uuid="leaf-uuid", policy=policy)


def _sub(name: str, uuid: str, received: str | None, parent: str | None = None,
         ro: bool = True) -> ListedSubvolume:
    return ListedSubvolume(name, uuid, received, parent, ro)


T0 = parse_backup_name("x.20261125T120000+0000").time  # type: ignore[union-attr]


def test_verify_clock_red_green_red() -> None:
    """No backup: red; a fresh backup on every target: green; max_age later: red again."""
    leaf = _leaf()
    manifest = Manifest((Tree("main", "/m", "/srv", _policy()),), (leaf,))
    empty: dict[str, tuple[ListedSubvolume, ...]] = {"/t1": (), "/t2": ()}
    status = backup_status(manifest, empty, {"main": ()})
    assert [f.message for f in verify(manifest, status, T0, 3600)] == [
        "/t1: no backup yet", "/t2: no backup yet"]
    b = _sub("main.@c.20261125T120000+0000", "u1", "s1")
    status = backup_status(manifest, {"/t1": (b,), "/t2": (b,)}, {"main": ()})
    assert verify(manifest, status, T0 + 60, 3600) == ()
    late = verify(manifest, status, T0 + 3601, 3600)
    assert len(late) == 2 and all("old, more than 1h" in f.message for f in late)
    half = backup_status(manifest, {"/t1": (b,), "/t2": "ssh: connection refused"}, {"main": ()})
    assert [f.message for f in verify(manifest, half, T0, 3600)] == [
        "/t2: cannot be checked: ssh: connection refused"]


def test_verify_names_uncovered_but_not_excluded() -> None:
    """A leaf that cannot be backed up is a finding; a deliberately excluded one is not."""
    manifest = Manifest((Tree("main", "/m", "/srv", _policy()),),
                        (_leaf(("@a",), Coverage.UNSUPPORTED_PATH),
                         _leaf(("@b",), Coverage.EXCLUDED), _leaf(("@c",))))
    b = _sub("main.@c.20261125T120000+0000", "u1", "s1")
    status = backup_status(manifest, {"/t1": (b,), "/t2": (b,)}, {})
    findings = verify(manifest, status, T0, 60)
    assert [(f.path, f.message) for f in findings] == [(("@a",), "not backed up: why")]


def test_verify_fails_closed() -> None:
    """A tree without policy, a tree that could not be scanned and a manifest that covers
    nothing are each one finding; nothing covered is never 'ok'."""
    manifest = Manifest((Tree("bare", "/b", "/srv/b"),
                         Tree("gone", "/g", "/srv/g", _policy(), error="not on btrfs")),
                        (_leaf(("@a",), Coverage.NO_POLICY), _leaf(("@b",), Coverage.NO_POLICY)))
    manifest = Manifest(manifest.trees, tuple(
        Leaf("bare", x.path, x.subvol, x.snapshot_name.replace("main", "bare"), x.coverage,
             x.reason) for x in manifest.leaves))
    findings = verify(manifest, backup_status(manifest, {}, {}), T0, 60)
    assert [(f.tree, f.path) for f in findings] == [("(all trees)", ()), ("bare", ()),
                                                    ("gone", ())]
    assert "no backup policy" in findings[1].message and "2 leaves" in findings[1].message
    assert "not on btrfs" in findings[2].message
    assert verify(Manifest(), (), T0, 60)[0].message.startswith("no leaf is covered")


def test_verify_ignores_incomplete_backups() -> None:
    """A partial receive newer than the last complete backup does not make a leaf green."""
    leaf = _leaf()
    manifest = Manifest((Tree("main", "/m", "/srv", _policy()),), (leaf,))
    old = _sub("main.@c.20261120T120000+0000", "u0", "s0")
    partial = _sub("main.@c.20261125T120000+0000", "u1", None, ro=False)
    status = backup_status(manifest, {"/t1": (old, partial), "/t2": (old, partial)}, {})
    assert len(verify(manifest, status, T0, 86400)) == 2


def test_plan_restore_incremental_and_local_changes() -> None:
    """Newer backups are received against a common parent; local changes are kept unless
    overwrite is asked for."""
    leaf = _leaf()
    manifest = Manifest((Tree("main", "/m", "/srv", _policy()),), (leaf,))
    b1 = _sub("main.@c.20261124T120000+0000", "t1", "s1")
    b2 = _sub("main.@c.20261125T120000+0000", "t2", "s2")
    local = (_sub("main.@c.20261124T120000+0000", "l1", "s1"),)
    fresh = plan_restore(manifest, "main", (b1, b2), (), {})
    assert (fresh[0].receive, fresh[0].parent, fresh[0].place) == (b2.name, None, b2.name)
    clean = plan_restore(manifest, "main", (b1, b2), local, {("@c",): LocalLeaf(b1.name, False)})
    assert (clean[0].receive, clean[0].parent, clean[0].replace) == (b2.name, b1.name, True)
    dirty = plan_restore(manifest, "main", (b1, b2), local, {("@c",): LocalLeaf(b1.name, True)})
    assert dirty[0].error and dirty[0].place is None and "--overwrite" in dirty[0].message
    forced = plan_restore(manifest, "main", (b1, b2), local, {("@c",): LocalLeaf(b1.name, True)},
                          overwrite=True)
    assert forced[0].replace and forced[0].place == b2.name and "overwritten" in forced[0].message
    with pytest.raises(UserError):
        plan_restore(manifest, "main", (), (), {}, subvolume=("@nope",))


def test_drop_check() -> None:
    """drop is allowed only when the leaf's latest snapshot is on every target, unchanged."""
    leaf = _leaf()
    snap = _sub("main.@c.20261125T120000+0000", "snap-uuid", None, parent="leaf-uuid")
    on = _sub(snap.name, "x", "snap-uuid")
    assert drop_check(leaf, "leaf-uuid", (snap,), {"/t1": (on,), "/t2": (on,)}, False) == ()
    reasons = drop_check(leaf, "leaf-uuid", (snap,), {"/t1": (on,), "/t2": ()}, False)
    assert len(reasons) == 1 and reasons[0].startswith("/t2")
    assert drop_check(leaf, "leaf-uuid", (snap,), {"/t1": (on,), "/t2": (on,)}, True)
    assert drop_check(leaf, "leaf-uuid", (), {"/t1": (on,), "/t2": (on,)}, None)
    assert drop_check(_leaf(coverage=Coverage.EXCLUDED), "leaf-uuid", (snap,), {}, False)


def test_verify_names_nested_subvolumes_of_a_leaf() -> None:
    """Subvolumes nested in a leaf are not in its backups, so verify names them."""

    leaf = replace(_leaf(), nested=("inner", "x/deeper"))
    manifest = Manifest((Tree("main", "/m", "/srv", _policy()),), (leaf,))
    b = _sub("main.@c.20261125T120000+0000", "u1", "s1")
    status = backup_status(manifest, {"/t1": (b,), "/t2": (b,)}, {})
    findings = verify(manifest, status, T0, 3600)
    assert [f.message.split(" are ")[0] for f in findings] == [
        "nested subvolume(s) inner, x/deeper"]


def test_run_verdict_selected_trees_and_whole_runs() -> None:
    """A run fails for an unscanned tree it was to back up; a run of every tree also fails
    for a tree without policy and when nothing is covered; a selection ignores the rest."""
    from layout_trees.core.backup.status import run_verdict

    manifest = Manifest((Tree("bare", "/b", "/srv/b"),
                         Tree("gone", "/g", "/srv/g", _policy(), error="missing"),
                         Tree("main", "/m", "/srv/m", _policy())), (_leaf(),))
    whole = run_verdict(manifest, frozenset({"gone", "main"}), True)
    assert whole.unscanned == (("gone", "missing"),) and whole.unprotected == ("bare",)
    assert not whole.nothing_covered
    some = run_verdict(manifest, frozenset({"main"}), False)
    assert some.unscanned == () and some.unprotected == () and not some.nothing_covered
    assert run_verdict(Manifest(), frozenset(), True).nothing_covered


def test_overlapping_trees_are_backed_up_once() -> None:
    """A tree inside another tree is refused in the manifest (an error naming the overlap,
    no leaves), so each subvolume is backed up once, by the outer tree."""
    from layout_trees.core.backup.manifest import make_manifest
    from layout_trees.core.config import Config, TreeConfig
    from layout_trees.core.model import Entry, EntryKind, Snapshot, Subvolume, TreeScan

    policy = _policy(("/t1",))
    config = Config((TreeConfig("outer", "/mnt/x", "/srv/o", backup=policy),
                     TreeConfig("inner", "/mnt/x/d", "/srv/i", backup=policy)))
    leaf = Subvolume("/x/d/@l", id=300, uuid="u-l")
    snapshot = Snapshot((
        TreeScan("outer", "/mnt/x", device="/dev/vdb", root_subvol_path="/x",
                 entries=(Entry(("d",), EntryKind.DIRECTORY),
                          Entry(("d", "@l"), EntryKind.SUBVOLUME, subvolume=leaf))),
        TreeScan("inner", "/mnt/x/d", device="/dev/vdb", root_subvol_path="/x/d",
                 entries=(Entry(("@l",), EntryKind.SUBVOLUME, subvolume=leaf),)),
    ))
    manifest = make_manifest(config, snapshot)
    assert [(leaf.tree, leaf.path) for leaf in manifest.leaves] == [("outer", ("d", "@l"))]
    inner = next(t for t in manifest.trees if t.name == "inner")
    assert inner.error is not None and "lies inside tree 'outer'" in inner.error
    findings = verify(manifest, backup_status(manifest, {"/t1": ()}, {}), T0, 60)
    assert any(f.tree == "inner" and "lies inside" in f.message for f in findings)
