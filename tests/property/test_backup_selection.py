"""Homes in the core for backup decisions the shell made (``config.select_backup_trees``,
``policy.snapshot_dir_of``), checked against the shell's copies until those switch."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from layout_trees.core.backup.policy import BackupPolicy, snapshot_dir_of
from layout_trees.core.config import Config, TreeConfig, select_backup_trees
from layout_trees.core.errors import UserError
from layout_trees.core.reserved import DEFAULT_SNAPSHOT_DIR

NAMES = ("a", "b", "c", "d")
SCHEDULES = ("daily", "hourly")


@st.composite
def configs(draw: st.DrawFn) -> Config:
    trees = []
    for name in draw(st.lists(st.sampled_from(NAMES), unique=True, max_size=4)):
        schedule = draw(st.one_of(st.none(), st.sampled_from(SCHEDULES)))
        policy = None if schedule is None else BackupPolicy(("/mnt/b",), schedule=schedule)
        trees.append(TreeConfig(name, f"/trees/{name}", f"/srv/{name}", backup=policy))
    return Config(tuple(trees))


def _outcome(call):  # type: ignore[no-untyped-def]
    try:
        return frozenset(call())
    except UserError as exc:
        return (exc.message, exc.hint)


@given(configs(), st.one_of(st.none(), st.lists(st.sampled_from((*NAMES, "zz")), max_size=3)),
       st.one_of(st.none(), st.sampled_from(SCHEDULES)))
def test_select_backup_trees_reference_model(config: Config, names: list[str] | None,
                                             schedule: str | None) -> None:
    """Reference model: the trees with a policy, narrowed to the names asked for (an unknown
    name or one without a policy is an error) and to the schedule."""
    with_policy = {t.name: t.backup for t in config.trees if t.backup is not None}
    expected: object
    if names and any(config.tree(n) is None for n in names):
        expected = "unknown"
    elif names and any(n not in with_policy for n in names):
        expected = "no policy"
    else:
        chosen = set(names) if names else set(with_policy)
        expected = frozenset(n for n in chosen if schedule is None
                             or with_policy[n].schedule == schedule)  # type: ignore[union-attr]
    got = _outcome(lambda: select_backup_trees(config, names, schedule))
    if isinstance(got, tuple):
        assert expected == ("unknown" if got[0].startswith("no tree named") else "no policy")
    else:
        assert got == expected


def test_select_backup_trees_errors() -> None:
    """An unknown tree is named before a tree without a policy."""
    config = Config((TreeConfig("a", "/t/a", "/srv/a"),))
    with pytest.raises(UserError, match="no tree named 'x'"):
        select_backup_trees(config, ["a", "x"])
    with pytest.raises(UserError, match="tree 'a' has no backup policy"):
        select_backup_trees(config, ["a"])


@given(st.one_of(st.none(), st.sampled_from(["snaps", ".snapshots", "x/y"])))
def test_snapshot_dir_of_reference_model(directory: str | None) -> None:
    """The snapshot directory of a policy, or the default without one (restore's rule)."""
    policy = None if directory is None else BackupPolicy(("/mnt/b",), snapshot_dir=directory)
    assert snapshot_dir_of(policy) == (directory if directory else DEFAULT_SNAPSHOT_DIR)
    assert BackupPolicy(("/mnt/b",)).snapshot_dir == DEFAULT_SNAPSHOT_DIR
