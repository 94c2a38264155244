"""``backup status``, ``verify`` and a run's summary compared whole on one small world.

The tree ``main`` (targets ``/t1`` and ``/t2``) has two covered leaves: ``@a`` (with a
nested subvolume) is backed up to ``/t1`` at its latest snapshot and to ``/t2`` two days
earlier; ``@b`` has a ``/t1`` that cannot be listed and nothing on ``/t2``.  Its leaves
``@c`` (invalid override), ``@d`` (unsupported path) and ``@e`` (excluded) are not covered;
the tree ``bare`` has no policy, the tree ``gone`` could not be scanned.  Every finding is
compared with its tree, path, message and target; every status row with its counts.
"""

from __future__ import annotations

from layout_trees.core.backup.btrbk import BackupName, ListedSubvolume
from layout_trees.core.backup.manifest import Coverage, Leaf, Manifest, Tree
from layout_trees.core.backup.policy import BackupPolicy
from layout_trees.core.backup.status import (
    LeafStatus,
    TargetState,
    VerifyFinding,
    backup_status,
    run_summary,
    verify,
)
from layout_trees.core.record import replace

T0 = 1795608000
"""2026-11-25 12:00:00 UTC."""
NOW = T0 + 600
POLICY = BackupPolicy(("/t1", "/t2"))


def leaf(tree: str, name: str, coverage: Coverage, reason: str,
         nested: tuple[str, ...] = ()) -> Leaf:
    policy = POLICY if coverage is Coverage.COVERED else None
    return Leaf(tree, (name,), f"/trees/{tree}/{name}", f"{tree}.{name}", coverage, reason,
                policy=policy, nested=nested)


A = leaf("main", "@a", Coverage.COVERED, "covered", nested=("inner",))
B = replace(leaf("main", "@b", Coverage.COVERED, "covered"), policy=BackupPolicy(("/t2", "/t3")))
C = leaf("main", "@c", Coverage.INVALID_OVERRIDE, "bad attr")
D = leaf("main", "@d", Coverage.UNSUPPORTED_PATH, "odd path")
E = leaf("main", "@e", Coverage.EXCLUDED, "skip")
N = leaf("bare", "@n", Coverage.NO_POLICY, "no policy")
MANIFEST = Manifest((Tree("main", "/trees/main", "/srv", POLICY), Tree("bare", "/b", "/srv/b"),
                     Tree("gone", "/g", "/srv/g", POLICY, error="not on btrfs")),
                    (A, B, C, D, E, N))

A_NOW = "main.@a.20261125T120000+0000"
A_OLD = "main.@a.20261123T120000+0000"
TARGETS: dict[str, tuple[ListedSubvolume, ...] | str] = {
    "/t1": (ListedSubvolume(A_NOW, "u1", "r1", None, True),),
    "/t2": (ListedSubvolume(A_OLD, "u0", "r0", None, True),),
    "/t3": "ssh: refused",
}
SNAPSHOTS: dict[str, tuple[ListedSubvolume, ...] | str] = {
    "main": (ListedSubvolume(A_NOW, "s1", None, None, True),)}


def test_backup_status_rows_whole() -> None:
    """Rows sorted by tree and path; a target without the leaf's backups has none and a
    count of 0; a listing error is the target's error; uncovered leaves have no targets."""
    rows = backup_status(MANIFEST, TARGETS, SNAPSHOTS)
    unlisted = backup_status(MANIFEST, {}, {})
    now, old = BackupName("main.@a", T0), BackupName("main.@a", T0 - 2 * 86400)
    assert rows == (
        LeafStatus(N, None),
        LeafStatus(A, now, (TargetState("/t1", now, 1), TargetState("/t2", old, 1))),
        LeafStatus(B, None, (TargetState("/t2", None, 0),
                             TargetState("/t3", None, 0, "ssh: refused"))),
        LeafStatus(C, None), LeafStatus(D, None), LeafStatus(E, None),
    )
    assert unlisted[1] == LeafStatus(A, None, (TargetState("/t1", None, 0, "not listed"),
                                               TargetState("/t2", None, 0, "not listed")))


def test_verify_findings_whole() -> None:
    """Each finding with its tree, path, message and target, sorted; the excluded leaf and
    the no-policy leaf (its tree has one finding) are not listed."""
    nested = ("nested subvolume(s) inner are not in its backups (btrfs send stops at "
              "subvolume boundaries); make them leaves of their own")
    assert verify(MANIFEST, backup_status(MANIFEST, TARGETS, SNAPSHOTS), NOW, 3600) == (
        VerifyFinding("bare", (), "the tree has no backup policy, so none of its 1 leaves is "
                      "backed up; add a [tree.bare.backup] table"),
        VerifyFinding("gone", (), "the tree could not be scanned: not on btrfs"),
        VerifyFinding("main", ("@a",), "/t2: latest backup is 2d 0h old, more than 1h 0min",
                      "/t2"),
        VerifyFinding("main", ("@a",), nested),
        VerifyFinding("main", ("@b",), "/t2: no backup yet", "/t2"),
        VerifyFinding("main", ("@b",), "/t3: cannot be checked: ssh: refused", "/t3"),
        VerifyFinding("main", ("@c",), "not backed up: bad attr"),
        VerifyFinding("main", ("@d",), "not backed up: odd path"),
    )


def test_verify_age_boundary() -> None:
    """On /t2, a backup exactly max_age old holds; one second later it is a finding."""
    manifest = Manifest((MANIFEST.trees[0],), (A,))
    rows = backup_status(manifest, TARGETS, SNAPSHOTS)
    nested = ("nested subvolume(s) inner are not in its backups (btrfs send stops at "
              "subvolume boundaries); make them leaves of their own")
    assert [f.message for f in verify(manifest, rows, T0, 2 * 86400)] == [nested]
    assert [f.message for f in verify(manifest, rows, T0 + 1, 2 * 86400)] == [
        "/t2: latest backup is 2d 0h old, more than 2d 0h", nested]


def test_run_summary_whole() -> None:
    """A failed run: each covered leaf FAILED with every target's latest backup ('this run',
    an age, or 'none'), the uncovered leaves skipped, each target's count (the unusable one
    saying why) and the total."""
    rows = backup_status(MANIFEST, TARGETS, SNAPSHOTS)
    assert run_summary(MANIFEST, rows, frozenset({"main", "bare"}), NOW, False,
                       {"/t3": "ssh: refused"}) == (
        "FAILED main:@a -> /t1 (this run), /t2 (latest 2d 0h old)",
        "FAILED main:@b -> /t2 (latest none), /t3 (latest none)",
        "skip   main:@c (bad attr)",
        "skip   main:@d (odd path)",
        "skip   main:@e (skip)",
        "skip   bare:@n (no policy)",
        "target /t1: 1 of 1 leaf backed up",
        "target /t2: 0 of 2 leaves backed up",
        "target /t3: 0 of 1 leaf backed up: not used: ssh: refused",
        "0 leaves backed up to every target at 2026-11-25 12:10:00 UTC, 4 not covered",
    )
