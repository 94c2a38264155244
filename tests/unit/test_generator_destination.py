"""Resolving a destination through symlinks, as the scan does (``resolve_destination``).

Run on the real file system below ``tmp_path`` (as root, like the generator):
relative and absolute targets, ``..``, missing components and loops, and the
rule that only symlinks root alone controls are followed.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from layout_trees.shell.scan import resolve_destination

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="symlink ownership needs root")


def test_relative_absolute_and_dotdot_targets(tmp_path: Path) -> None:
    """a -> ../x/real (relative with '..'), real/b -> absolute: resolved like realpath."""
    (tmp_path / "x" / "real" / "inner").mkdir(parents=True)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a").symlink_to("../x/real")
    (tmp_path / "x" / "real" / "b").symlink_to(tmp_path / "x" / "real" / "inner")
    dest = str(tmp_path / "d" / "a" / "b" / "missing" / "deeper")
    assert resolve_destination(dest) == (os.path.realpath(dest), None)
    assert resolve_destination(dest)[0] == str(tmp_path / "x/real/inner/missing/deeper")


def test_no_symlink_is_unchanged(tmp_path: Path) -> None:
    """A destination without symlinks (existing or not) comes back as it is."""
    (tmp_path / "a").mkdir()
    assert resolve_destination(str(tmp_path / "a" / "b")) == (str(tmp_path / "a" / "b"), None)


def test_users_symlink_or_writable_parent_refused(tmp_path: Path) -> None:
    """A symlink owned by a user, or in a directory others can write, is not followed."""
    (tmp_path / "real").mkdir()
    (tmp_path / "mine").symlink_to(tmp_path / "real")
    os.lchown(tmp_path / "mine", 1000, 1000)
    resolved, error = resolve_destination(str(tmp_path / "mine" / "x"))
    assert resolved == str(tmp_path / "mine" / "x") and error and "uid 1000" in error
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    (shared / "link").symlink_to(tmp_path / "real")
    assert resolve_destination(str(shared / "link"))[1] is not None


def test_symlink_loop_refused(tmp_path: Path) -> None:
    """A loop of symlinks ends with an error, not a hang."""
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    assert resolve_destination(str(tmp_path / "a" / "x"))[1] is not None
