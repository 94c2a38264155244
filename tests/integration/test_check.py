"""``layout check`` on real btrfs: each rule that needs btrfs facts, on a tree
that triggers it and on a near-identical one that does not; the same tree
checked live and from its JSON snapshot gives the same findings; the command's
exit statuses; a clean tree gets one generated mount unit per leaf.

One loopback btrfs (``LoopBtrfs``) per test holds the trees; it is unmounted
and its loop device detached even when a test fails.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

btrfsutil = pytest.importorskip("btrfsutil")

from layout_trees.core.check import Report, check  # noqa: E402
from layout_trees.core.snapshot_json import dump_snapshot, load_snapshot  # noqa: E402
from layout_trees.shell.cli.check import read_config  # noqa: E402
from layout_trees.shell.loopdev import LoopBtrfs  # noqa: E402
from layout_trees.shell.run import run  # noqa: E402
from layout_trees.shell.scan import scan  # noqa: E402

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for loop devices and mounts"),
    pytest.mark.skipif(shutil.which("mkfs.btrfs") is None, reason="needs btrfs-progs"),
]

LAYOUT = str(Path(sys.executable).with_name("layout"))
BACKUP = 'backup = { targets = ["TOP/backups"] }\n'
"""A policy whose target is a directory on the lab's btrfs filesystem (TOP is replaced by
its mount point): check probes targets (LT063), and the lab's one is usable."""


@dataclass
class Lab:
    top: Path
    tmp: Path
    device: str
    extra_mounts: list[str] = field(default_factory=list)
    trees: dict[str, tuple[Path, str, str]] = field(default_factory=dict)

    def tree(self, name: str, destination: str | None = None, extra: str = BACKUP) -> Path:
        path = self.top / "trees" / name
        path.mkdir(parents=True)
        self.trees[name] = (path, destination or str(self.tmp / "dest" / name), extra)
        return path

    @property
    def config(self) -> Path:
        text = "".join(f'[tree.{name}]\npath = "{path}"\ndestination = "{dest}"\n{extra}\n'
                       for name, (path, dest, extra) in self.trees.items())
        text = text.replace('"TOP/backups"', f'"{self.top}/backups"')
        path = self.tmp / "layout-trees.toml"
        path.write_text(text, encoding="utf-8")
        return path

    def check(self, fstab: frozenset[str] = frozenset()) -> set[str]:
        """Rules found live; asserts the JSON snapshot of the same scan finds the same."""
        parsed = read_config(str(self.config))
        snapshot = scan(parsed.config, full=True, fstab=fstab)
        live = check(parsed.config, snapshot, parsed.problems)
        again, embedded = load_snapshot(dump_snapshot(snapshot, parsed.config))
        assert embedded is not None
        from_json = check(embedded.config, again, embedded.problems)
        assert from_json == live
        return rules(live)

    def bind(self, source: Path, target: Path) -> None:
        target.mkdir()
        run(["mount", "--bind", str(source), str(target)])
        self.extra_mounts.append(str(target))


def rules(report: Report) -> set[str]:
    return {f.rule for f in report.active}


def subvol(path: Path | bytes) -> None:
    btrfsutil.create_subvolume(path)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    with LoopBtrfs(str(tmp_path / "img"), size="256M", label="lt-check") as fs:
        assert fs.mountpoint and fs.device
        lab = Lab(Path(fs.mountpoint), tmp_path, fs.device)
        try:
            yield lab
        finally:
            for where in reversed(lab.extra_mounts):
                run(["umount", where], check=False)


# --- one rule at a time: triggers / does not trigger ---------------------------------


def test_at_not_subvolume(lab: Lab) -> None:
    """LT020: '@a' as a directory triggers; as a subvolume it does not."""
    (lab.tree("bad") / "@a").mkdir()
    subvol(lab.tree("good") / "@a")
    found = lab.check()
    assert "LT020" in found
    parsed = read_config(str(lab.config))
    report = check(parsed.config, scan(parsed.config))
    assert {f.tree for f in report.active if f.rule == "LT020"} == {"bad"}


def test_subvolume_without_at(lab: Lab) -> None:
    """LT021: a subvolume named 'a' triggers; '@a' does not."""
    subvol(lab.tree("t") / "a")
    assert "LT021" in lab.check()
    btrfsutil.delete_subvolume(str(lab.top / "trees" / "t" / "a"))
    subvol(lab.top / "trees" / "t" / "@a")
    assert "LT021" not in lab.check()


def test_nested_at_subvolume(lab: Lab) -> None:
    """LT022: '@y' inside leaf '@a' triggers; the same '@y' beside the leaf does not."""
    tree = lab.tree("t")
    subvol(tree / "@a")
    (tree / "@a" / "x").mkdir()
    subvol(tree / "@a" / "x" / "@y")
    found = lab.check()
    assert "LT022" in found and "LT023" not in found
    other = lab.tree("u")
    subvol(other / "@a")
    (other / "x").mkdir()
    subvol(other / "x" / "@y")
    parsed = read_config(str(lab.config))
    report = check(parsed.config, scan(parsed.config))
    assert {f.tree for f in report.active if f.rule == "LT022"} == {"t"}


def test_nested_plain_subvolume(lab: Lab) -> None:
    """LT023: a subvolume 'cache' inside leaf '@vm' triggers; a leaf without one does not."""
    tree = lab.tree("t")
    subvol(tree / "@vm")
    assert "LT023" not in lab.check()
    subvol(tree / "@vm" / "cache")
    assert "LT023" in lab.check()


def test_read_only_leaf(lab: Lab) -> None:
    """LT024: a read-only '@a' triggers; writable it does not."""
    tree = lab.tree("t")
    subvol(tree / "@a")
    assert "LT024" not in lab.check()
    btrfsutil.set_subvolume_read_only(str(tree / "@a"), True)
    assert "LT024" in lab.check()


def test_symlink(lab: Lab) -> None:
    """LT025: a symlink in the structure triggers; a directory does not."""
    tree = lab.tree("t")
    (tree / "www").symlink_to("/tmp")
    assert "LT025" in lab.check()
    (tree / "www").unlink()
    (tree / "www").mkdir()
    assert "LT025" not in lab.check()


def test_bind_mounted_subvolume_of_another_filesystem(lab: Lab) -> None:
    """LT026: a subvolume of another btrfs bind-mounted into the tree triggers; a local
    subvolume at the same place does not."""
    tree = lab.tree("t")
    with LoopBtrfs(str(lab.tmp / "other.img"), size="256M", label="lt-other") as other:
        assert other.mountpoint
        subvol(Path(other.mountpoint) / "@x")
        lab.bind(Path(other.mountpoint) / "@x", tree / "@x")
        try:
            found = lab.check()
        finally:
            run(["umount", str(tree / "@x")], check=False)
            lab.extra_mounts.remove(str(tree / "@x"))
    assert "LT026" in found
    (tree / "@x").rmdir()
    subvol(tree / "@x")
    assert "LT026" not in lab.check()


def test_unsafe_names(lab: Lab) -> None:
    """LT030: '@a,b' and a name that is not UTF-8 trigger; '@a_b' does not."""
    tree = lab.tree("t")
    subvol(tree / "@a,b")
    subvol(os.fsencode(tree) + b"/@bad\xff")
    parsed = read_config(str(lab.config))
    report = check(parsed.config, scan(parsed.config))
    unsafe = sorted(f.message for f in report.active if f.rule == "LT030")
    assert len(unsafe) == 2 and any("\\xff" in m for m in unsafe)
    lab.check()  # and the JSON snapshot agrees, non-UTF-8 name included
    good = lab.tree("u")
    subvol(good / "@a_b")
    report = check(*(lambda p: (p.config, scan(p.config)))(read_config(str(lab.config))))
    assert {f.tree for f in report.active if f.rule == "LT030"} == {"t"}


def test_name_needs_escaping(lab: Lab) -> None:
    """LT031: '@my data' triggers (unit name has \\x20); '@my-data' and '.local' do not
    (only '-' is escaped there, or nothing)."""
    subvol(lab.tree("t") / "@my-data")
    subvol(lab.top / "trees" / "t" / "@.local")
    assert "LT031" not in lab.check()
    subvol(lab.top / "trees" / "t" / "@my data")
    assert "LT031" in lab.check()


def test_clash(lab: Lab) -> None:
    """LT040: '@a' and 'a/@' map to one mount point; '@b' and 'a/@' do not."""
    tree = lab.tree("t")
    (tree / "a").mkdir()
    subvol(tree / "a" / "@")
    subvol(tree / "@b")
    assert "LT040" not in lab.check()
    subvol(tree / "@a")
    assert "LT040" in lab.check()


def test_hidden_by_other_tree(lab: Lab) -> None:
    """LT041: tree u mounting inside t's leaf triggers; side by side it does not.
    (A destination inside t's leaf mount is refused as LT044 instead.)"""
    dest = lab.tmp / "dest"
    subvol(lab.tree("t", str(dest / "srv")) / "@www")
    (lab.tree("u", str(dest)) / "srv" / "www").mkdir(parents=True)
    subvol(lab.trees["u"][0] / "srv" / "www" / "@img")
    assert "LT041" in lab.check()
    os.rename(lab.trees["u"][0] / "srv" / "www", lab.trees["u"][0] / "srv" / "static")
    assert "LT041" not in lab.check()
    lab.trees["u"] = (lab.trees["u"][0], str(dest / "srv" / "www" / "static"), BACKUP)
    assert "LT044" in lab.check()


def test_fstab_mount_point(lab: Lab) -> None:
    """LT042: fstab mounting the leaf's mount point triggers; its parent does not."""
    subvol(lab.tree("t") / "@a")
    where = lab.trees["t"][1]
    assert "LT042" in lab.check(frozenset({where + "/a"}))
    assert "LT042" not in lab.check(frozenset({where}))


def test_tree_and_device_not_found(lab: Lab) -> None:
    """LT010, LT011, LT012: a missing tree, a tree on ext4 and a missing device trigger;
    the btrfs tree with its real device does not."""
    lab.tree("t", extra=BACKUP + f'device = "{lab.device}"\n')
    assert not {"LT010", "LT011", "LT012"} & lab.check()
    lab.trees["gone"] = (lab.top / "nope", str(lab.tmp / "d1"), BACKUP)
    (lab.tmp / "ext").mkdir()
    lab.trees["ext"] = (lab.tmp / "ext", str(lab.tmp / "d2"), BACKUP)
    lab.trees["t"] = (lab.trees["t"][0], lab.trees["t"][1],
                      BACKUP + 'device = "/dev/disk/by-label/lt-no-such-label"\n')
    assert {"LT010", "LT011", "LT012"} <= lab.check()


def test_user_writable_structure(lab: Lab) -> None:
    """LT050: a directory owned by 'nobody' mapping outside nobody's home triggers; the same
    directory mapping exactly onto that home does not."""
    nobody = pwd.getpwnam("nobody")
    home = Path(nobody.pw_dir)
    tree = lab.tree("t", str(lab.tmp / "dest"))
    (tree / home.name).mkdir()
    os.chown(tree / home.name, nobody.pw_uid, nobody.pw_gid)
    assert "LT050" in lab.check()
    lab.trees["t"] = (tree, str(home.parent), BACKUP)
    assert "LT050" not in lab.check()
    os.chmod(tree, 0o777)
    assert "LT050" in lab.check()


def test_backup_coverage(lab: Lab) -> None:
    """LT060/LT061: no policy warns, an explicit skip notes; a covered leaf does neither."""
    tree = lab.tree("t", extra="")
    subvol(tree / "@a")
    assert "LT060" in lab.check()
    lab.trees["t"] = (tree, lab.trees["t"][1], BACKUP)
    found = lab.check()
    assert not {"LT060", "LT061"} & found
    os.setxattr(tree / "@a", "user.layout-trees.backup", b"skip")
    assert "LT061" in lab.check()


# --- the command ---------------------------------------------------------------------


def layout(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LAYOUT, *args], capture_output=True, text=True, timeout=120)


def test_command_live_and_snapshot_agree(lab: Lab) -> None:
    """The JSON findings of a live check equal those of a check of 'layout snapshot'."""
    tree = lab.tree("t")
    subvol(tree / "@a")
    (tree / "@b").mkdir()
    (tree / "ln").symlink_to("/tmp")
    config = str(lab.config)
    live = layout("check", "--config", config, "--format", "json")
    assert live.returncode == 1, live.stderr
    snap = layout("snapshot", "--config", config)
    assert snap.returncode == 0, snap.stderr
    (lab.tmp / "snap.json").write_text(snap.stdout, encoding="utf-8")
    offline = layout("check", "--snapshot", str(lab.tmp / "snap.json"), "--format", "json")
    assert offline.returncode == 1, offline.stderr
    assert json.loads(offline.stdout) == json.loads(live.stdout)
    assert {f["rule"] for f in json.loads(live.stdout)["findings"]} >= {"LT020", "LT025"}


def test_clean_tree_passes_and_generates_one_unit_per_leaf(lab: Lab) -> None:
    """A clean tree exits 0, and the generator writes exactly one mount unit per leaf."""
    tree = lab.tree("t")
    for leaf in ("@a", "@b"):
        subvol(tree / leaf)
    (tree / "c").mkdir()
    subvol(tree / "c" / "@")
    config = str(lab.config)
    result = layout("check", "--config", config, "--strict")
    assert result.returncode == 0, result.stdout + result.stderr
    out = lab.tmp / "units"
    gen = layout("generate", str(out), "--config", config)
    assert gen.returncode == 0, gen.stderr
    assert len(list(out.glob("*.mount"))) == 3
    assert layout("check", "--config", str(lab.tmp / "missing.toml")).returncode == 2
