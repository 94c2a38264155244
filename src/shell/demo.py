"""``layout demo``: the whole mount path on a throw-away loopback image.

Builds a btrfs image with two example layout trees (a user's home and a
system tree, with nested leaves, awkward names and a few entries that must
not be mounted), runs the real generator on it, shows the plan and the
units, then mounts every unit as systemd would (directories first, through
``systemd-tmpfiles``, then each mount in order) below a demo root so the
machine's own paths are never touched.  Everything is unmounted and the
loop device detached at the end, even on failure.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from pathlib import Path

import typer

from ..core.errors import EnvironmentProblem
from . import btrfs, mounts
from .loopdev import LoopBtrfs
from .mounttable import read_mounts
from .run import run
from .unitfile import mount_fields, tmpfiles_lines

DEMO_TREES = {
    "alice": {
        "dirs": {".local": (1000, 1000, 0o700), ".local/share": (1000, 1000, 0o755),
                 "ws": (1000, 1000, 0o750)},
        "leaves": ["@ws", "ws/@5-VMs", ".local/share/@cache", "@My Documents", "@Über"],
        "root_owner": (1000, 1000, 0o700),
    },
    "system": {
        "dirs": {"var": (0, 0, 0o755), "var/lib": (0, 0, 0o755)},
        "leaves": ["var/lib/@docker", "var/@log"],
        "root_owner": (0, 0, 0o755),
    },
}


def _need(tool: str) -> None:
    if shutil.which(tool) is None:
        raise EnvironmentProblem(f"{tool}: command not found", "run scripts/setup as root first")


def build_trees(top: str) -> None:
    """Create the example trees below the filesystem's top level ``top``."""
    for name, spec in DEMO_TREES.items():
        root = os.path.join(top, "trees", name)
        os.makedirs(root)
        uid, gid, mode = spec["root_owner"]  # type: ignore[misc]
        os.chown(root, uid, gid)
        os.chmod(root, mode)
        for rel, (uid, gid, mode) in spec["dirs"].items():  # type: ignore[attr-defined]
            path = os.path.join(root, rel)
            os.makedirs(path, exist_ok=True)
            os.chown(path, uid, gid)
            os.chmod(path, mode)
        for rel in spec["leaves"]:  # type: ignore[attr-defined]
            path = os.path.join(root, rel)
            btrfs.cli("subvolume", "create", path)
            Path(path, "MARKER").write_text(f"{name}:{rel}\n")
    alice = os.path.join(top, "trees", "alice")
    btrfs.snapshot(os.path.join(alice, "@ws"), os.path.join(alice, "@ws-snapshot"),
                   read_only=True)
    os.mkdir(os.path.join(alice, "@not-a-subvolume"))
    btrfs.cli("subvolume", "create", os.path.join(alice, "@bad,name"))
    os.symlink("@ws", os.path.join(alice, "@link-to-ws"))


def run_demo(workdir: Path, keep: bool = False) -> None:
    if os.geteuid() != 0:
        raise EnvironmentProblem("the demo mounts a loopback image and needs root",
                                 "run it as root (sudo)")
    for tool in ("losetup", "mkfs.btrfs", "btrfs", "mount", "systemd-tmpfiles"):
        _need(tool)
    workdir = workdir.resolve()
    if workdir.exists():
        _clean_previous(workdir)
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    demo_root = workdir / "root"
    units_dir = workdir / "units"
    config = workdir / "layout-trees.toml"
    loop = LoopBtrfs(str(workdir / "disk.img"), "512M", "layout-demo", str(workdir / "top"))
    mounted: list[str] = []
    try:
        loop.open()
        top = loop.mountpoint
        assert top is not None
        _step(f"created a btrfs image on {loop.device}, top level mounted at {top}")
        build_trees(top)
        config.write_text(
            "# layout-trees demo configuration\n"
            f'[tree.alice]\npath = "{top}/trees/alice"\ndestination = "{demo_root}/home/alice"\n\n'
            f'[tree.system]\npath = "{top}/trees/system"\ndestination = "{demo_root}"\n'
            'options = ["noatime"]\n\n'
            f'[tree.missing]\npath = "{top}/trees/not-there"\ndestination = "{demo_root}/srv"\n'
        )
        _step(f"wrote {config}")
        _show(config.read_text())
        env = dict(os.environ, LAYOUT_TREES_CONFIG=str(config))
        layout = _sibling("layout")
        _step("layout plan")
        run([*layout, "plan"], env=env, check=False, capture=False)
        _step("layout check (the linter finds the entries that will not be mounted)")
        run([*layout, "check"], env=env, check=False, capture=False)
        _step(f"layout-trees-generator {units_dir} (as systemd would run it)")
        units_dir.mkdir()
        run([*_sibling("layout-trees-generator"), str(units_dir), str(units_dir), str(units_dir)],
            env=env, capture=False)
        for path in sorted(units_dir.rglob("*")):
            if not path.is_dir():
                print(f"    {path.relative_to(units_dir)}")
        first = sorted(units_dir.glob("*-ws.mount"))
        if first:
            _step(f"one of the units: {first[0].name}")
            _show(first[0].read_text())
        _step("applying the directories units (systemd-tmpfiles) and mounting every unit")
        for service in sorted(units_dir.glob("layout-trees-directories*.service")):
            lines = tmpfiles_lines(service.read_text())
            run(["systemd-tmpfiles", "--create", "-"], input="\n".join(lines).encode() + b"\n")
        units = [mount_fields(p.read_text()) for p in sorted(units_dir.glob("*.mount"))]
        for fields in sorted(units, key=lambda f: f["Where"].count("/")):
            os.makedirs(fields["Where"], exist_ok=True)
            entry = mounts.mount_own(fields["Type"], fields["Options"], fields["What"],
                                     fields["Where"])
            if entry is not None:
                mounted.append(entry)
        _step(f"mounted {len(mounted)} leaves below {demo_root}")
        for where in sorted(m.mountpoint for m in mounted):
            marker = Path(where, "MARKER")
            found = marker.read_text().strip() if marker.exists() else "NO MARKER"
            print(f"    {where}  <-  leaf {found}")
        _step("owners and modes of the directories above the mount points")
        run(["stat", "-c", "    %n %u:%g %a", str(demo_root / "home/alice"),
             str(demo_root / "home/alice/.local")], check=False, capture=False)
        if keep:
            _step(f"left mounted (--keep); clean up with: umount -R {demo_root} {top} && "
                  f"losetup -d {loop.device}")
            mounted.clear()
            loop.device = loop.mountpoint = None  # nothing for close() to undo
            return
    finally:
        for entry in reversed(mounted):
            with contextlib.suppress(EnvironmentProblem):
                mounts.unmount_exact(entry)
        loop.close()
    _step("unmounted everything and detached the loop device: demo complete")


def _clean_previous(workdir: Path) -> None:
    """Unmount and detach what an earlier ``--keep`` demo left in ``workdir``."""
    prefix = str(workdir) + "/"
    for entry in sorted(read_mounts(), key=lambda m: (m.mountpoint, m.mount_id), reverse=True):
        if entry.mountpoint.startswith(prefix):
            with contextlib.suppress(EnvironmentProblem):
                mounts.unmount_exact(entry)
    image = workdir / "disk.img"
    if image.exists():
        attached = run(["losetup", "--associated", str(image), "--output", "NAME", "--noheadings",
                        "--list"], check=False).stdout.decode().split()
        for device in attached:
            run(["losetup", "--detach", device], check=False)


def _sibling(name: str) -> list[str]:
    candidate = Path(sys.argv[0]).resolve().parent / name
    return [str(candidate)] if candidate.exists() else [name]


def _step(text: str) -> None:
    typer.secho(f"==> {text}", bold=True)


def _show(text: str) -> None:
    for line in text.rstrip("\n").splitlines():
        print(f"    {line}")
