"""Backups fail closed: monitoring never reads "ok" when nothing is protected.

Configuration errors are exit 2 in every backup command; missing trees, trees on other
filesystems, trees without a policy and "nothing covered" fail verify (one line each) and
run; bad schedules and bad targets are caught before anything runs; one target failing does
not hide what the other received; an unreachable ssh target is one line with ssh's error.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest
from layout_trees.shell.backup_target import Target
from test_backup_support import (
    DEVICE,
    LAYOUT,
    base_env,
    images,  # noqa: F401  (fixture)
    layout,
    sshd,  # noqa: F401  (fixture)
    subvol,
    write_config,
)

pytestmark = pytest.mark.integration

COMMANDS = (["plan"], ["run"], ["status"], ["verify"])


def _tree_toml(name: str, path: Path, extra: str = "") -> str:
    return (f'[tree.{name}]\npath = "{path}"\ndestination = "/srv/{name}"\n'
            f'device = "{DEVICE}"\n{extra}\n')


@pytest.mark.parametrize("text, needle", [
    ("", "no layout trees configured"),
    ('[tree.t]\npath = "/x"\ndestinaton = "/srv/t"\n', "unknown key 'destinaton'"),
    ('[tree.t]\npath = "/x"\ndestination = "/srv/t"\n[tree.t.backup]\ntargets = 5\n',
     "targets must be a list"),
    ('[tree.t]\npath = "/x"\ndestination = "/srv/t"\n[tree.t.backup]\ntargets = ["/b"]\n'
     'schedule = "dayly"\n', "not a valid OnCalendar= expression"),
    ('[tree.t]\npath = "/x"\ndestination = "/srv/t"\n[tree.t.backup]\n'
     'targets = ["ssh://host:22:33/b"]\n', "not a valid ssh:// URL"),
])
def test_config_errors_are_exit_2_in_every_backup_command(tmp_path: Path, text: str,
                                                          needle: str) -> None:
    """An empty file, a mistyped key, a wrong type, a schedule systemd refuses and a target
    btrbk refuses: exit 2 with a one-line error in plan, run, status and verify."""
    config = tmp_path / "layout-trees.toml"
    config.write_text(text)
    env = base_env(tmp_path)
    for command in COMMANDS:
        result = layout("backup", *command, "-c", str(config), env=env, check=2)
        assert needle in result.stderr, (command, result.stderr)
        assert "ok:" not in result.stdout and "Traceback" not in result.stderr


def test_missing_and_foreign_trees_fail_verify_and_run(images, tmp_path: Path) -> None:  # noqa: F811
    """A tree that does not exist and a tree not on btrfs: verify names each on one line
    (exit 1), run exits 3 even though the good tree is backed up, status says so."""
    src, dst = images("src"), images("dst")
    good = Path(src.mountpoint) / "trees" / "good"
    subvol(good / "@a")
    foreign = tmp_path / "plain"  # the test's own directory is not on btrfs
    foreign.mkdir()
    target = Path(dst.mountpoint) / "backups"
    config = write_config(tmp_path / "layout-trees.toml",
                          {"good": (good, "/srv/good"), "gone": (tmp_path / "nope", "/srv/gone"),
                           "plain": (foreign, "/srv/plain")}, [str(target)])
    env = base_env(tmp_path)
    run = layout("backup", "run", "-c", str(config), env=env, check=3)
    assert "FAILED tree gone: not scanned" in run.stdout
    assert "FAILED tree plain: not scanned" in run.stdout
    assert f"target {target}: 1 of 1 leaf backed up" in run.stdout
    red = layout("backup", "verify", "-c", str(config), env=env, check=1).stdout.splitlines()
    assert sorted(line.split(":")[0] for line in red) == ["FAIL gone", "FAIL plain"], red
    status = layout("backup", "status", "-c", str(config), env=env).stdout
    assert "tree gone: NOT SCANNED" in status and "tree plain: NOT SCANNED" in status


def test_no_policy_and_nothing_covered_fail(images, tmp_path: Path) -> None:  # noqa: F811
    """A tree without a policy is one failing line of verify; when nothing at all is
    covered, verify says so and run fails instead of printing '0 backed up'."""
    src = images("src")
    tree = Path(src.mountpoint) / "trees" / "t"
    subvol(tree / "@a")
    subvol(tree / "@b")
    config = tmp_path / "layout-trees.toml"
    config.write_text(_tree_toml("t", tree))
    env = base_env(tmp_path)
    red = layout("backup", "verify", "-c", str(config), env=env, check=1).stdout.splitlines()
    assert red == [
        "FAIL (all trees): no leaf is covered by a backup policy: nothing is protected",
        "FAIL t: the tree has no backup policy, so none of its 2 leaves is backed up; add a "
        "[tree.t.backup] table"]
    run = layout("backup", "run", "-c", str(config), env=env, check=1)
    assert "no leaf is covered" in run.stderr
    assert "no backup policy" in layout("backup", "status", "-c", str(config), env=env).stdout
    assert "nothing is protected" in layout("backup", "plan", "-c", str(config), env=env).stdout


def test_a_bad_target_does_not_hide_the_good_one(images, tmp_path: Path) -> None:  # noqa: F811
    """A target not on btrfs (and one read-only): check reports LT063 for each; run leaves
    them out, the btrfs target receives everything, progress and the summary count per
    target."""
    src, dst, ro = images("src"), images("dst"), images("ro")
    tree = Path(src.mountpoint) / "trees" / "t"
    (subvol(tree / "@a") / "f").write_text("a\n")
    subvol(tree / "@b")
    good = Path(dst.mountpoint) / "backups"
    plain = tmp_path / "plain-backups"
    (Path(ro.mountpoint) / "backups").mkdir()
    subprocess.run(["mount", "-o", "remount,ro", ro.mountpoint], check=True)
    readonly = Path(ro.mountpoint) / "backups"
    config = write_config(tmp_path / "layout-trees.toml", {"t": (tree, "/srv/t")},
                          [str(good), str(plain), str(readonly)])
    env = base_env(tmp_path)
    check = layout("check", "-c", str(config), env=env, check=1).stdout
    assert check.count("LT063") == 2 and "not on a btrfs filesystem" in check
    assert "not writable" in check
    run = layout("backup", "run", "-c", str(config), env=env, check=3)
    # progress for the journal although the output is not a terminal, then per target
    assert "tree t: backing up 2 leaves (1 of 1 trees)" in run.stdout
    assert re.search(r"^tree t: done in \d+ s$", run.stdout, re.M), run.stdout
    assert f"target {good}: 2 of 2 leaves backed up" in run.stdout
    assert f"target {plain}: 0 of 2 leaves backed up: not used:" in run.stdout
    assert f"target {readonly}: 0 of 2 leaves backed up: not used:" in run.stdout
    assert not plain.exists(), "a target found unusable is not created"
    assert len([s for s in Target(str(good)).listing() if s.is_complete_backup]) == 2
    assert run.stderr.count("not on a btrfs filesystem") == 1


def test_unreachable_ssh_target_is_one_line_with_the_ssh_error(images, tmp_path: Path) -> None:  # noqa: F811
    """verify, status and --json name an unreachable ssh:// target in one line with ssh's
    complaint, never a remote script."""
    src, dst = images("src"), images("dst")
    tree = Path(src.mountpoint) / "trees" / "t"
    subvol(tree / "@a")
    local = Path(dst.mountpoint) / "backups"
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    remote = f"ssh://127.0.0.1:{port}/backups"
    config = write_config(tmp_path / "layout-trees.toml", {"t": (tree, "/srv/t")},
                          [str(local), remote])
    env = base_env(tmp_path)
    layout("backup", "run", "-c", str(config), env=env, check=3)
    red = layout("backup", "verify", "-c", str(config), env=env, check=1).stdout.splitlines()
    assert len(red) == 1 and red[0].startswith(f"FAIL t:@a: {remote}: cannot be checked: ")
    assert "Connection refused" in red[0] and "btrfs subvolume" not in red[0]
    data = json.loads(layout("backup", "verify", "-c", str(config), "--json", env=env,
                             check=1).stdout)["findings"]
    assert len(data) == 1 and "\n" not in data[0]["message"] and "realpath" not in \
        data[0]["message"] and data[0]["target"] == remote
    status = layout("backup", "status", "-c", str(config), env=env).stdout
    line = next(x for x in status.splitlines() if remote in x)
    assert "Connection refused" in line and "findmnt" not in status


def test_ipv6_ssh_target_end_to_end(images, tmp_path: Path, sshd) -> None:  # noqa: F811
    """ssh://[::1]:PORT/path: check, run, status and verify work, btrbk and our own ssh
    calls alike."""
    port, bindir = sshd
    src, dst = images("src"), images("dst")
    tree = Path(src.mountpoint) / "trees" / "t"
    (subvol(tree / "@a") / "f").write_text("a\n")
    (Path(dst.mountpoint) / "backups").mkdir()
    target = f"ssh://[::1]:{port}{dst.mountpoint}/backups"
    config = write_config(tmp_path / "layout-trees.toml", {"t": (tree, "/srv/t")}, [target])
    env = base_env(tmp_path, bindir)
    assert "LT063" not in layout("check", "-c", str(config), env=env, check=None).stdout
    run = layout("backup", "run", "-c", str(config), env=env)
    assert f"target {target}: 1 of 1 leaf backed up" in run.stdout
    layout("backup", "verify", "-c", str(config), "--max-age", "1h", env=env)


def test_run_waits_for_the_trees_lock(images, tmp_path: Path) -> None:  # noqa: F811
    """While persist (or anything holding the trees lock) works, backup run takes no
    snapshot; it starts once the lock is free."""
    src, dst = images("src"), images("dst")
    tree = Path(src.mountpoint) / "trees" / "t"
    subvol(tree / "@a")
    target = Path(dst.mountpoint) / "backups"
    config = write_config(tmp_path / "layout-trees.toml", {"t": (tree, "/srv/t")}, [str(target)])
    env = base_env(tmp_path)
    fd = os.open("/run/layout-trees.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        proc = subprocess.Popen([LAYOUT, "backup", "run", "-c", str(config)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(3)
        assert proc.poll() is None, proc.communicate()
        snaps = Path(src.mountpoint) / ".snapshots"
        assert not (snaps.exists() and os.listdir(snaps))
    finally:
        os.close(fd)
    _out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert os.listdir(Path(src.mountpoint) / ".snapshots")


def test_staged_leaf_is_never_counted(images, tmp_path: Path) -> None:  # noqa: F811
    """A leaf being built by persist (under a '.layout-trees-' name) is neither planned,
    backed up nor counted by verify."""
    src, dst = images("src"), images("dst")
    tree = Path(src.mountpoint) / "trees" / "t"
    subvol(tree / "@a")
    subvol(tree / ".layout-trees-persist.x" / "@half")
    target = Path(dst.mountpoint) / "backups"
    config = write_config(tmp_path / "layout-trees.toml", {"t": (tree, "/srv/t")}, [str(target)])
    env = base_env(tmp_path)
    plan = layout("backup", "plan", "-c", str(config), env=env).stdout
    assert "@half" not in plan and "1 of 1 leaf covered" in plan
    layout("backup", "run", "-c", str(config), env=env)
    assert not [n for n in os.listdir(target) if "half" in n]
    assert "@half" not in layout("backup", "verify", "-c", str(config), env=env).stdout


def test_non_utf8_name_costs_only_that_name(images, tmp_path: Path) -> None:  # noqa: F811
    """A leaf and a directory whose names are not UTF-8: run backs up every other leaf and
    writes a plain UTF-8 manifest without them; plan and verify name the bad ones (escaped)
    and why."""
    src, dst = images("src"), images("dst")
    tree = Path(src.mountpoint) / "trees" / "t"
    (subvol(tree / "@good") / "f").write_text("good\n")
    raw = os.fsencode(tree)
    subprocess.run([b"btrfs", b"subvolume", b"create", raw + b"/@caf\xff"], check=True,
                   capture_output=True)
    os.mkdir(raw + b"/dir\xfe")
    subprocess.run([b"btrfs", b"subvolume", b"create", raw + b"/dir\xfe/@x"], check=True,
                   capture_output=True)
    target = Path(dst.mountpoint) / "backups"
    config = write_config(tmp_path / "layout-trees.toml", {"t": (tree, "/srv/t")}, [str(target)])
    env = base_env(tmp_path)
    plan = layout("backup", "plan", "-c", str(config), env=env).stdout
    assert "- @caf\\xff" in plan and "not valid UTF-8" in plan and "- dir\\xfe/@x" in plan
    assert "1 of 3 leaves covered" in plan
    json.loads(layout("backup", "plan", "-c", str(config), "--json", env=env).stdout)
    run = layout("backup", "run", "-c", str(config), env=env)
    assert "ok     t:@good" in run.stdout
    stored = (target / "layout-trees-manifest.json").read_text(encoding="utf-8")
    manifest = json.loads(stored)
    assert [leaf["path"] for leaf in manifest["leaves"]] == [["@good"]]
    assert "\\udc" not in stored and all("\xfe" not in d["path"][0]
                                           for d in manifest["trees"][0]["directories"])
    red = layout("backup", "verify", "-c", str(config), env=env, check=1).stdout.splitlines()
    assert len(red) == 2 and all("not valid UTF-8" in line for line in red)
    assert any("@caf\\xff" in line for line in red) and any("dir\\xfe" in line for line in red)
