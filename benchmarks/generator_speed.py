"""How long the generator takes for N leaves, next to systemd-fstab-generator.

Builds a loopback btrfs image with N leaves spread over nested directories,
then times, over several runs each (median and best printed):

- ``layout-trees-generator`` scanning the tree and writing N mount units;
- ``systemd-fstab-generator`` writing the units of the equivalent fstab
  (N lines), the reference for "as fast as systemd's own generator";
- the interpreter alone (``python3 -c pass``) and the generator's import.

Run as root: ``.venv/bin/python benchmarks/generator_speed.py [N] [RUNS]``.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import btrfsutil
from layout_trees.shell.loopdev import LoopBtrfs

FSTAB_GENERATOR = "/usr/lib/systemd/system-generators/systemd-fstab-generator"


def timed(cmd: list[str], env: dict[str, str], runs: int, outdir: str) -> list[float]:
    times = []
    for _ in range(runs):
        shutil.rmtree(outdir, ignore_errors=True)
        os.makedirs(outdir)
        start = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return times


def report(label: str, times: list[float]) -> None:
    print(f"{label:<48} median {statistics.median(times) * 1000:8.1f} ms   "
          f"best {min(times) * 1000:8.1f} ms")


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 15
    work = tempfile.mkdtemp(prefix="layout-bench-")
    try:
        with LoopBtrfs(os.path.join(work, "img"), "1G", "bench") as loop:
            top = loop.mountpoint
            assert top
            tree = os.path.join(top, "tree")
            lines = []
            for i in range(n):
                rel = f"d{i % 10}/e{i % 7}/@leaf{i}"
                path = os.path.join(tree, rel)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                btrfsutil.create_subvolume(path)
                where = f"/bench/d{i % 10}/e{i % 7}/leaf{i}"
                lines.append(f"{loop.device} {where} btrfs subvol=/tree/{rel} 0 0")
            config = os.path.join(work, "layout-trees.toml")
            with open(config, "w") as handle:
                handle.write(f'[tree.bench]\npath = "{tree}"\ndestination = "/bench"\n')
            fstab = os.path.join(work, "fstab")
            with open(fstab, "w") as handle:
                handle.write("\n".join(lines) + "\n")
            # Generators write below /run, a tmpfs at boot: measure on one too.
            ram = os.path.join(work, "ram")
            os.makedirs(ram)
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256M", "tmpfs", ram], check=True)
            out = os.path.join(ram, "out")
            env = dict(os.environ, LAYOUT_TREES_CONFIG=config, SYSTEMD_LOG_LEVEL="err")
            ours = [sys.executable, "-c",
                    "from layout_trees.shell.generator import main; raise SystemExit(main())",
                    out, out, out]
            ours_cmd = [os.path.join(os.path.dirname(sys.executable), "layout-trees-generator"),
                        out, out, out]
            theirs = [FSTAB_GENERATOR, out, out, out]
            fstab_env = dict(os.environ, SYSTEMD_FSTAB=fstab, SYSTEMD_PROC_CMDLINE="")
            print(f"{n} leaves, {runs} runs each, python {sys.version.split()[0]}")
            report("python3 -c pass", timed([sys.executable, "-c", "pass"], env, runs, out))
            report("python3 -c 'import generator module'",
                   timed([sys.executable, "-c", "import layout_trees.shell.generator"], env,
                         runs, out))
            report("layout-trees-generator (console script)", timed(ours_cmd, env, runs, out))
            report("layout-trees-generator (python -c main())", timed(ours, env, runs, out))
            system_python = "/usr/bin/python3"
            if os.path.exists(system_python):
                # As installed on a distribution: the system interpreter, no
                # virtual environment, the package found on its path.
                pkg = os.path.join(work, "pkg")
                os.makedirs(pkg)
                import layout_trees

                os.symlink(os.path.dirname(layout_trees.__file__),
                           os.path.join(pkg, "layout_trees"))
                system_env = dict(env, PYTHONPATH=pkg)
                report("/usr/bin/python3 -c pass", timed([system_python, "-c", "pass"],
                                                         system_env, runs, out))
                report("layout-trees-generator on /usr/bin/python3",
                       timed([system_python, "-c", ours[2], out, out, out], system_env, runs,
                             out))
            count = sum(1 for name in os.listdir(out) if name.endswith(".mount"))
            report("systemd-fstab-generator, same mounts", timed(theirs, fstab_env, runs, out))
            print(f"units written by layout-trees-generator: {count}")
            subprocess.run(["umount", ram], check=True)
    finally:
        subprocess.run(["umount", os.path.join(work, "ram")], stderr=subprocess.DEVNULL,
                       check=False)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
