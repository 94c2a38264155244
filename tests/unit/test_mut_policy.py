"""The backup policy's readers pinned exactly: retention folded to single spaces, every
retention refusal with its message and hint naming the table and key, and where a tree's
snapshots live with and without a policy."""

from __future__ import annotations

from typing import Any

import pytest
from layout_trees.core.backup.policy import BackupPolicy, parse_policy, snapshot_dir_of
from layout_trees.core.errors import ConfigError

WHERE = "tree.main.backup"
RETENTION_HINT = "e.g. '14d 4w *m' or 'no' (see btrbk.conf(5))"
MIN_HINT = "e.g. '2d', 'latest', 'all' or 'no'"


def test_retention_blanks_are_folded() -> None:
    """Blanks around and between retention terms become single spaces in every field."""
    policy = parse_policy({"targets": ["/b"], "snapshot_preserve": "  14d \t 4w  ",
                           "target_preserve": "20d  *m", "snapshot_preserve_min": " 2d ",
                           "target_preserve_min": "\tlatest"}, WHERE)
    assert policy == BackupPolicy(("/b",), "daily", ".snapshots", "2d", "14d 4w", "latest",
                                  "20d *m")


@pytest.mark.parametrize(("key", "value", "message", "hint"), [
    ("snapshot_preserve", "14x", f"{WHERE}.snapshot_preserve = '14x' is not btrbk retention "
     "syntax", RETENTION_HINT),
    ("target_preserve", " 1d   9q ", f"{WHERE}.target_preserve = '1d 9q' is not btrbk "
     "retention syntax", RETENTION_HINT),
    ("target_preserve", "", f"{WHERE}.target_preserve = '' is not btrbk retention syntax",
     RETENTION_HINT),
    ("snapshot_preserve_min", "2d 1w", f"{WHERE}.snapshot_preserve_min = '2d 1w' is not btrbk "
     "retention syntax", MIN_HINT),
    ("target_preserve_min", "2 d", f"{WHERE}.target_preserve_min = '2 d' is not btrbk "
     "retention syntax", MIN_HINT),
    ("snapshot_preserve", 5, f"{WHERE}.snapshot_preserve must be a string", None),
    ("target_preserve_min", ["2d"], f"{WHERE}.target_preserve_min must be a string", None),
])
def test_retention_refusal(key: str, value: Any, message: str, hint: str | None) -> None:
    """Retention that btrbk would not take is refused naming the table and key, with a hint."""
    with pytest.raises(ConfigError) as info:
        parse_policy({"targets": ["/b"], key: value}, WHERE)
    assert (info.value.message, info.value.hint) == (message, hint)


def test_snapshot_dir_of() -> None:
    """A tree's snapshots live in its policy's snapshot_dir, or in the default without one."""
    assert snapshot_dir_of(BackupPolicy(("/b",), snapshot_dir="snap/layout")) == "snap/layout"
    assert snapshot_dir_of(None) == ".snapshots"


def test_targets_reader() -> None:
    """One target may be written as a bare string; anything but strings is refused with an
    example."""
    assert parse_policy({"targets": "/b"}, WHERE).targets == ("/b",)
    for value in (5, ["/b", 1], ("/b",)):
        with pytest.raises(ConfigError) as info:
            parse_policy({"targets": value}, WHERE)
        assert (info.value.message, info.value.hint) == (
            f"{WHERE}.targets must be a list of strings", 'e.g. targets = ["/backup"]')


def test_policy_refusal_keeps_hint() -> None:
    """A refusal of the policy as a whole is prefixed with the table and keeps its hint."""
    with pytest.raises(ConfigError) as info:
        parse_policy({"targets": ["/b"], "schedule": "daily!"}, WHERE)
    assert (info.value.message, info.value.hint) == (
        f"{WHERE}: schedule 'daily!' is not a valid OnCalendar= expression",
        "e.g. 'daily', 'hourly' or '*-*-* 02:30:00' (see systemd.time(7))")
