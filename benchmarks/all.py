"""Every figure of ``docs/performance.md`` for the boot-time generator, in one command.

Run as root from a checkout: ``python3 benchmarks/all.py`` (``--full`` adds the
100,000-leaf run, ``--runs N`` sets the runs per median).  It prints figures only
and asserts nothing about time.

One loopback btrfs image holds one tree per size (100, 1,000, 10,000 leaves and,
with ``--full``, 100,000), leaves spread over 70 nested structure directories;
an fstab with the same mounts (``DEVICE WHERE btrfs subvol=PATH 0 0``) per size
feeds ``systemd-fstab-generator``.  Then, per size:

- both generators as whole processes, runs interleaved, output to a tmpfs
  emptied before each run (medians; ours on the system interpreter with the
  package byte-compiled, as a distribution installs it);
- the per-leaf cost and the fixed cost of each, fitted by least squares;
- system calls (``strace -c -f``, installed with apt when missing), per leaf;
- peak resident memory of each (``wait4``);

the generator's phases (scan, plan and rendering, writes) in one process as CPU time,
and the imports of the generator entry point next to a bare interpreter
(``python3 -X importtime``), and ``layout check``, ``layout plan`` and
``layout backup plan`` on the 10,000-leaf tree.
"""

from __future__ import annotations

import argparse
import compileall
import fcntl
import os
import re
import resource
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
FSTAB_GENERATOR = "/usr/lib/systemd/system-generators/systemd-fstab-generator"
SYSTEM_PYTHON = "/usr/bin/python3"
FLAGS = "-IS"
"""The installed generator's interpreter flags (``make install`` writes its launcher so):
no environment, no site directories; the launcher names the package's directory."""


def launcher(site: str) -> str:
    """The generator's launcher as ``make install`` writes it, for the package in ``site``."""
    return (f"#!{SYSTEM_PYTHON} {FLAGS}\nimport sys\nsys.path.insert(0, {site!r})\n"
            "from layout_trees.shell.generator import run\nrun()\n")


def package_dir() -> Path:
    """The package in this checkout (``src`` is installed as ``layout_trees``)."""
    return ROOT / "src"


def ensure_strace() -> str | None:
    found = shutil.which("strace")
    if found is None and shutil.which("apt-get"):
        print("installing strace with apt-get ...", flush=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "strace"], check=False,
                       stdout=subprocess.DEVNULL)
        found = shutil.which("strace")
    return found


def peak_rss(cmd: Sequence[str], env: dict[str, str], out: str) -> int:
    """Peak resident memory (KiB) of one run, from ``/usr/bin/time`` (a small parent: the
    high-water mark a process inherits through fork and exec is its own), else 0."""
    if not os.path.exists("/usr/bin/time"):
        return 0
    shutil.rmtree(out, ignore_errors=True)
    os.mkdir(out)
    done = subprocess.run(["/usr/bin/time", "-f", "%M", *cmd], env=env, check=True,
                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    return int(done.stderr.strip().splitlines()[-1])


def run_once(cmd: Sequence[str], env: dict[str, str], out: str | None) -> float:
    """Wall time in seconds of one process; ``out`` is emptied first."""
    if out is not None:
        shutil.rmtree(out, ignore_errors=True)
        os.mkdir(out)
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)}: exit {done.returncode}")
    return elapsed


def interleaved(commands: dict[str, tuple[Sequence[str], dict[str, str]]], runs: int,
                out: str) -> dict[str, tuple[float, int]]:
    """Median wall time (ms) and peak RSS (KiB) per command, runs interleaved."""
    times: dict[str, list[float]] = {k: [] for k in commands}
    for _ in range(runs):
        for key, (cmd, env) in commands.items():
            times[key].append(run_once(cmd, env, out) * 1000)
    return {k: (statistics.median(v), peak_rss(*commands[k], out))
            for k, v in times.items()}


def fit(points: list[tuple[int, float]]) -> tuple[float, float]:
    """Least-squares ``(fixed ms, µs per leaf)`` through ``(leaves, ms)`` points."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    slope = (sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
             / sum((x - mean_x) ** 2 for x in xs))
    return mean_y - slope * mean_x, slope * 1000


def syscalls(strace: str, cmd: Sequence[str], env: dict[str, str], out: str,
             work: str) -> int:
    """Total system calls of ``cmd`` and its children (``strace -c -f``)."""
    shutil.rmtree(out, ignore_errors=True)
    os.mkdir(out)
    summary = os.path.join(work, "strace.txt")
    subprocess.run([strace, "-f", "-c", "-o", summary, *cmd], env=env, check=True,
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    text = Path(summary).read_text()
    total = re.search(r"^-+.*\n\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+\d*\s*total", text, re.M)
    if total is None:
        raise SystemExit(f"cannot read strace's summary:\n{text}")
    return int(total.group(1))


def import_ms(python: str, env: dict[str, str],
              runs: int) -> tuple[float, float, float, float, str]:
    """Median cumulative import time of the generator module (``-X importtime``, ms), the
    median wall time of that import beyond ``python -c pass`` (ms), and its largest parts."""
    cumulative: list[float] = []
    parts: dict[str, list[float]] = {}
    # As the installed launcher starts: its flags, the package's directory put on the path.
    on_path = f"import sys; sys.path.insert(0, {env['PYTHONPATH']!r}); "
    for _ in range(runs):
        done = subprocess.run([python, FLAGS, "-X", "importtime", "-c",
                               on_path + "import layout_trees.shell.generator"], env=env,
                              check=True, capture_output=True, text=True)
        started = False
        for line in done.stderr.splitlines():
            match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
            if match is None:
                continue
            name, depth = match.group(4), len(match.group(3))
            started = started or name.startswith("layout_trees")
            if started and depth <= 3:
                parts.setdefault(name, []).append(int(match.group(2)) / 1000)
            if name == "layout_trees.shell.generator":
                cumulative.append(int(match.group(2)) / 1000)
    bare, loaded, with_toml = [], [], []
    for _ in range(runs):
        bare.append(run_once([python, FLAGS, "-c", on_path], env, None))
        loaded.append(run_once([python, FLAGS, "-c",
                                on_path + "import layout_trees.shell.generator"], env, None))
        with_toml.append(run_once([python, FLAGS, "-c",
                                   on_path + "import layout_trees.shell.generator, tomllib"],
                                  env, None))
    largest = sorted(((statistics.median(v), k) for k, v in parts.items()
                      if k != "layout_trees.shell.generator"), reverse=True)[:6]
    detail = ", ".join(f"{k} {v:.1f}" for v, k in largest)
    return (statistics.median(cumulative), statistics.median(bare) * 1000,
            (statistics.median(loaded) - statistics.median(bare)) * 1000,
            (statistics.median(with_toml) - statistics.median(bare)) * 1000, detail)


BTRFS_IOC_SUBVOL_CREATE = 0x5000940E  # _IOW(0x94, 14, struct btrfs_ioctl_vol_args)


def create_subvolume(path: str) -> None:
    """``btrfs subvolume create PATH`` in one ioctl (no process, no btrfsutil needed)."""
    parent, name = os.path.split(path)
    fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.ioctl(fd, BTRFS_IOC_SUBVOL_CREATE,
                    bytearray(struct.pack("=q4088s", 0, os.fsencode(name))), True)
    finally:
        os.close(fd)


def build(top: str, device: str, sizes: list[int], work: str) -> dict[int, tuple[str, str, str]]:
    """One tree and one fstab per size; returns ``size -> (tree, config, fstab)``."""
    made = {}
    for n in sizes:
        start = time.perf_counter()
        tree = os.path.join(top, f"t{n}")
        lines, paths = [], []
        for i in range(n):
            rel = f"d{i % 10}/e{i % 7}/@leaf{i}"
            paths.append(os.path.join(tree, rel))
            os.makedirs(os.path.dirname(paths[-1]), exist_ok=True)
            lines.append(f"{device} /bench{n}/d{i % 10}/e{i % 7}/leaf{i} btrfs "
                         f"subvol=/t{n}/{rel} 0 0")
        for path in paths:
            create_subvolume(path)
        config = os.path.join(work, f"layout-trees-{n}.toml")
        Path(config).write_text(f'[tree.bench]\npath = "{tree}"\ndestination = "/bench{n}"\n')
        # the same configuration as JSON (as NixOS writes it): no tomllib at start-up
        Path(config[:-4] + "json").write_text(
            f'{{"tree": {{"bench": {{"path": "{tree}", "destination": "/bench{n}"}}}}}}\n')
        fstab = os.path.join(work, f"fstab-{n}")
        Path(fstab).write_text("\n".join(lines) + "\n")
        made[n] = (tree, config, fstab)
        print(f"  built {n} leaves in {time.perf_counter() - start:.1f} s", flush=True)
    return made


def row(label: str, *cells: str) -> None:
    print(f"{label:<44}" + "".join(f"{c:>16}" for c in cells))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11, help="runs per median (default 11)")
    parser.add_argument("--full", action="store_true", help="add the 100,000-leaf run")
    parser.add_argument("--sizes", default="100,1000,10000",
                        help="comma-separated leaf counts (default 100,1000,10000)")
    parser.add_argument("--no-cli", action="store_true",
                        help="skip layout check/plan/backup plan")
    venv_layout = ROOT / ".venv" / "bin" / "layout"
    parser.add_argument("--layout", default=str(venv_layout) if venv_layout.exists()
                        else shutil.which("layout"),
                        help="the 'layout' command to time (default: the checkout's .venv)")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("run as root (loop devices, btrfs, tmpfs)", file=sys.stderr)
        return 2
    sizes = sorted({int(s) for s in args.sizes.split(",")} | ({100_000} if args.full else set()))
    pkg = package_dir()
    compileall.compile_dir(str(pkg), quiet=1)  # byte-compiled, as a distribution installs it
    strace = ensure_strace()
    work = tempfile.mkdtemp(prefix="layout-bench-")
    ram = os.path.join(work, "ram")
    os.mkdir(ram)
    site = os.path.join(work, "site")
    os.mkdir(site)
    os.symlink(pkg, os.path.join(site, "layout_trees"))
    sys.path.insert(0, site)
    from layout_trees.shell.loopdev import LoopBtrfs
    script = os.path.join(work, "layout-trees-generator")
    Path(script).write_text(launcher(site))
    os.chmod(script, 0o755)
    base = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "SYSTEMD_LOG_LEVEL": "err",
            "PYTHONPATH": site, "PYTHONDONTWRITEBYTECODE": "1", "SYSTEMD_PROC_CMDLINE": ""}
    print(f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}, "
          f"{subprocess.run([SYSTEM_PYTHON, '-V'], capture_output=True, text=True).stdout.strip()}"
          f", {args.runs} runs per median", flush=True)
    mounted = False
    try:
        image_size = "2G" if max(sizes) <= 10_000 else "12G"
        with LoopBtrfs(os.path.join(work, "img"), image_size, "bench") as loop:
            assert loop.mountpoint and loop.device
            trees = build(loop.mountpoint, loop.device, sizes, work)
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1G", "tmpfs", ram], check=True)
            mounted = True
            out = os.path.join(ram, "out")
            ratios = generator_figures(sizes, trees, base, script, out, args.runs, strace, work)
            phases(trees, base, out, args.runs)
            beyond = imports(base, args.runs)
            commands = {} if args.no_cli else cli_figures(trees, base, args.runs, work,
                                                          args.layout)
            goals(ratios, beyond, commands)
    finally:
        if mounted:
            subprocess.run(["umount", ram], check=False)
        shutil.rmtree(work, ignore_errors=True)
    return 0


def generator_figures(sizes: list[int], trees: dict[int, tuple[str, str, str]],
                      base: dict[str, str], script: str, out: str, runs: int,
                      strace: str | None, work: str) -> dict[int, float]:
    """Prints the end-to-end figures; returns ours/theirs per size."""
    print("\nEnd to end, whole processes, output to a tmpfs (median ms; peak RSS MiB)")
    row("leaves", "ours", "systemd-fstab", "ratio", "ours JSON cfg", "ours no -IS",
        "RSS ours/theirs")
    ours_pts: list[tuple[int, float]] = []
    theirs_pts: list[tuple[int, float]] = []
    calls: dict[int, tuple[int, int]] = {}
    ratios: dict[int, float] = {}
    for n in sizes:
        _, config, fstab = trees[n]
        env = dict(base, LAYOUT_TREES_CONFIG=config)
        fenv = dict(base, SYSTEMD_FSTAB=fstab)
        commands: dict[str, tuple[Sequence[str], dict[str, str]]] = {
            "ours": ([script, out, out, out], env),  # run by its #! line, as systemd does
            "ours no -IS": ([SYSTEM_PYTHON, script, out, out, out], env),
            "ours json": ([script, out, out, out],
                          dict(env, LAYOUT_TREES_CONFIG=config[:-4] + "json")),
            "theirs": ([FSTAB_GENERATOR, out, out, out], fenv),
        }
        big = n > 10_000  # three runs, and only the two generators
        if big:
            commands = {k: v for k, v in commands.items() if k in ("ours", "theirs")}
        got = interleaved(commands, 3 if big else runs, out)
        written = sum(1 for name in os.listdir(out) if name.endswith(".mount"))
        ours, theirs = got["ours"][0], got["theirs"][0]
        ours_pts.append((n, ours))
        theirs_pts.append((n, theirs))
        ratios[n] = ours / theirs
        row(f"{n} ({written} units)", f"{ours:.1f}", f"{theirs:.1f}", f"{ours / theirs:.2f}x",
            f"{got['ours json'][0]:.1f}" if not big else "-",
            f"{got['ours no -IS'][0]:.1f}" if not big else "-",
            f"{got['ours'][1] / 1024:.0f}/{got['theirs'][1] / 1024:.0f}")
        if strace is not None and n <= 10_000:
            calls[n] = (syscalls(strace, commands["ours"][0], env, out, work),
                        syscalls(strace, commands["theirs"][0], fenv, out, work))
    if len(sizes) >= 2:
        fixed_o, leaf_o = fit(ours_pts)
        fixed_t, leaf_t = fit(theirs_pts)
        print(f"fitted: ours {fixed_o:.1f} ms + {leaf_o:.1f} us/leaf; "
              f"systemd-fstab-generator {fixed_t:.1f} ms + {leaf_t:.1f} us/leaf")
    if calls:
        print("\nSystem calls (strace -c -f)")
        row("leaves", "ours", "systemd-fstab", "ours/leaf", "theirs/leaf")
        for n, (o, t) in sorted(calls.items()):
            row(str(n), str(o), str(t), f"{o / n:.1f}", f"{t / n:.1f}")
        if len(calls) >= 2:
            (n1, (o1, t1)), (n2, (o2, t2)) = sorted(calls.items())[0], sorted(calls.items())[-1]
            print(f"marginal per leaf ({n1}->{n2}): ours {(o2 - o1) / (n2 - n1):.1f}, "
                  f"systemd-fstab-generator {(t2 - t1) / (n2 - n1):.1f}")
    elif strace is None:
        print("\nSystem calls: strace not available")
    return ratios


def imports(base: dict[str, str], runs: int) -> float:
    """Prints the import figures; returns the wall time beyond a bare interpreter (ms)."""
    print("\nImports of the generator entry point (system python, byte-compiled)")
    cumulative, bare, beyond, toml, detail = import_ms(SYSTEM_PYTHON, base, max(runs, 11))
    print(f"-X importtime, cumulative: {cumulative:.1f} ms; 'python3 {FLAGS} -c pass' "
          f"{bare:.1f} ms; "
          f"wall time beyond it: {beyond:.1f} ms ({toml:.1f} ms with tomllib, which a TOML "
          "configuration needs)")
    print(f"largest parts (ms): {detail}")
    return beyond


def cli_figures(trees: dict[int, tuple[str, str, str]], base: dict[str, str], runs: int,
                work: str, command: str | None) -> dict[str, float]:
    """Prints the commands' figures; returns each command's median wall time (ms)."""
    n = 10_000 if 10_000 in trees else max(trees)
    tree, _, _ = trees[n]
    config = os.path.join(work, f"layout-trees-{n}-backup.toml")
    Path(config).write_text(f'[tree.bench]\npath = "{tree}"\ndestination = "/bench{n}"\n'
                            '[tree.bench.backup]\ntargets = ["/nonexistent-backup-target"]\n')
    if command is None:
        print("\nlayout check/plan/backup plan: no 'layout' command found (--layout PATH)")
        return {}
    layout = Path(command)
    env = dict(base, PATH=f"{layout.parent}:{base['PATH']}")
    del env["PYTHONPATH"]
    print(f"\nCommands on {n} leaves ({layout}; median of {min(runs, 5)} runs: wall ms, "
          "CPU ms of the process and its children)")
    commands: dict[str, list[str]] = {
        "layout check": [str(layout), "check", "-c", config],
        "layout plan": [str(layout), "plan", "-c", config],
        "layout backup plan": [str(layout), "backup", "plan", "-c", config],
    }
    medians: dict[str, float] = {}
    for label, cmd in commands.items():
        times, cpu = [], []
        for _ in range(min(runs, 5)):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            done = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  check=False)
            times.append((time.perf_counter() - start) * 1000)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu.append((after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
                       * 1000)
        row(label, f"{statistics.median(times):.0f} ms", f"{statistics.median(cpu):.0f} ms CPU",
            f"exit {done.returncode}")
        medians[f"{label} ({n} leaves)"] = statistics.median(times)
    return medians


RATIO_GOALS = {100: 2.5, 1_000: 1.0, 10_000: 0.75}
"""End to end, ours / systemd-fstab-generator, at most (the performance issue's goals)."""


def goals(ratios: dict[int, float], beyond: float, commands: dict[str, float]) -> None:
    """Each goal next to what this run measured (printed, never asserted)."""
    print("\nGoals (measured in this run)")
    row("goal", "measured", "target", "")
    for n, target in RATIO_GOALS.items():
        if n in ratios:
            row(f"{n} leaves, ours / systemd-fstab-generator", f"{ratios[n]:.2f}x",
                f"<= {target}x", "met" if ratios[n] <= target else "missed")
    if 100_000 in ratios:
        row("100000 leaves", f"{ratios[100_000]:.2f}x", "completes", "met")
    row("imports beyond a bare interpreter", f"{beyond:.1f} ms", "<= 8 ms",
        "met" if beyond <= 8 else "missed")
    for label, wall in commands.items():
        row(label, f"{wall / 1000:.2f} s", "<= 2 s", "met" if wall <= 2000 else "missed")


# The generator's phases in one process (CPU time, so that other load counts less).
PHASES = """
import os, shutil, sys, time
from layout_trees.shell.configfile import load_config
from layout_trees.shell.files import write_generated
from layout_trees.shell.generator import unit_files
from layout_trees.shell.log import Log
from layout_trees.shell.scan import scan
config_path, out, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
got = {"scan": [], "plan+render": [], "write": [], "all": []}
for _ in range(runs):
    shutil.rmtree(out, ignore_errors=True)
    os.mkdir(out)
    t0 = time.process_time()
    config = load_config(config_path).config
    snapshot = scan(config, full=False)
    t1 = time.process_time()
    plan, files = unit_files(config, snapshot, Log("bench", kmsg=False))
    t2 = time.process_time()
    write_generated(out, files, atomic=False)
    t3 = time.process_time()
    for key, value in zip(got, (t1 - t0, t2 - t1, t3 - t2, t3 - t0)):
        got[key].append(value * 1000)
    # The floor of "write": the same files and links made by the bare system calls
    # (openat, write, close; symlink), directories made beforehand, nothing checked.
    shutil.rmtree(out, ignore_errors=True)
    for d in {f.path.rpartition("/")[0] for f in files}:
        os.makedirs(os.path.join(out, d), exist_ok=True)
    data = [(out + "/" + f.path, f.link, f.content and f.content.encode()) for f in files]
    t4 = time.process_time()
    for path, link, content in data:
        if link is not None:
            os.symlink(link, path)
        else:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
            os.write(fd, content)
            os.close(fd)
    got.setdefault("system calls of write", []).append((time.process_time() - t4) * 1000)
print("  ".join(f"{k} {min(v):.0f}" for k, v in got.items()))
"""


def phases(trees: dict[int, tuple[str, str, str]], base: dict[str, str], out: str,
           runs: int) -> None:
    print(f"\nThe generator's phases in one process (CPU ms, minimum of {max(runs, 5)} runs; "
          "the configuration is read and the scan made in 'scan'; 'system calls of write': "
          "the same files made by bare system calls, the floor of 'write')")
    for n in sorted(trees):
        if n > 10_000:
            continue
        _, config, _ = trees[n]
        done = subprocess.run([SYSTEM_PYTHON, "-c", PHASES, config, out, str(max(runs, 5))],
                              env=dict(base, SYSTEMD_LOG_LEVEL="emerg"), check=True,
                              capture_output=True, text=True)
        row(str(n), done.stdout.strip())


if __name__ == "__main__":
    raise SystemExit(main())
