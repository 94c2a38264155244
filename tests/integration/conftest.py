"""Shared fixtures for the integration tests: root, and real btrfs on a loop device.

``loop_btrfs`` makes a fresh btrfs image on a loop device per test and always
unmounts everything below its top level and detaches exactly its own loop
device afterwards, even when the test failed.  Without root the tests skip on
a developer's machine but fail in CI (``CI`` set): there they must run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from layout_trees.shell.loopdev import LoopBtrfs


def need_root_and_btrfs() -> None:
    """Skip (fail in CI) when loop devices and btrfs cannot be used here."""
    missing = []
    if os.geteuid() != 0:
        missing.append("root")
    missing += [tool for tool in ("mkfs.btrfs", "losetup", "btrfs") if shutil.which(tool) is None]
    if missing:
        message = f"integration tests need {', '.join(missing)}"
        if os.environ.get("CI"):
            pytest.fail(message + " (in CI they must run, not skip)")
        pytest.skip(message)


@pytest.fixture
def loop_btrfs(tmp_path: Path) -> Iterator[LoopBtrfs]:
    """A fresh, mounted btrfs (top level at ``.mountpoint``) on its own loop device."""
    need_root_and_btrfs()
    fs = LoopBtrfs(str(tmp_path / "btrfs.img"), size="256M", label="lt-gen",
                   mountpoint=str(tmp_path / "top"))
    with fs:
        yield fs


@pytest.fixture
def mounts() -> Iterator[list[str]]:
    """Mount points a test mounts; unmounted deepest first when it ends, failed or not."""
    made: list[str] = []
    yield made
    for where in sorted(made, key=lambda p: p.count("/"), reverse=True):
        if os.path.ismount(where):
            subprocess.run(["umount", where], check=False, capture_output=True)
        if os.path.ismount(where):
            subprocess.run(["umount", "-l", where], check=False, capture_output=True)
