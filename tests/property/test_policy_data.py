"""One serialisation of a backup policy (``config.policy_to_data``)."""

from __future__ import annotations

from hypothesis import strategies as st
from layout_trees.core.backup.policy import BackupPolicy

POLICIES = st.builds(
    BackupPolicy,
    targets=st.lists(st.sampled_from(["/mnt/b", "/backup/x", "ssh://host/b"]), min_size=1,
                     max_size=3, unique=True).map(tuple),
    schedule=st.sampled_from(["daily", "hourly", "*-*-* 02:30:00"]),
    snapshot_dir=st.sampled_from([".snapshots", "snaps"]),
    snapshot_preserve=st.sampled_from(["14d", "no", "7d 4w *m"]),
    target_preserve_min=st.sampled_from(["latest", "no", "2d"]),
)
