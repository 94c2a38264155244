"""Decisions the backup commands take in the core, against reference models: which
snapshot is a leaf's latest own one (``drop``), what a failed ``btrbk run`` reported
(``backup run``), the per-leaf report of a run, which tree and leaves a restore
takes, and which records of a listing are read-only."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from layout_trees.core.backup.btrbk import (
    TARGET_FULL_HINT,
    ListedSubvolume,
    btrbk_failure,
    parse_backup_name,
    parse_subvolume_list,
)
from layout_trees.core.backup.drop import drop_check, latest_own_snapshot
from layout_trees.core.backup.manifest import Coverage, Leaf, Manifest, Tree, snapshot_name
from layout_trees.core.backup.policy import BackupPolicy
from layout_trees.core.backup.restore import pick_tree, plan_restore, select_leaves
from layout_trees.core.backup.status import LeafStatus, Listing, backup_status, run_summary
from layout_trees.core.errors import UserError
from layout_trees.core.wording import count
from test_backup_status_properties import T0, UUIDS, _stamp, listed, manifests, situations

# --- drop: the leaf's latest own snapshot ----------------------------------------------------


def _model_latest(name: str, uuid: str | None,
                  snapshots: tuple[ListedSubvolume, ...]) -> str | None:
    """The newest (time, serial, then name) read-only snapshot called ``name.<stamp>`` whose
    parent is the subvolume ``uuid``."""
    if uuid is None:
        return None
    mine = []
    for sub in snapshots:
        parsed = parse_backup_name(sub.name)
        if (sub.read_only and sub.parent_uuid == uuid and parsed is not None
                and parsed.snapshot_name == name):
            mine.append((parsed.time, parsed.serial, sub.name))
    return max(mine)[2] if mine else None


NAMES = (snapshot_name("main", ("@a",)), snapshot_name("main", ("x", "@a")))


@given(st.sampled_from(NAMES), st.sampled_from((None, *UUIDS)),
       st.lists(listed(NAMES), max_size=8, unique_by=lambda s: s.name).map(tuple),
       st.randoms(use_true_random=False))
def test_latest_own_snapshot_reference_model(name: str, uuid: str | None,
                                             snapshots: tuple[ListedSubvolume, ...],
                                             rnd: object) -> None:
    """Reference model: the newest read-only snapshot of that name taken of that very
    subvolume, in whatever order the directory lists them."""
    found = latest_own_snapshot(name, uuid, snapshots)
    assert (found.name if found else None) == _model_latest(name, uuid, snapshots)
    shuffled = list(snapshots)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert latest_own_snapshot(name, uuid, tuple(shuffled)) == found


def _covered_leaf(uuid: str) -> Leaf:
    policy = BackupPolicy(targets=("/t",))
    return Leaf("main", ("@a",), "/main/@a", NAMES[0], Coverage.COVERED, "covered",
                uuid=uuid, policy=policy)


@given(st.sampled_from(UUIDS),
       st.lists(listed(NAMES), max_size=8, unique_by=lambda s: s.name).map(tuple))
def test_drop_check_compares_against_the_latest_own_snapshot(
        uuid: str, snapshots: tuple[ListedSubvolume, ...]) -> None:
    """Invariant: drop names exactly the snapshot latest_own_snapshot picks (the one the
    shell compares the leaf against), or says there is none."""
    leaf = _covered_leaf(uuid)
    reasons = drop_check(leaf, uuid, snapshots, {"/t": ()}, True)
    latest = latest_own_snapshot(leaf.snapshot_name, uuid, snapshots)
    if latest is None:
        assert reasons == ("it has no snapshot in the snapshot directory; run 'layout backup "
                           "run' first",)
    else:
        assert reasons[0].startswith(f"it changed since its latest snapshot {latest.name};")


# --- backup run: what btrbk reported --------------------------------------------------------

stderr_lines = st.lists(st.one_of(
    st.sampled_from(("ERROR: Failed to send/receive subvolume",
                     "  ERROR: No space left on device  ", "WARNING: skipping target",
                     "ERROR: enospc while receiving", "btrbk: done", "")),
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\x0b\x0c"
                           "\x1c\x1d\x1e\x85\u2028\u2029"), max_size=30)), max_size=6)


@given(stderr_lines, st.integers(1, 255))
@example(["ERROR: a", "ERROR: a", "ERROR: b"], 10)
@example([], 1)
def test_btrbk_failure_reference_model(lines: list[str], status: int) -> None:
    """Reference model: each line with ``ERROR`` once, stripped, in the order printed (the
    command and its exit status when there is none); the full-target hint exactly when
    btrbk mentions ENOSPC."""
    stderr = "\n".join(lines)
    failure = btrbk_failure(stderr, "btrbk run", status)
    errors: list[str] = []
    for line in lines:
        if "ERROR" in line and line.strip() not in errors:
            errors.append(line.strip())
    assert list(failure.errors) == (errors or [f"btrbk run failed with exit status {status}"])
    full = "enospc" in stderr.lower() or "no space left on device" in stderr.lower()
    assert failure.hint == (TARGET_FULL_HINT if full else None)


# --- backup run: the report per leaf --------------------------------------------------------

def _fresh(row: LeafStatus) -> list[bool]:
    return [s.latest is not None and row.snapshot is not None
            and s.latest.time >= row.snapshot.time for s in row.targets]


@given(situations(), st.sets(st.sampled_from(("main", "home"))), st.booleans())
def test_run_summary_reference_model(
        situation: tuple[Manifest, dict[str, Listing], dict[str, Listing]], trees: set[str],
        run_ok: bool) -> None:
    """Reference model: one line per covered leaf of the run's trees, ``ok`` exactly when
    every target holds a backup as new as its latest snapshot (else ``kept`` or ``FAILED``
    as the run went), one ``skip`` line per leaf left out, and a total counting the ``ok``."""
    manifest, targets, snapshots = situation
    status = backup_status(manifest, targets, snapshots)
    lines = run_summary(manifest, status, frozenset(trees), T0, run_ok, {"/backup/a": "gone"})
    marks = []
    for row in status:
        if row.leaf.tree in trees and row.leaf.policy is not None:
            marks.append("ok" if all(_fresh(row)) else "kept" if run_ok else "FAILED")
    leaf_lines = [line for line in lines if re.match(r"(ok|kept|FAILED) ", line)]
    assert [line.split()[0] for line in leaf_lines] == marks
    skipped = [leaf for leaf in manifest.leaves if leaf.tree in trees and leaf.policy is None]
    assert sum(line.startswith("skip ") for line in lines) == len(skipped)
    assert lines[-1].startswith(f"{count(marks.count('ok'), 'leaf')} backed up to every target "
                                "at 2025-11-25 12:00:00 UTC, "
                                f"{len(skipped)} not covered")
    for line in lines:
        if line.startswith("target /backup/a:"):
            assert line.endswith(": not used: gone")


# --- restore: which tree, which leaves ------------------------------------------------------

@given(manifests(), st.sampled_from((None, "main", "home", "nope")),
       st.sampled_from((None, ("@a",), ("x", "@a"), ("@zz",))))
def test_restore_selection_reference_model(manifest: Manifest, name: str | None,
                                           wanted: tuple[str, ...] | None) -> None:
    """Reference model: the named tree (or the only one), and its leaves (or the one asked
    for); a one-line UserError otherwise; plan_restore restores exactly those leaves."""
    names = [t.name for t in manifest.trees]
    expect_tree = (names[0] if name is None and len(names) == 1
                   else name if name in names and name is not None else None)
    if expect_tree is None:
        with pytest.raises(UserError):
            pick_tree(manifest, name)
        return
    tree = pick_tree(manifest, name)
    assert tree.name == expect_tree
    leaves = [leaf for leaf in manifest.leaves
              if leaf.tree == tree.name and (wanted is None or leaf.path == wanted)]
    if wanted is not None and not leaves:
        with pytest.raises(UserError):
            select_leaves(manifest, tree.name, wanted)
        return
    assert list(select_leaves(manifest, tree.name, wanted)) == leaves
    steps = plan_restore(manifest, tree.name, (), (), {}, wanted)
    assert [step.leaf for step in steps] == leaves


def test_select_leaves_refuses_a_tree_not_in_the_manifest() -> None:
    """A tree the manifest does not hold is a UserError naming the trees it does hold."""
    manifest = Manifest((Tree("main", "/m", "/srv"),))
    with pytest.raises(UserError) as caught:
        select_leaves(manifest, "home", None)
    assert caught.value.hint == "its trees: main"


def test_run_summary_a_backup_named_after_the_latest_snapshot_is_this_run() -> None:
    """btrbk names a backup after its snapshot: the same timestamp is ``ok``, an older one
    on any target is not, and the total counts only the leaves that are ``ok``."""
    policy = BackupPolicy(targets=("/t1", "/t2"))
    leaves = tuple(Leaf("main", (name,), f"/main/{name}", snapshot_name("main", (name,)),
                        Coverage.COVERED, "covered", uuid="u1", policy=policy)
                   for name in ("@a", "@b"))
    manifest = Manifest((Tree("main", "/m", "/srv", policy),), leaves)

    def sub(leaf: Leaf, when: int, received: str | None) -> ListedSubvolume:
        return ListedSubvolume(f"{leaf.snapshot_name}.{_stamp(when)}", "s", received, "u1", True)

    a, b = leaves
    snaps = (sub(a, T0, None), sub(b, T0, None))
    targets = {"/t1": (sub(a, T0, "r"), sub(b, T0, "r")),
               "/t2": (sub(a, T0, "r"), sub(b, T0 - 3600, "r"))}
    status = backup_status(manifest, targets, {"main": snaps})
    lines = run_summary(manifest, status, frozenset({"main"}), T0, False, {})
    assert lines == (
        "ok     main:@a -> /t1 (this run), /t2 (this run)",
        "FAILED main:@b -> /t1 (this run), /t2 (latest 1h 0min old)",
        "target /t1: 2 of 2 leaves backed up",
        "target /t2: 1 of 2 leaves backed up",
        "1 leaf backed up to every target at 2025-11-25 12:00:00 UTC, 0 not covered",
    )


# --- listings: a read-only line counts for its own record only ------------------------------

@given(st.lists(st.tuples(st.sampled_from(("main.@a.20261125T120000+0000", "x", "y z")),
                          st.booleans()), min_size=1, max_size=4, unique_by=lambda t: t[0]),
       st.lists(st.tuples(st.integers(0, 5), st.sampled_from(("victim", "t/x ", "t"))),
                max_size=4))
def test_forged_read_only_lines_mark_nothing(records: list[tuple[str, bool]],
                                             forged: list[tuple[int, str]]) -> None:
    """Metamorphic: read-only lines that name a record's ID with another path (what a line
    break in a name elsewhere can print) change no read-only flag."""
    lines = ["/ /mnt", "/mnt/t"]
    ro_lines = []
    for i, (name, ro) in enumerate(records):
        lines.append(f"ID {256 + i} gen 7 top level 5 parent_uuid - received_uuid r uuid u{i} "
                     f"path t/{name}")
        if ro:
            ro_lines.append(f"ID {256 + i} gen 7 top level 5 path t/{name}")
    honest = "\n".join([*lines, "--", *ro_lines, ""])
    lies = [f"ID {256 + i} gen 1 top level 5 path {path}" for i, path in forged]
    attacked = "\n".join([*lines, "--", *lies, *ro_lines, ""])
    expect = {name: ro for name, ro in records}
    assert {s.name: s.read_only for s in parse_subvolume_list(honest)} == expect
    assert parse_subvolume_list(attacked) == parse_subvolume_list(honest)
