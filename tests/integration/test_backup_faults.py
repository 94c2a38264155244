"""Faults and the guarantee: a run killed mid-transfer, a run stopped by each stop signal at
several points, a full target, verify against a moving clock, and drop refusing until the
latest state is on every target."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from layout_trees.shell.backup_target import Target
from loopdev_fixtures import kill_tree
from test_backup_support import (
    LAYOUT,
    base_env,
    checksums,
    images,  # noqa: F401  (fixture)
    layout,
    one_tree,
    subvol,
    tree_below_subvolume_mount,
    write_config,
)

pytestmark = pytest.mark.integration


def _random_file(path: Path, mib: int) -> None:
    with open(path, "wb") as handle:
        for _ in range(mib):
            handle.write(os.urandom(1 << 20))


def _setup(images, tmp_path: Path, src_size: str = "400M", dst_size: str = "400M"):  # noqa: F811
    lab = one_tree(images, tmp_path, src_size, dst_size)
    return lab.tree, lab.target, lab.config, lab.env


def test_killed_run_is_never_counted(images, tmp_path: Path) -> None:  # noqa: F811
    """A run killed mid-transfer leaves only an incomplete subvolume that no command counts;
    the next run completes and verify turns green."""
    tree, target, config, env = _setup(images, tmp_path, "900M", "900M")
    _random_file(subvol(tree / "@big") / "data", 320)
    (subvol(tree / "@small") / "f").write_text("small\n")
    proc = subprocess.Popen([LAYOUT, "backup", "run", "-c", str(config)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 120
    try:
        while not any(n.startswith("main.@big.") for n in os.listdir(target)):
            assert proc.poll() is None, "the run ended before the transfer could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.005)
        time.sleep(0.05)
    finally:
        kill_tree(proc.pid)
        proc.wait()
    listing = Target(str(target)).listing()
    partial = [s for s in listing if s.name.startswith("main.@big.")]
    assert partial and not any(s.is_complete_backup for s in partial), partial

    red = layout("backup", "verify", "-c", str(config), env=env, check=1).stdout
    assert "FAIL main:@big:" in red
    status = json.loads(layout("backup", "status", "-c", str(config), "--format", "json",
                               env=env).stdout)
    big = next(row for row in status["leaves"] if row["path"] == ["@big"])
    assert big["targets"][0]["latest"] is None and big["targets"][0]["count"] == 0
    refused = layout("drop", "-c", str(config), str(tree / "@big"), env=env, check=1)
    assert "refusing" in refused.stderr and (tree / "@big").exists()

    layout("backup", "run", "-c", str(config), env=env)
    layout("backup", "verify", "-c", str(config), "--max-age", "1h", env=env)
    after = Target(str(target)).listing()
    assert all(s.is_complete_backup for s in after if s.name.startswith("main.@big."))
    # the partial receive itself is gone (btrbk clean); its snapshot was sent again in full
    assert {s.uuid for s in partial}.isdisjoint({s.uuid for s in after})


def test_full_target_is_a_clear_error_and_loses_nothing(images, tmp_path: Path) -> None:  # noqa: F811
    """A target too small for a leaf: exit 3 with a message and hint naming the full
    target; the source is unchanged and verify names the leaf."""
    tree, target, config, env = _setup(images, tmp_path, "700M", "200M")
    _random_file(subvol(tree / "@big") / "data", 260)
    before = checksums(tree)
    result = layout("backup", "run", "-c", str(config), env=env, check=3)
    assert "No space left on device" in result.stderr, result.stderr
    assert "a backup target is full" in result.stderr
    assert checksums(tree) == before
    assert not any(s.is_complete_backup for s in Target(str(target)).listing())
    red = layout("backup", "verify", "-c", str(config), env=env, check=1).stdout
    assert "FAIL main:@big:" in red


def test_verify_follows_new_subvolumes_and_the_clock(images, tmp_path: Path) -> None:  # noqa: F811
    """verify: red for a subvolume created since the last run, green after a run, red again
    once --max-age has passed (clock injected with --at)."""
    tree, target, config, env = _setup(images, tmp_path)
    (subvol(tree / "@a") / "f").write_text("a\n")
    layout("backup", "run", "-c", str(config), env=env)
    layout("backup", "verify", "-c", str(config), "--max-age", "26h", env=env)
    subvol(tree / "new" / "@fresh")
    red = layout("backup", "verify", "-c", str(config), env=env, check=1).stdout
    assert red.splitlines() == [f"FAIL main:new/@fresh: {target}: no backup yet"]
    layout("backup", "run", "-c", str(config), env=env)
    layout("backup", "verify", "-c", str(config), "--max-age", "26h", env=env)
    later = str(int(time.time()) + 27 * 3600)
    late = layout("backup", "verify", "-c", str(config), "--max-age", "26h", "--at", later,
                  env=env, check=1).stdout
    assert "FAIL main:@a:" in late and "FAIL main:new/@fresh:" in late
    assert "more than 1d 2h" in late
    layout("backup", "exclude", str(tree / "new" / "@fresh"), env=env)
    subvol(tree / "@unprotected")
    layout("backup", "include", str(tree / "new" / "@fresh"), env=env)
    red = layout("backup", "verify", "-c", str(config), env=env, check=1).stdout
    assert red.splitlines() == [f"FAIL main:@unprotected: {target}: no backup yet"]


def test_drop_only_when_the_latest_state_is_on_every_target(images, tmp_path: Path) -> None:  # noqa: F811
    """drop refuses for a leaf never backed up, changed since its snapshot, excluded, or
    whose latest backup is missing on a target; it deletes once all is well."""
    tree, target, config, env = _setup(images, tmp_path)
    (subvol(tree / "@a") / "f").write_text("a\n")
    layout("backup", "run", "-c", str(config), env=env)
    subvol(tree / "@never")
    out = layout("drop", "-c", str(config), str(tree / "@never"), env=env, check=1).stderr
    assert "no snapshot" in out and (tree / "@never").exists()
    (tree / "@a" / "f").write_text("changed\n")
    out = layout("drop", "-c", str(config), str(tree / "@a"), env=env, check=1).stderr
    assert "changed since its latest snapshot" in out and (tree / "@a").exists()
    layout("backup", "run", "-c", str(config), env=env)
    newest = sorted(n for n in os.listdir(target) if n.startswith("main.@a."))[-1]
    subprocess.run(["btrfs", "subvolume", "delete", str(target / newest)], check=True,
                   capture_output=True)
    out = layout("drop", "-c", str(config), str(tree / "@a"), env=env, check=1).stderr
    assert f"{target}: holds no complete copy" in out
    layout("backup", "run", "-c", str(config), env=env)
    layout("backup", "exclude", str(tree / "@never"), env=env)
    out = layout("drop", "-c", str(config), str(tree / "@never"), env=env, check=1).stderr
    assert "not backed up" in out
    layout("drop", "-c", str(config), str(tree / "@a"), env=env)
    assert not (tree / "@a").exists()


# --- fault injection: every stop signal at several points of a run ------------------------

_WRAPPER = """#!/bin/sh
# pauses the real {tool} at one point when {control}/pause-{point} exists
case " $* " in *" {word} "*)
  if [ -e {control}/pause-{point} ]; then touch {control}/at-{point}; sleep 120; fi ;;
esac
exec {real} "$@"
"""


def _wrappers(tmp_path: Path) -> tuple[str, Path]:
    """``btrbk`` and ``btrfs`` first in PATH that can pause before btrbk's run starts and
    before a receive starts (after the source snapshot was taken)."""
    import shutil

    bindir, control = tmp_path / "wrap", tmp_path / "control"
    bindir.mkdir()
    control.mkdir()
    for tool, word, point in (("btrbk", "run", "btrbk"), ("btrfs", "receive", "receive")):
        real = shutil.which(tool)
        assert real
        (bindir / tool).write_text(_WRAPPER.format(tool=tool, word=word, point=point,
                                                   control=control, real=real))
        os.chmod(bindir / tool, 0o755)
    return str(bindir), control


def _survivors(marker: str) -> list[str]:
    """Processes still running whose command line mentions ``marker``."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if marker in cmdline and "pytest" not in cmdline:
            found.append(f"{pid}: {cmdline}")
    return found


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP,
                                    signal.SIGKILL], ids=lambda s: signal.Signals(s).name)
def test_interrupted_run_loses_nothing_and_counts_nothing(images, tmp_path: Path,  # noqa: F811
                                                          signum: int) -> None:
    """A run stopped by the signal before btrbk starts, after the snapshot but before the
    receive, and mid-transfer: the source is byte-identical, nothing partial is counted,
    no helper survives, and the next run completes."""
    tree, target, config, env = _setup(images, tmp_path, "700M", "700M")
    _random_file(subvol(tree / "@big") / "data", 160)
    (subvol(tree / "@small") / "f").write_text("small\n")
    before = checksums(tree)
    bindir, control = _wrappers(tmp_path)
    env = base_env(tmp_path, bindir)
    run_dir = env["LAYOUT_TREES_BACKUP_RUN_DIR"]

    def reached(point: str) -> bool:
        if point == "transfer":
            return any(n.startswith("main.@big.") for n in os.listdir(target))
        return (control / f"at-{point}").exists()

    for point in ("btrbk", "receive", "transfer"):
        for name in ("pause-btrbk", "pause-receive", "at-btrbk", "at-receive"):
            (control / name).unlink(missing_ok=True)
        if point != "transfer":
            (control / f"pause-{point}").touch()
        proc = subprocess.Popen([LAYOUT, "backup", "run", "-c", str(config)], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        deadline = time.monotonic() + 120
        try:
            while not reached(point):
                assert proc.poll() is None, f"the run ended before {point}"
                assert time.monotonic() < deadline, point
                time.sleep(0.005)
        finally:
            if signum == signal.SIGKILL:
                kill_tree(proc.pid)  # a service manager kills the whole unit
            else:
                os.kill(proc.pid, signum)  # the command alone; it must stop its helpers
        _, err = proc.communicate(timeout=60)
        assert proc.returncode != 0, point
        if signum != signal.SIGKILL:
            assert proc.returncode == 130 and "Traceback" not in err, (point, err)
        time.sleep(0.2)
        assert not _survivors(run_dir), (point, _survivors(run_dir))
        assert checksums(tree) == before, point
        red = layout("backup", "verify", "-c", str(config), env=env, check=1).stdout
        assert "FAIL main:@big:" in red, (point, red)
        if point == "receive":
            snaps = os.listdir(Path(tree).parents[1] / ".snapshots")
            assert any(n.startswith("main.@big.") for n in snaps), "the snapshot was taken"

    for name in ("pause-btrbk", "pause-receive"):
        (control / name).unlink(missing_ok=True)
    layout("backup", "run", "-c", str(config), env=env)
    layout("backup", "verify", "-c", str(config), "--max-age", "1h", env=env)
    assert checksums(tree) == before
    assert all(s.is_complete_backup for s in Target(str(target)).listing())


def _mounts_below(path: str) -> list[str]:
    with open("/proc/self/mountinfo") as handle:
        return [line.split()[4] for line in handle if line.split()[4].startswith(path + "/")]


def test_killed_run_leaves_no_mount_behind_the_next_run(images, tmp_path: Path) -> None:  # noqa: F811
    """A tree mounted from a subvolume needs a private mount of the top level; a run killed
    while it exists leaves it, and the next run reuses and removes it (no stacked mounts)."""
    src, dst = images("src"), images("dst")
    with tree_below_subvolume_mount(src, tmp_path / "data") as tree:
        try:
            (subvol(tree / "@a") / "f").write_text("a\n")
            target = Path(dst.mountpoint) / "backups"
            config = write_config(tmp_path / "layout-trees.toml", {"main": (tree, "/srv/main")},
                                  [str(target)])
            bindir, control = _wrappers(tmp_path)
            env = base_env(tmp_path, bindir)
            run_dir = env["LAYOUT_TREES_BACKUP_RUN_DIR"]
            (control / "pause-btrbk").touch()
            proc = subprocess.Popen([LAYOUT, "backup", "run", "-c", str(config)], env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    start_new_session=True)
            deadline = time.monotonic() + 120
            try:
                while not (control / "at-btrbk").exists():
                    assert proc.poll() is None and time.monotonic() < deadline
                    time.sleep(0.01)
            finally:
                kill_tree(proc.pid)
                proc.wait()
            assert len(_mounts_below(run_dir)) == 1, "the killed run's private mount is left"
            (control / "pause-btrbk").unlink()
            layout("backup", "run", "-c", str(config), env=env)
            assert _mounts_below(run_dir) == []
            layout("backup", "verify", "-c", str(config), "--max-age", "1h", env=env)
        finally:  # a private mount left by a failure would keep the image busy
            for where in _mounts_below(str(tmp_path / "run")):
                subprocess.run(["umount", where], check=False)
