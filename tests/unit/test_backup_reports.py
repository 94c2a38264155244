"""The backup reports, word for word: ``backup status`` (text and JSON), ``backup plan``,
and the per-target freshness count; examples built by hand, every branch once."""

from __future__ import annotations

from layout_trees.core.backup.btrbk import BackupName
from layout_trees.core.backup.manifest import Coverage, Leaf, Manifest, Tree
from layout_trees.core.backup.policy import BackupPolicy
from layout_trees.core.backup.status import (
    LeafStatus,
    TargetState,
    fresh_per_target,
    is_fresh,
    manifest_to_text,
    status_to_data,
    status_to_text,
)

NOW = 1_000_000
POLICY = BackupPolicy(targets=("/mnt/b", "ssh://h/b"))


def _leaf(tree: str, *path: str, coverage: Coverage = Coverage.COVERED,
          reason: str = "", mount_point: str | None = None,
          nested: tuple[str, ...] = ()) -> Leaf:
    return Leaf(tree, path, f"/{tree}/" + "/".join(path), f"{tree}." + ".".join(path),
                coverage, reason, mount_point=mount_point, nested=nested,
                policy=POLICY if coverage is Coverage.COVERED else None)


def _at(age: int, name: str = "n") -> BackupName:
    return BackupName(name, NOW - age)


MANIFEST = Manifest(
    (Tree("main", "/trees/main", "/srv", POLICY),
     Tree("bare", "/trees/bare", "/bare"),
     Tree("lost", "/trees/lost", "/lost", POLICY, error="permission denied")),
    (_leaf("main", "a", "@db", mount_point="/srv/a/db", nested=("a/@db/@in", "a/@db/@two")),
     _leaf("main", "@tmp", coverage=Coverage.EXCLUDED, reason="marked skip"),
     _leaf("bare", "@x", coverage=Coverage.NO_POLICY, reason="the tree has no policy"),
     _leaf("main", "@plain")))

STATUS = (
    LeafStatus(MANIFEST.leaves[0], _at(30), (
        TargetState("/mnt/b", _at(7200 + 60), 3),
        TargetState("ssh://h/b", None, 0, error="connection refused"))),
    LeafStatus(MANIFEST.leaves[1], None),
    LeafStatus(MANIFEST.leaves[2], None),
)


def test_status_to_text_word_for_word() -> None:
    """Unprotected trees first, then per leaf its snapshot's age and each target's state."""
    assert status_to_text(STATUS, NOW, MANIFEST) == (
        "tree bare: no backup policy; none of its leaves is backed up\n"
        "tree lost: NOT SCANNED (permission denied); its leaves are unknown\n"
        "main:a/@db  (covered)\n"
        "  snapshot  30s ago\n"
        "  /mnt/b  2h 1min ago (3 kept)\n"
        "  ssh://h/b  error: connection refused\n"
        "main:@tmp  (excluded)\n"
        "  marked skip\n"
        "bare:@x  (no-policy)\n"
        "  the tree has no policy\n")


def test_status_to_text_never_and_nothing() -> None:
    """A leaf never snapshotted or sent says 'never'; no leaf at all is said; no status and
    no manifest is no text."""
    row = LeafStatus(MANIFEST.leaves[0], None, (TargetState("/mnt/b", None),))
    assert status_to_text((row,), NOW) == (
        "main:a/@db  (covered)\n  snapshot  never\n  /mnt/b  never (0 kept)\n")
    assert status_to_text((), NOW, Manifest()) == "no leaves found in the configured trees\n"
    assert status_to_text((), NOW) == ""


def test_status_to_data_field_for_field() -> None:
    """JSON status: times and ages in seconds, None where there is none."""
    assert status_to_data(STATUS[:2], NOW) == [
        {"tree": "main", "path": ["a", "@db"], "coverage": "covered",
         "snapshot": {"time": NOW - 30, "age": 30},
         "targets": [
             {"target": "/mnt/b", "latest": {"time": NOW - 7260, "age": 7260}, "count": 3,
              "error": None},
             {"target": "ssh://h/b", "latest": None, "count": 0,
              "error": "connection refused"}]},
        {"tree": "main", "path": ["@tmp"], "coverage": "excluded", "snapshot": None,
         "targets": []},
    ]


def test_plan_to_text_word_for_word() -> None:
    """Per tree its policy, per leaf covered (+) or not (-) with why, then the count."""
    assert manifest_to_text(MANIFEST) == (
        "tree main (/trees/main): daily, snapshots in .snapshots (keep 14d), to /mnt/b, "
        "ssh://h/b (keep 20d 10w *m)\n"
        "  + a/@db -> /srv/a/db  as main.a.@db\n"
        "      not included: nested subvolume(s) a/@db/@in, a/@db/@two\n"
        "  - @tmp  as main.@tmp  [excluded: marked skip]\n"
        "  + @plain  as main.@plain\n"
        "tree bare (/trees/bare): no backup policy\n"
        "  - @x  as bare.@x  [no-policy: the tree has no policy]\n"
        "tree lost (/trees/lost): daily, snapshots in .snapshots (keep 14d), to /mnt/b, "
        "ssh://h/b (keep 20d 10w *m)\n"
        "  not scanned: permission denied\n"
        "2 of 4 leaves covered\n")


def test_plan_to_text_nothing_protected() -> None:
    """A manifest without a covered leaf says that nothing is protected."""
    assert manifest_to_text(Manifest()) == (
        "0 of 0 leaves covered\n"
        "nothing is protected: no leaf is covered by a backup policy\n")


def test_is_fresh_boundaries() -> None:
    """A target is fresh when its latest backup is at least as new as the latest snapshot."""
    row = LeafStatus(MANIFEST.leaves[0], _at(100))
    assert is_fresh(row, TargetState("/t", _at(100)))
    assert is_fresh(row, TargetState("/t", _at(99)))
    assert not is_fresh(row, TargetState("/t", _at(101)))
    assert not is_fresh(row, TargetState("/t", None))
    assert not is_fresh(LeafStatus(MANIFEST.leaves[0], None), TargetState("/t", _at(0)))


def test_fresh_per_target_counts_each_target() -> None:
    """Per target, fresh leaves out of covered leaves of the chosen trees, sorted by target;
    leaves of other trees and leaves without a policy are not counted."""
    a, db = MANIFEST.leaves[0], _leaf("main", "@b")
    other = _leaf("other", "@c")
    status = (
        LeafStatus(other, _at(50), (TargetState("/z", _at(10)),)),
        LeafStatus(MANIFEST.leaves[1], None, (TargetState("/z", None),)),
        LeafStatus(a, _at(50), (TargetState("/z", _at(10)), TargetState("/y", _at(60)))),
        LeafStatus(db, _at(50), (TargetState("/z", _at(60)),)),
    )
    result = fresh_per_target(status, frozenset({"main"}))
    assert result == {"/y": (0, 1), "/z": (1, 2)}
    assert list(result) == ["/y", "/z"]
    assert fresh_per_target(status, frozenset()) == {}
