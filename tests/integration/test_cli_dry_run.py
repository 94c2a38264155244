"""``--dry-run`` on real btrfs: every command that changes something says what it would do
and changes nothing (the filesystems, their subvolumes and the mount table compared before
and after); the same command without ``--dry-run`` does change them, so each comparison can
fail.  The backup documents printed on the way are checked against their JSON schemas."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import jsonschema
import layout_trees as lt
import pytest
from test_backup_support import (
    checksums,
    images,  # noqa: F401  (fixture)
    layout,
    one_tree,
    subvol,
)

pytestmark = pytest.mark.integration

ATTR = "user.layout-trees.backup"


def _mounts(devices: tuple[str, ...], below: str) -> list[str]:
    """The mounts of the test's own devices, or below its directory, without mount ids
    (other programs on a shared machine mount and unmount their own meanwhile)."""
    with open("/proc/self/mountinfo", encoding="utf-8") as handle:
        lines = [line.split() for line in handle]
    return sorted(" ".join(f[3:]) for f in lines
                  if f[f.index("-") + 2] in devices or f[4].startswith(below))


def _subvolumes(top: Path) -> str:
    """Every subvolume by id, path and UUIDs; not by generation, a transaction counter
    that the read-only checks of ``drop`` move on (a snapshot made and deleted again)."""
    listed = subprocess.run(["btrfs", "subvolume", "list", "-a", "-u", "-q", "-R", str(top)],
                            check=True, capture_output=True, text=True).stdout
    return re.sub(r" gen [0-9]+ ", " ", listed)


def _state(devices: tuple[str, ...], below: str, *tops: Path) -> tuple[object, ...]:
    """Everything a command could change: each filesystem's files (with modes, owners,
    xattrs), its subvolumes (with UUIDs), and the mount table."""
    return (*[checksums(top) for top in tops], *[_subvolumes(top) for top in tops],
            _mounts(devices, below))


def _device(top: Path) -> str:
    return subprocess.run(["findmnt", "-n", "-o", "SOURCE", "--target", str(top)], check=True,
                          capture_output=True, text=True).stdout.strip().split("[")[0]


def _valid(text: str, name: str) -> dict[str, object]:
    data = json.loads(text)
    jsonschema.validate(data, lt.schema(name))
    assert data["format"] == f"layout-trees-{name}" and data["version"] == 1
    return data


def test_dry_runs_change_nothing_and_the_real_runs_do(images, tmp_path: Path) -> None:  # noqa: F811
    """exclude, include, backup run, drop and restore with --dry-run (or -n) leave the
    filesystems and the mount table exactly as they were and say "would"; without it they
    change them."""
    lab = one_tree(images, tmp_path, "300M", "300M")
    src, dst = Path(str(lab.source.mountpoint)), lab.target.parent
    keep = subvol(lab.tree / "@keep")
    (keep / "f").write_text("kept\n")
    gone = subvol(lab.tree / "a" / "@gone")
    (gone / "g").write_text("dropped\n")
    cfg, env = str(lab.config), lab.env
    devices = tuple(str(os.path.realpath(d)) for d in (lab.source.device, _device(dst)))

    def state() -> tuple[object, ...]:
        return _state(devices, str(tmp_path), src, dst)

    def unchanged(*args: str, check: int = 0) -> str:
        before = state()
        out = layout(*args, env=env, check=check).stdout
        assert state() == before, f"layout {' '.join(args)} changed something"
        return out

    def changed(*args: str) -> None:
        before = state()
        layout(*args, env=env)
        assert state() != before, f"layout {' '.join(args)} changed nothing"

    assert "would be excluded" in unchanged("backup", "exclude", "--dry-run", str(keep))
    assert ATTR not in os.listxattr(keep)
    changed("backup", "exclude", str(keep))
    assert os.getxattr(keep, ATTR) == b"skip"
    assert "would be backed up" in unchanged("backup", "include", "-n", str(keep))
    assert os.getxattr(keep, ATTR) == b"skip"
    changed("backup", "include", str(keep))

    out = unchanged("backup", "run", "-c", cfg, "--dry-run")
    assert "would back up tree main: 2 leaves" in out and "+ @keep" in out, out
    assert list(lab.target.iterdir()) == []
    verify = layout("backup", "verify", "-c", cfg, "--format", "json", env=env, check=1).stdout
    data = _valid(verify, "backup-verify")
    assert data["ok"] is False and {f["target"] for f in data["findings"]} == {str(lab.target)}
    changed("backup", "run", "-c", cfg)

    status = _valid(layout("backup", "status", "-c", cfg, "-f", "json", env=env).stdout,
                    "backup-status")
    assert len(status["leaves"]) == 2
    data = _valid(layout("backup", "verify", "-c", cfg, "--json", env=env).stdout,
                  "backup-verify")
    assert data["ok"] is True and data["findings"] == [] and data["covered"] == 2
    text = layout("backup", "verify", "-c", cfg, env=env).stdout
    assert "2 of 2 leaves covered" in text
    assert "2 of 2 leaves covered" in layout("backup", "plan", "-c", cfg, env=env).stdout

    out = unchanged("drop", "-c", cfg, "--dry-run", str(gone))
    assert "would be deleted" in out and gone.exists()
    changed("drop", "-c", cfg, str(gone))
    assert not gone.exists()

    into = dst / "restored"
    out = unchanged("restore", "--from", str(lab.target), "--into", str(into), "-n")
    assert "would" in out and "@keep" in out and not into.exists(), out
    changed("restore", "--from", str(lab.target), "--into", str(into))
    assert (into / "@keep" / "f").read_text() == "kept\n"
    out = unchanged("restore", "--from", str(lab.target), "--into", str(into), "--dry-run")
    assert "would" in out, out


def test_a_dry_run_still_refuses_what_the_real_run_refuses(images, tmp_path: Path) -> None:  # noqa: F811
    """drop --dry-run of a leaf with no backup refuses (exit 1) like drop, and deletes
    nothing; exclude --dry-run of a plain directory is the same one-line error (exit 2)."""
    lab = one_tree(images, tmp_path, "300M", "300M")
    leaf = subvol(lab.tree / "@new")
    plain = lab.tree / "plain"
    plain.mkdir()
    out = layout("drop", "-c", str(lab.config), "-n", str(leaf), env=lab.env, check=1)
    assert "refusing to drop" in out.stderr and leaf.exists()
    err = layout("backup", "exclude", "-n", str(plain), env=lab.env, check=2).stderr
    assert err.startswith("layout: error: ") and "not a btrfs subvolume" in err
