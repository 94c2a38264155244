"""One serialisation of a backup policy (``config.policy_to_data``)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from layout_trees.core import backup
from layout_trees.core.config import policy_to_data
from layout_trees.core.policy import POLICY_KEYS, BackupPolicy, parse_policy

POLICIES = st.builds(
    BackupPolicy,
    targets=st.lists(st.sampled_from(["/mnt/b", "/backup/x", "ssh://host/b"]), min_size=1,
                     max_size=3, unique=True).map(tuple),
    schedule=st.sampled_from(["daily", "hourly", "*-*-* 02:30:00"]),
    snapshot_dir=st.sampled_from([".snapshots", "snaps"]),
    snapshot_preserve=st.sampled_from(["14d", "no", "7d 4w *m"]),
    target_preserve_min=st.sampled_from(["latest", "no", "2d"]),
)


@given(POLICIES)
def test_policy_data_round_trip(policy: BackupPolicy) -> None:
    """Round trip: parse_policy(policy_to_data(p)) == p, with every key in POLICY_KEYS order."""
    data = policy_to_data(policy)
    assert tuple(data) == POLICY_KEYS
    assert parse_policy(data, "backup") == policy


@given(POLICIES)
def test_manifest_serialises_policies_alike(policy: BackupPolicy) -> None:
    """Reference model: the manifest's own serialisation is the same data, key order
    included (so it can switch to policy_to_data without changing a manifest's bytes).
    Remove this test when ``core/backup.py`` uses policy_to_data."""
    theirs = backup._policy_data(policy)
    assert list(theirs.items()) == list(policy_to_data(policy).items())
