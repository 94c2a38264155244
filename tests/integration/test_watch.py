"""The watch service (``python3 -m layout_trees.shell.watch``) on real btrfs with real inotify.

The service runs in a subprocess with a stub reload command that records each
call; the reload itself is tested elsewhere.  What a user who owns a
structure directory can make it cost is measured in ``/proc``: one inotify
instance whatever the number of directories, no reload for plain file writes,
at most one reload per ``--min-interval`` however fast leaves come.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from layout_trees.core.config import Config, TreeConfig
from layout_trees.core.watch import RELOAD_SERVICE, WATCH_SERVICE, watch_files
from layout_trees.shell.files import write_generated
from layout_trees.shell.scan import scan
from loopdev_fixtures import Lab, kill_tree, lab_on_loop

pytestmark = pytest.mark.integration

USER = 1000
MIN_INTERVAL = 2.0
STUB = ("import sys, time\n"
        "with open(sys.argv[1], 'a') as f: f.write(f'{time.monotonic()}\\n')\n")


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    with lab_on_loop(tmp_path, "lt-watch") as made:
        made.write_config("watch = true\n")
        (made.tree / "alice").mkdir()
        os.chown(made.tree / "alice", USER, USER)
        yield made


def as_user(*argv: str) -> None:
    subprocess.run(["setpriv", f"--reuid={USER}", f"--regid={USER}", "--clear-groups", *argv],
                   check=True, capture_output=True)


@dataclass
class Service:
    process: subprocess.Popen[bytes]
    calls: Path
    log: Path

    def reloads(self) -> list[float]:
        if not self.calls.exists():
            return []
        return [float(line) for line in self.calls.read_text().split()]

    def inotify_fds(self) -> list[str]:
        base = f"/proc/{self.process.pid}/fd"
        return [fd for fd in os.listdir(base)
                if os.readlink(f"{base}/{fd}") == "anon_inode:inotify"]

    def watches(self) -> int:
        (fd,) = self.inotify_fds()
        with open(f"/proc/{self.process.pid}/fdinfo/{fd}") as handle:
            return sum(1 for line in handle if line.startswith("inotify wd:"))

    def wait_log(self, text: str, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            content = self.log.read_text()
            if text in content:
                return content
            assert self.process.poll() is None, content
            time.sleep(0.05)
        raise AssertionError(f"{text!r} not logged: {self.log.read_text()}")

    def wait_reloads(self, count: int, timeout: float = 20) -> list[float]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.reloads()) < count:
            assert self.process.poll() is None, self.diagnosis()
            time.sleep(0.05)
        return self.reloads()

    def diagnosis(self) -> str:
        """What a failing assertion shows: the service's log, whether it still runs, and
        its inotify watches."""
        state = self.process.poll()
        watches = self.watches() if state is None else "-"
        return (f"exit status {state}, {watches} inotify watches, log:\n"
                f"{self.log.read_text()}")


@pytest.fixture
def service(lab: Lab, tmp_path: Path) -> Iterator[Callable[..., Service]]:
    started: list[Service] = []

    def start(*options: str) -> Service:
        calls, log = tmp_path / "calls", tmp_path / "watch.log"
        with open(log, "wb") as err:
            process = subprocess.Popen(
                [sys.executable, "-m", "layout_trees.shell.watch", "--config", str(lab.config),
                 "--min-interval", str(MIN_INTERVAL), *options, "--",
                 sys.executable, "-c", STUB, str(calls)],
                stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                env={**os.environ, "SYSTEMD_LOG_LEVEL": "info"})
        made = Service(process, calls, log)
        started.append(made)
        made.wait_log("with one inotify instance")
        return made

    yield start
    for made in started:
        kill_tree(made.process.pid)
        made.process.wait()


def subvolume(path: Path) -> None:
    subprocess.run(["btrfs", "subvolume", "create", str(path)], check=True, capture_output=True)


def test_many_user_directories_cost_one_inotify_instance(lab: Lab, service) -> None:
    """200 directories made by a user are all watched through one inotify instance (not one
    per directory, as the path unit had); 140 more made while it runs are watched too, and
    a leaf made in one of them is reloaded."""
    as_user("mkdir", *(str(lab.tree / "alice" / f"d{i}") for i in range(200)))
    watch = service()
    assert len(watch.inotify_fds()) == 1
    assert watch.watches() == 202  # the tree root, alice, d0..d199
    as_user("mkdir", *(str(lab.tree / "alice" / f"e{i}") for i in range(140)))
    as_user("mkdir", "-p", str(lab.tree / "alice" / "e3" / "deeper"))
    as_user("btrfs", "subvolume", "create", str(lab.tree / "alice" / "e3" / "deeper" / "@ws"))
    assert len(watch.wait_reloads(1)) == 1, watch.diagnosis()
    assert len(watch.inotify_fds()) == 1
    assert watch.watches() == 202 + 141


def test_file_writes_in_user_directories_cause_no_reload(lab: Lab, service) -> None:
    """A burst of 1,000 file creations and writes in user directories causes no reload."""
    as_user("mkdir", *(str(lab.tree / "alice" / f"d{i}") for i in range(10)))
    watch = service()
    for round_ in range(2):
        as_user("touch", *(str(lab.tree / "alice" / f"d{i % 10}" / f"f{i}") for i in range(500)))
        as_user("sh", "-c", f"for f in {lab.tree}/alice/d*/f*; do echo {round_} >> $f; done")
    time.sleep(3)
    assert watch.reloads() == []
    assert watch.process.poll() is None


def test_leaf_bursts_reload_at_most_once_per_interval(lab: Lab, service) -> None:
    """Leaves created and renamed as fast as a user can cause at most one reload per
    --min-interval, and the last change is still reloaded after the burst ends."""
    watch = service()
    start = time.monotonic()
    i = 0
    while time.monotonic() - start < 6:
        as_user("btrfs", "subvolume", "create", str(lab.tree / "alice" / f"@s{i}"))
        if i % 2:
            as_user("mv", str(lab.tree / "alice" / f"@s{i - 1}"), str(lab.tree / "alice" / f"s{i}"))
        i += 1
    last_change = time.monotonic()
    time.sleep(MIN_INTERVAL * 2 + 2)
    calls = watch.reloads()
    assert i > 20, i
    assert 1 <= len(calls) <= 6 / MIN_INTERVAL + 2, calls
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    assert all(gap >= MIN_INTERVAL for gap in gaps), gaps
    assert calls[-1] > last_change, (calls, last_change)


def test_over_budget_trees_are_rescanned(lab: Lab, service) -> None:
    """With more structure directories than --max-watches the service says so, watches no
    more than that, and still notices a leaf in an unwatched directory by rescanning."""
    as_user("mkdir", *(str(lab.tree / "alice" / f"d{i:02}") for i in range(40)))
    watch = service("--max-watches", "10", "--rescan", "2")
    log = watch.wait_log("not fully watched")
    assert "more structure directories than the watch budget (10)" in log
    assert watch.watches() == 10
    as_user("btrfs", "subvolume", "create", str(lab.tree / "alice" / "d39" / "@late"))
    assert len(watch.wait_reloads(1, timeout=15)) == 1, watch.diagnosis()


def test_symlinks_in_the_structure_are_not_followed(lab: Lab, service, tmp_path: Path) -> None:
    """A symlink in a user directory to a directory elsewhere is neither watched nor walked:
    leaves appearing behind it cause no reload."""
    outside = lab.top / "outside"
    outside.mkdir()
    as_user("ln", "-s", str(outside), str(lab.tree / "alice" / "link"))
    watch = service()
    assert watch.watches() == 2
    subvolume(outside / "@x")
    (outside / "sub").mkdir()
    time.sleep(3)
    assert watch.reloads() == []


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_watch_units_pass_systemd_analyze_verify(lab: Lab, tmp_path: Path) -> None:
    """The watch service and the reload service generated for a watched tree load without a
    single warning in systemd-analyze verify; no path unit is generated any more."""
    (lab.tree / "alice" / "deep").mkdir(parents=True)
    subvolume(lab.tree / "alice" / "@ws")
    config = Config((TreeConfig("home", str(lab.tree), str(lab.dest), watch=True),),
                    source=str(lab.config))
    files = watch_files(config, scan(config), "/usr/bin/python3")
    out = tmp_path / "units"
    out.mkdir()
    assert write_generated(str(out), files) == []
    assert not list(out.rglob("*.path"))
    service_text = (out / WATCH_SERVICE).read_text()
    assert f"-m layout_trees.shell.watch --config {lab.config}" in service_text
    assert os.readlink(out / "multi-user.target.wants" / WATCH_SERVICE) == f"../{WATCH_SERVICE}"
    done = subprocess.run(["systemd-analyze", "verify", "--man=no",
                           str(out / WATCH_SERVICE), str(out / RELOAD_SERVICE)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    problems = [line for line in done.stderr.splitlines() if str(out) in line]
    assert problems == [], done.stderr


def mount_leaf(lab: Lab, leaf: str, where: Path) -> None:
    source = subprocess.run(["findmnt", "-no", "SOURCE", "--target", str(lab.top)],
                            capture_output=True, text=True, check=True).stdout.split("[")[0]
    where.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "btrfs", "-o", f"subvol=trees/home/{leaf}", source.strip(),
                    str(where)], check=True, capture_output=True)


def test_a_leaf_made_before_the_watch_started_is_reloaded_once(lab: Lab, service) -> None:
    """A leaf that no mount shows (made between the boot's scan and the watch's first walk)
    is reloaded once when the watch starts; with every leaf mounted, nothing happens."""
    subvolume(lab.tree / "alice" / "@early")
    watch = service()
    assert len(watch.wait_reloads(1)) == 1, watch.diagnosis()
    time.sleep(2)
    assert len(watch.reloads()) == 1
    kill_tree(watch.process.pid)
    watch.process.wait()
    watch.calls.unlink()
    mount_leaf(lab, "alice/@early", lab.dest / "alice" / "early")
    again = service()
    time.sleep(2)
    assert again.reloads() == []


def exchange(a: Path, b: Path) -> None:
    """renameat2(RENAME_EXCHANGE): swap two names atomically."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    at_fdcwd, rename_exchange = -100, 2
    if libc.renameat2(at_fdcwd, bytes(a), at_fdcwd, bytes(b), rename_exchange) != 0:
        raise OSError(ctypes.get_errno(), "renameat2")


def test_exchanged_leaves_and_a_replaced_tree_root_are_noticed(lab: Lab, service) -> None:
    """Swapping two leaves' names (same names, other subvolumes) causes a reload; so does
    replacing the tree root by another directory, whose leaves are then watched."""
    for name in ("a", "b"):
        subvolume(lab.tree / "alice" / f"@{name}")
        mount_leaf(lab, f"alice/@{name}", lab.dest / name)
    watch = service()
    assert watch.reloads() == []
    exchange(lab.tree / "alice" / "@a", lab.tree / "alice" / "@b")
    assert len(watch.wait_reloads(1, timeout=30)) == 1, watch.diagnosis()
    (lab.tree.parent / "other").mkdir()
    subvolume(lab.tree.parent / "other" / "@new")
    lab.tree.rename(lab.tree.parent / "old")
    (lab.tree.parent / "other").rename(lab.tree)
    assert len(watch.wait_reloads(2, timeout=30)) == 2, watch.diagnosis()
    (lab.tree / "sub").mkdir()
    subvolume(lab.tree / "sub" / "@later")
    assert len(watch.wait_reloads(3, timeout=30)) == 3, watch.diagnosis()
    assert watch.watches() == 2  # the new root and sub; nothing of the old tree


def test_backup_snapshots_and_work_names_are_not_watched(lab: Lab, service) -> None:
    """A tree at the filesystem's top level: the backup snapshot directory and the project's
    '.layout-trees*' work names are neither walked nor watched, and what changes inside them
    causes no reload."""
    lab.config.write_text(f'[tree.top]\npath = "{lab.top}"\ndestination = "{lab.dest}"\n'
                          "watch = true\n")
    (lab.top / ".snapshots" / "s1").mkdir(parents=True)
    (lab.top / "alice" / ".layout-trees-persist" / "d").mkdir(parents=True)
    watch = service()
    dirs = len([p for p in lab.top.rglob("*") if p.is_dir() and not p.is_symlink()
                and ".snapshots" not in p.parts
                and not any(x.startswith(".layout-trees") for x in p.parts)]) + 1
    assert watch.watches() == dirs
    subvolume(lab.top / ".snapshots" / "s1" / "@snap")
    (lab.top / ".snapshots" / "s2").mkdir()
    subvolume(lab.top / "alice" / ".layout-trees-persist" / "d" / "@work")
    time.sleep(3)
    assert watch.reloads() == []
