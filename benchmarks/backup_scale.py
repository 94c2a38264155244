"""How long ``layout backup status``, ``verify``, ``plan`` and drop's listing take at scale.

Builds two loopback btrfs images (backed by files in ``--dir``, /dev/shm by default):

- the source: one tree with LEAVES leaves (``gNN/@leafNNNN``, 100 per structure
  directory) and SNAPSHOTS read-only snapshots of each in ``.snapshots``, named as btrbk
  names them;
- the target: BACKUPS backups of each leaf in ``backups/``, read-only with a received UUID
  and btrbk's names, as btrbk leaves them after that many runs.  They are made cheaply,
  as read-only snapshots of one received template (a read-only snapshot keeps the
  received UUID), which is what a listing sees of real backups.

Then it times, end to end as a user runs them (median of RUNS): ``layout backup status``,
``verify``, ``plan``, and in-process the listing part of ``drop`` (the target and the
snapshot directory), once with the local target and once through ``ssh://127.0.0.1``
(a real sshd, as the integration tests start it).

Run as root: ``.venv/bin/python benchmarks/backup_scale.py [--leaves 2000] [--backups 30]``.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import resource
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import btrfsutil
from layout_trees.core.backup.manifest import snapshot_name
from layout_trees.shell.loopdev import LoopBtrfs

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "integration"))
LAYOUT = str(Path(sys.executable).parent / "layout")
# BTRFS_IOC_SET_RECEIVED_SUBVOL: _IOWR(0x94, 37, struct btrfs_ioctl_received_subvol_args)
_SET_RECEIVED = 0xC0000000 | (200 << 16) | (0x94 << 8) | 37


def stamp(seconds: float) -> str:
    return time.strftime("%Y%m%dT%H%M%S+0000", time.gmtime(seconds))


def set_received(path: str) -> None:
    """Give a writable subvolume a received UUID, as ``btrfs receive`` does at its end."""
    args = struct.pack("=16sQQQIxxxxQIxxxxQ128x", uuid.uuid4().bytes, 1, 0, 0, 0, 0, 0, 0)
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.ioctl(fd, _SET_RECEIVED, bytearray(args))
    finally:
        os.close(fd)


def build(src: str, dst: str, leaves: int, backups: int, snapshots: int) -> Path:
    """The tree, its snapshots and the target's backups; returns the tree's path."""
    tree = Path(src) / "trees" / "main"
    snaps = Path(src) / ".snapshots"
    target = Path(dst) / "backups"
    for d in (snaps, target):
        d.mkdir(parents=True, exist_ok=True)
    template = str(Path(dst) / "template")
    btrfsutil.create_subvolume(template)
    set_received(template)
    btrfsutil.set_subvolume_read_only(template, True)
    now = time.time()
    for i in range(leaves):
        group = tree / f"g{i // 100:02d}"
        group.mkdir(parents=True, exist_ok=True)
        leaf = group / f"@leaf{i:04d}"
        btrfsutil.create_subvolume(str(leaf))
        name = snapshot_name("main", (group.name, leaf.name))
        for k in range(snapshots):
            btrfsutil.create_snapshot(str(leaf), str(snaps / f"{name}.{stamp(now - k * 86400)}"),
                                      read_only=True)
        for k in range(backups):
            btrfsutil.create_snapshot(template, str(target / f"{name}.{stamp(now - k * 86400)}"),
                                      read_only=True)
        if i % 200 == 199:
            print(f"  built {i + 1} leaves", file=sys.stderr, flush=True)
    return tree


def config(path: Path, tree: Path, target: str) -> Path:
    path.write_text(f'[tree.main]\npath = "{tree}"\ndestination = "/srv/main"\n'
                    f'device = "/dev/disk/by-label/layout-bench"\n\n[tree.main.backup]\n'
                    f'targets = ["{target}"]\nsnapshot_dir = ".snapshots"\n')
    return path


CPU: dict[str, float] = {}
"""CPU seconds (user + system, the command and its helpers) of the last timed command: on a
shared machine wall times vary with the load, CPU times much less."""


def timed(args: list[str], env: dict[str, str], runs: int, ok: tuple[int, ...]) -> float:
    times, cpu = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        result = subprocess.run([LAYOUT, *args], env=env, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        CPU[args[1]] = statistics.median(cpu)
        if result.returncode not in ok:
            raise SystemExit(f"layout {' '.join(args)} exited {result.returncode}:\n"
                             f"{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return statistics.median(times)


def drop_listing(url: str, snaps: str, runs: int) -> float:
    """The listing part of drop: what the target and the snapshot directory hold."""
    from layout_trees.shell.backup import list_dirs

    times, cpu = [], []
    for _ in range(runs):
        before = [resource.getrusage(r) for r in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
        start = time.perf_counter()
        found = list_dirs([url, snaps])
        times.append(time.perf_counter() - start)
        after = [resource.getrusage(r) for r in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
        cpu.append(sum(a.ru_utime - b.ru_utime + a.ru_stime - b.ru_stime
                       for a, b in zip(after, before, strict=True)))
        assert not any(isinstance(v, str) for v in found.values()), found
    CPU["drop listing"] = statistics.median(cpu)
    return statistics.median(times)


def measure(label: str, conf: Path, env: dict[str, str], url: str, snaps: str,
            runs: int) -> dict[str, float]:
    figures = {
        "status": timed(["backup", "status", "-c", str(conf)], env, runs, (0,)),
        "verify": timed(["backup", "verify", "-c", str(conf), "--max-age", "2d"], env, runs,
                        (0,)),
        "plan": timed(["backup", "plan", "-c", str(conf)], env, runs, (0,)),
        "drop listing": drop_listing(url, snaps, runs),
    }
    for what, seconds in figures.items():
        print(f"{label:6} {what:14} {seconds:7.2f} s  (CPU {CPU[what]:.2f} s)", flush=True)
    return figures


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--leaves", type=int, default=2000)
    parser.add_argument("--backups", type=int, default=30)
    parser.add_argument("--snapshots", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", default="/dev/shm" if os.path.isdir("/dev/shm") else None)
    parser.add_argument("--no-ssh", action="store_true")
    parser.add_argument("--reuse", metavar="WORK",
                        help="measure again on the images a --keep run left in WORK")
    parser.add_argument("--keep", action="store_true",
                        help="leave the images mounted (to profile); prints where")
    args = parser.parse_args(argv)
    if args.reuse:
        args.keep = True
    work = Path(args.reuse or tempfile.mkdtemp(prefix="layout-bench-", dir=args.dir))
    size = f"{max(512, args.leaves * (args.backups + args.snapshots) // 16)}M"
    src = LoopBtrfs(str(work / "src.img"), size, label="lt-bench-src",
                    mountpoint=str(work / "src"))
    dst = LoopBtrfs(str(work / "dst.img"), size, label="lt-bench-dst",
                    mountpoint=str(work / "dst"))
    results: dict[str, dict[str, float]] = {}
    try:
        if args.reuse:
            tree = work / "src" / "trees" / "main"
        else:
            src.open()
            dst.open()
            start = time.perf_counter()
            tree = build(str(src.mountpoint), str(dst.mountpoint), args.leaves, args.backups,
                         args.snapshots)
            print(f"{args.leaves} leaves x {args.backups} backups (+{args.snapshots} "
                  f"snapshots each) built in {time.perf_counter() - start:.0f} s", flush=True)
        env = dict(os.environ, LAYOUT_TREES_BACKUP_RUN_DIR=str(work / "run"))
        snaps = f"{src.mountpoint}/.snapshots"
        local = f"{dst.mountpoint}/backups"
        results["local"] = measure("local", config(work / "local.toml", tree, local), env,
                                   local, snaps, args.runs)
        if not args.no_ssh:
            from test_backup_support import ssh_server

            path = os.environ.get("PATH", "/usr/bin:/bin")
            shutil.rmtree(work / "ssh", ignore_errors=True)
            with ssh_server(work / "ssh") as (port, bindir):
                url = f"ssh://127.0.0.1:{port}{local}"
                env_ssh = dict(env, PATH=f"{bindir}:{path}")
                os.environ["PATH"] = env_ssh["PATH"]  # drop's listing runs in this process
                try:
                    results["ssh"] = measure("ssh", config(work / "ssh.toml", tree, url),
                                             env_ssh, url, snaps, args.runs)
                finally:
                    os.environ["PATH"] = path
    finally:
        if args.keep:
            print(f"kept: {work} ({src.device} on {src.mountpoint}, {dst.device} on "
                  f"{dst.mountpoint}); umount both, losetup -d, rm -r {work}")
        else:
            dst.close()
            src.close()
            shutil.rmtree(work, ignore_errors=True)
    return results


if __name__ == "__main__":
    main()
