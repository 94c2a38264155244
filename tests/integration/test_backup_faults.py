"""Faults and the guarantee: a run killed mid-transfer, a full target, verify against a
moving clock, and drop refusing until the latest state is on every target."""

from __future__ import annotations

import json
import os
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
    subvol,
    write_config,
)

pytestmark = pytest.mark.integration


def _random_file(path: Path, mib: int) -> None:
    with open(path, "wb") as handle:
        for _ in range(mib):
            handle.write(os.urandom(1 << 20))


def _setup(images, tmp_path: Path, src_size: str = "400M", dst_size: str = "400M"):  # noqa: F811
    src, dst = images("src", src_size), images("dst", dst_size)
    tree = Path(src.mountpoint) / "trees" / "main"
    tree.mkdir(parents=True)
    target = Path(dst.mountpoint) / "backups"
    target.mkdir()
    config = write_config(tmp_path / "layout-trees.toml", {"main": (tree, "/srv/main")},
                          [str(target)])
    return tree, target, config, base_env(tmp_path)


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
    status = json.loads(layout("backup", "status", "-c", str(config), "--json", env=env).stdout)
    big = next(row for row in status if row["path"] == ["@big"])
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
