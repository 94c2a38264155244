"""The installed ``layout-trees-generator`` on a real btrfs tree, and its units mounted for real.

A tree on a loop device holds every case: nested leaves (``@ws`` and
``ws/@5-VMs``), names with spaces and unicode, a leaf in a directory inside
another leaf, a read-only snapshot, a symlink to another subvolume, a comma in
a name, an ``@dir`` that is no subvolume, structure directories with other
owners and modes, and a second configured tree that does not exist.  The
generator runs as the console script with ``LAYOUT_TREES_CONFIG``; then every
mount unit is mounted with its own What/Where/Options in dependency order,
the directories units' tmpfiles lines go through the real
``systemd-tmpfiles --create``, and each leaf's marker file must appear where
its mount point says, below directories with the tree's owners and modes.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import btrfsutil
import pytest
from layout_trees.shell.loopdev import LoopBtrfs

pytestmark = pytest.mark.integration

GENERATOR = str(Path(sys.executable).with_name("layout-trees-generator"))


def sh(*cmd: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(list(cmd), capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"{cmd}: {done.stderr}"
    return done


def subvolume(path: Path, marker: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sh("btrfs", "subvolume", "create", str(path))
    if marker is not None:
        (path / "marker").write_text(marker, encoding="utf-8")


def directory(path: Path, uid: int, gid: int, mode: int) -> None:
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, uid, gid)
    os.chmod(path, mode)


def run_generator(config: Path, out: Path) -> str:
    out.mkdir(parents=True, exist_ok=True)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LAYOUT_TREES_CONFIG": str(config),
           "SYSTEMD_LOG_LEVEL": "debug", "SYSTEMD_PROC_CMDLINE": ""}
    done = subprocess.run([GENERATOR, str(out), str(out), str(out)], env=env,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    return done.stderr


def unit_values(text: str) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            values.setdefault(key, []).append(value)
    return values


def c_unescape(value: str) -> str:
    """Undo systemd's unit-file escaping of StandardInputText= (C escapes, then %%)."""
    raw = value.encode("utf-8", "surrogateescape").decode("unicode_escape").encode("latin-1")
    return raw.decode("utf-8").replace("%%", "%")


@dataclass
class MountUnit:
    name: str
    what: str
    where: str
    options: str


def mount_units(out: Path) -> list[MountUnit]:
    found = []
    for path in sorted(out.glob("*.mount")):
        values = unit_values(path.read_text(encoding="utf-8"))
        assert values["Type"] == ["btrfs"]
        found.append(MountUnit(path.name, values["What"][0].replace("%%", "%"),
                               values["Where"][0].replace("%%", "%"),
                               values["Options"][0].replace("%%", "%")))
    return found


def apply_directories(unit: Path, tmp: Path) -> None:
    values = unit_values(unit.read_text(encoding="utf-8"))
    lines = [c_unescape(v) for v in values.get("StandardInputText", [])]
    assert lines, f"{unit.name} has no tmpfiles lines"
    conf = tmp / f"{unit.name}.conf"
    conf.write_text("\n".join(lines) + "\n", encoding="utf-8")
    sh("systemd-tmpfiles", "--create", str(conf))


def mount_all(out: Path, tmp: Path, mounted: list[str]) -> list[MountUnit]:
    """Mount every unit in dependency order, applying directories units before they are needed."""
    units = sorted(mount_units(out), key=lambda u: u.where.count("/"))
    directories = sorted(out.glob("layout-trees-directories*.service"))
    applied: set[str] = set()
    for unit in units:
        for service in directories:
            before = unit_values(service.read_text(encoding="utf-8")).get("Before", [])
            if service.name not in applied and unit.name in before:
                apply_directories(service, tmp)
                applied.add(service.name)
        os.makedirs(unit.where, exist_ok=True)
        sh("mount", "-t", "btrfs", "-o", unit.options, unit.what, unit.where)
        mounted.append(unit.where)
    assert applied == {s.name for s in directories}, "a directories unit is ordered before nothing"
    return units


def owner_mode(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)


def test_generator_units_mount_for_real(loop_btrfs: LoopBtrfs, mounts: list[str],
                                        tmp_path: Path) -> None:
    """Every valid leaf mounts at its place with its marker; nothing else gets a unit."""
    top = Path(loop_btrfs.mountpoint or "")
    tree = top / "trees" / "alice"
    directory(tree, 1000, 1000, 0o750)
    subvolume(tree / "@ws", "ws")
    directory(tree / "ws", 1001, 1002, 0o711)
    subvolume(tree / "ws" / "@5-VMs", "vms")
    directory(tree / "ws" / "sub dir", 1004, 1004, 0o770)
    subvolume(tree / "ws" / "sub dir" / "@inner", "inner")
    subvolume(tree / "@a b é", "unicode")
    directory(tree / "deep", 1000, 1000, 0o700)
    directory(tree / "deep" / "er", 1003, 1003, 0o755)
    subvolume(tree / "deep" / "er" / "@x", "x")
    subvolume(tree / "@", "root leaf")
    sh("btrfs", "subvolume", "snapshot", "-r", str(tree / "@ws"), str(tree / "@snap"))
    subvolume(top / "elsewhere" / "@other", "other")
    (tree / "@link").symlink_to(top / "elsewhere" / "@other")
    subvolume(tree / "@bad,name", "comma")
    (tree / "@dir").mkdir()

    dest = tmp_path / "dest" / "home" / "alice"
    config = tmp_path / "layout-trees.toml"
    config.write_text(
        f'[tree.alice]\npath = "{tree}"\ndestination = "{dest}"\noptions = ["noatime"]\n'
        f'[tree.gone]\npath = "{top}/trees/nobody"\ndestination = "{tmp_path}/dest/nobody"\n',
        encoding="utf-8")
    out = tmp_path / "out"
    log = run_generator(config, out)

    expected = {
        str(dest): "root leaf",
        str(dest / "ws"): "ws",
        str(dest / "ws" / "5-VMs"): "vms",
        str(dest / "ws" / "sub dir" / "inner"): "inner",
        str(dest / "a b é"): "unicode",
        str(dest / "deep" / "er" / "x"): "x",
    }
    units = mount_all(out, tmp_path, mounts)
    assert sorted(u.where for u in units) == sorted(expected)
    for unit in units:
        assert unit.what == loop_btrfs.device
        assert unit.options.endswith(",noatime")
    for where, marker in expected.items():
        assert (Path(where) / "marker").read_text(encoding="utf-8") == marker, where

    # directories between the destination and the mounts have the tree's owners and modes
    assert owner_mode(dest / "deep") == (1000, 1000, 0o700)
    assert owner_mode(dest / "deep" / "er") == (1003, 1003, 0o755)
    assert owner_mode(dest / "ws" / "sub dir") == (1004, 1004, 0o770)

    for reason in ("read-only", "symlink", "unsafe-name", "not-subvolume", "tree-missing"):
        assert f"[{reason}]" in log, f"{reason} not reported:\n{log}"
    for name in ("@snap", "@link", "@bad,name", "@dir"):
        assert name in log
    assert not list(out.glob("*snap*")) and not list(out.glob("*bad*"))


def test_generator_prototype_readme_example(loop_btrfs: LoopBtrfs, tmp_path: Path) -> None:
    """The prototype README's configuration gives its documented units."""
    top = Path(loop_btrfs.mountpoint or "")
    tree = top / "subvolumes" / "per-user" / "@roosemberth"
    subvolume(tree)
    subvolume(tree / "@ws")
    (tree / "ws").mkdir()
    subvolume(tree / "ws" / "@5-VMs")
    config = tmp_path / "layout-trees.json"
    config.write_text(json.dumps([{
        "layout_tree": str(tree), "tree_prefix": str(top), "destination": "/home/roosemberth",
        "device_path": "/dev/mapper/Mimir", "extra_opts": ["user_subvol_rm_allowed"],
    }]), encoding="utf-8")
    out = tmp_path / "out"
    run_generator(config, out)
    ws = unit_values((out / "home-roosemberth-ws.mount").read_text(encoding="utf-8"))
    assert ws["What"] == ["/dev/mapper/Mimir"]
    assert ws["Where"] == ["/home/roosemberth/ws"]
    assert ws["Type"] == ["btrfs"]
    ws_id = btrfsutil.subvolume_id(str(tree / "@ws"))
    assert ws["Options"] == [
        f"subvol=/subvolumes/per-user/@roosemberth/@ws,subvolid={ws_id},user_subvol_rm_allowed"]
    vms = unit_values((out / "home-roosemberth-ws-5\\x2dVMs.mount").read_text(encoding="utf-8"))
    assert vms["Where"] == ["/home/roosemberth/ws/5-VMs"]
    vms_id = btrfsutil.subvolume_id(str(tree / "ws" / "@5-VMs"))
    assert vms["Options"] == [
        f"subvol=/subvolumes/per-user/@roosemberth/ws/@5-VMs,subvolid={vms_id},"
        "user_subvol_rm_allowed"]
    assert sorted(p.name for p in out.glob("*.mount")) == [
        "home-roosemberth-ws-5\\x2dVMs.mount", "home-roosemberth-ws.mount"]


def test_generator_output_passes_systemd_analyze_verify(loop_btrfs: LoopBtrfs,
                                                        tmp_path: Path) -> None:
    """What the real generator wrote from a real tree passes systemd-analyze verify."""
    top = Path(loop_btrfs.mountpoint or "")
    tree = top / "t"
    directory(tree / "a b", 1000, 1000, 0o700)
    subvolume(tree / "a b" / "@c%d")
    subvolume(tree / "@e")
    config = tmp_path / "c.toml"
    config.write_text(f'[tree.t]\npath = "{tree}"\ndestination = "{tmp_path}/d"\n',
                      encoding="utf-8")
    out = tmp_path / "out"
    run_generator(config, out)
    units = sorted(str(p) for p in out.iterdir() if p.is_file() and re.search(r"\.\w+$", p.name))
    assert len(units) >= 3
    done = subprocess.run(["systemd-analyze", "verify", "--man=no", *units],
                          capture_output=True, text=True, cwd=out)
    assert (done.returncode, done.stderr.strip()) == (0, "")
