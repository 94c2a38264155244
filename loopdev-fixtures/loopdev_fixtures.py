"""Fixtures and helpers that build layout trees on real loopback btrfs images.

Every image is a sparse file on a loop device attached by the test itself
(``layout_trees.shell.loopdev.LoopBtrfs``); cleanup unmounts whatever was
mounted below the test's directories, deepest first, and detaches exactly the
loop device the test attached, even when the test failed.  Without root or
btrfs-progs the tests skip on a developer's machine but fail in CI (``CI``
set): there they must run.

``tests/conftest.py`` puts this directory on ``sys.path``;
``tests/integration/conftest.py`` re-exports the fixtures.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from layout_trees.core.mountinfo import MountEntry, parse_mountinfo
from layout_trees.shell.loopdev import LoopBtrfs

LAYOUT = str(Path(sys.executable).with_name("layout"))


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


def _mounts() -> tuple[MountEntry, ...]:
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as handle:
        return parse_mountinfo(handle.read())


def mounts_below(path: str) -> list[str]:
    """Mount points at or below ``path``."""
    return [e.mountpoint for e in _mounts()
            if e.mountpoint == path or e.mountpoint.startswith(path.rstrip("/") + "/")]


def mount_at(path: str) -> MountEntry | None:
    """The mount on top at ``path``, if any."""
    found = [e for e in _mounts() if e.mountpoint == path]
    return found[-1] if found else None


def unmount_all_below(path: Path) -> None:
    """Unmount everything at or below ``path``, deepest first."""
    for where in sorted(mounts_below(str(path)), key=lambda p: -p.count("/")):
        subprocess.run(["umount", where], check=False)


@dataclass
class Lab:
    """A loopback btrfs with one tree, a destination and a configuration file."""

    top: Path
    tree: Path
    dest: Path
    config: Path

    def write_config(self, extra: str = "") -> None:
        self.config.write_text(f'[tree.home]\npath = "{self.tree}"\n'
                               f'destination = "{self.dest}"\n{extra}')

    def subvolumes(self) -> list[str]:
        out = subprocess.run(["btrfs", "subvolume", "list", "-o", str(self.top)],
                             capture_output=True, text=True, check=True).stdout
        return sorted(line.split(" path ", 1)[1] for line in out.splitlines() if " path " in line)

    def layout(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([LAYOUT, *args, "--config", str(self.config)],
                              capture_output=True, text=True, timeout=120)


@contextmanager
def lab_on_loop(tmp_path: Path, label: str) -> Iterator[Lab]:
    """A :class:`Lab` on a fresh image; everything mounted below it is undone at the end."""
    need_root_and_btrfs()
    dest = tmp_path / "dest"
    with LoopBtrfs(str(tmp_path / "img"), size="256M", label=label) as fs:
        assert fs.mountpoint
        top = Path(fs.mountpoint)
        tree = top / "trees" / "home"
        tree.mkdir(parents=True)
        dest.mkdir()
        lab = Lab(top, tree, dest, tmp_path / "layout-trees.toml")
        lab.write_config()
        try:
            yield lab
        finally:
            unmount_all_below(dest)
            unmount_all_below(top / "dest")


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


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (read from /proc), parents first."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    found, queue = [], [pid]
    while queue:
        here = queue.pop(0)
        found.append(here)
        queue.extend(children.get(here, []))
    return found


def kill_tree(pid: int, sig: int = signal.SIGKILL) -> None:
    """Kill ``pid`` and all its descendants, as a service manager kills a unit's cgroup.

    The project starts each helper program in a process group of its own, so a
    process-group kill of the command alone would leave its grandchildren running."""
    for member in descendants(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(member, signal.SIGSTOP)
    for member in descendants(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(member, sig)
            os.kill(member, signal.SIGCONT)
