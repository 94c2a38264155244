"""Boot the cached guest once with a data disk and a configuration, and report what it saw.

Theory of operation.  Each ``boot()`` call:

1. makes the guest's ``/usr`` image: the cached rootfs's ``usr/`` (hard
   links, no copying), plus this checkout's ``src/`` as the ``layout_trees``
   package, the generator entry script, the configuration and the result
   collector, packed by ``mkfs.ext4 -d`` (a second or two);
2. appends to the cached dracut initrd a small cpio holding the initrd's own
   ``/etc/fstab``: one line that mounts the data disk (label ``persist``) at
   ``/sysroot/mnt/persist``.  systemd in the initrd mounts it after the
   volatile root is in place and before switch-root, so it is there when the
   main system's generators run (see docs/boot.md for why this way).  Two
   small initrd units ride along: one leaves an empty /etc/machine-id on the
   new root, one powers off if the initrd fails;
3. boots qemu (TCG, 2 vCPUs, 1 GiB, serial console, every disk but the
   results disk with ``snapshot=on``) with ``systemd.volatile=yes``: ``/`` is a
   tmpfs, ``/etc`` starts empty, ``/usr`` comes from the image;
4. in the guest, ``layout-trees-test-collect.service`` (pulled in with
   ``systemd.wants=``) runs after multi-user.target, writes one JSON frame to a
   raw results disk and powers off; emergency.target is masked so that a
   failure powers off and gets reported instead of waiting at a shell;
5. the host reads the frame back into a ``BootResult``.  No frame means the
   guest never got that far: ``GuestDidNotReport`` carries the console.

qemu is killed in ``finally`` whatever happens, and every boot has a timeout.
"""

from __future__ import annotations

import json
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .datadisk import DATA_LABEL
from .guest import GuestImages, default_cache_dir, ensure_guest
from .runner import HarnessError, log, run


@dataclass(frozen=True)
class Symlink:
    """A symbolic link in the appended initrd archive."""

    target: str


PROJECT_ROOT = Path(__file__).resolve().parents[3]
GUEST_FILES = Path(__file__).resolve().parent / "guest"
PERSIST = "/mnt/persist"
USR_LABEL = "lt-usr"
CONFIG_PATH = "usr/lib/layout-trees/layout-trees.toml"
GENERATOR_PATH = "usr/lib/systemd/system-generators/layout-trees-generator"
GENERATOR_SCRIPT = ("#!/usr/bin/python3\n"
                    "from layout_trees.shell.generator import main; raise SystemExit(main())\n")
COLLECT_UNIT = "layout-trees-test-collect.service"
RESULT_MAGIC = b"LTRESULT "
# NixOS's neededForBoot, written the systemd way: an entry in the initrd's own
# fstab under /sysroot.  systemd 252's fstab-generator orders such entries only
# before local-fs.target, so the ordering that makes them land on the final
# root (after the volatile tmpfs replaced /sysroot, before switch-root) is
# spelled out.
INITRD_FSTAB = (f"LABEL={DATA_LABEL} /sysroot{PERSIST} btrfs "
                "x-systemd.after=initrd-root-fs.target,x-systemd.before=initrd-fs.target,"
                "x-systemd.required-by=initrd-fs.target 0 0\n")
# An empty /etc/machine-id on the fresh root: systemd then makes a transient
# ID without treating the boot as a first boot, which would run preset-all
# over every unit file (seconds under TCG) and enable networkd and friends.
NOT_FIRST_BOOT_UNIT = "layout-trees-test-not-first-boot.service"
INITRD_FILES: Mapping[str, bytes | Symlink] = {
    f"etc/systemd/system/{NOT_FIRST_BOOT_UNIT}": (
        b"[Unit]\nDescription=Empty machine-id on the volatile root\n"
        b"DefaultDependencies=no\nAfter=initrd-root-fs.target\nBefore=initrd-fs.target\n"
        b"[Service]\nType=oneshot\nRemainAfterExit=yes\n"
        b"ExecStart=/bin/sh -c 'mkdir -p /sysroot/etc && : >/sysroot/etc/machine-id'\n"
    ),
    f"etc/systemd/system/initrd-fs.target.wants/{NOT_FIRST_BOOT_UNIT}":
        Symlink(f"../{NOT_FIRST_BOOT_UNIT}"),
    # A failure in the initrd (say, the data disk cannot be mounted) powers off
    # at once; the initrd has no emergency.service of its own, and without one
    # systemd would carry on and switch root without the data disk.
    "etc/systemd/system/emergency.service": (
        b"[Unit]\nDescription=Power off after a failure in the initrd\n"
        b"DefaultDependencies=no\n"
        b"[Service]\nType=oneshot\n"
        b"ExecStart=-/bin/sh -c 'echo layout-trees-test: initrd failure, powering off"
        b" >/dev/console'\n"
        b"ExecStart=/usr/bin/systemctl --force --force poweroff\n"),
}
BASE_CMDLINE = (
    "console=ttyS0", f"root=LABEL={USR_LABEL}", "rootfstype=ext4", "ro",
    "systemd.volatile=yes", "systemd.firstboot=off", "panic=-1",
    f"systemd.wants={COLLECT_UNIT}",
    # A failure in the main system must be reported, not wait at an emergency
    # shell: the boot goes on to the collector (the initrd has its own rule).
    "systemd.mask=emergency.target", "systemd.mask=emergency.service",
    # Units that only cost time here: dracut-shutdown unpacks the whole
    # initrd again at power-off; the gettys wait on consoles nobody uses.
    "systemd.mask=dracut-shutdown.service", "systemd.mask=getty-static.service",
    "systemd.mask=serial-getty@ttyS0.service",
    # Generators log to the kernel ring buffer; keep all of it for the journal.
    "printk.devkmsg=on", "log_buf_len=8M",
)
DEBUG_CMDLINE = ("systemd.log_level=debug", "systemd.log_target=kmsg", "loglevel=4")


class GuestDidNotReport(HarnessError):
    """The guest powered off, crashed or timed out before writing its results."""

    def __init__(self, message: str, console: str) -> None:
        tail = "\n".join(console.splitlines()[-80:])
        super().__init__(f"{message}\n--- last console lines ---\n{tail}")
        self.console = console


@dataclass(frozen=True)
class Mount:
    target: str
    source: str  # as findmnt shows it, e.g. "/dev/vdb[/trees/alice/@ws]"
    fstype: str
    fsroot: str  # the subvolume path inside the filesystem, e.g. "/trees/alice/@ws"
    options: str


@dataclass(frozen=True)
class PathInfo:
    path: str
    type: str | None  # "dir", "link", "file", "other", or None when missing
    mode: int | None
    uid: int | None
    gid: int | None
    ismount: bool
    error: str | None = None


@dataclass(frozen=True)
class BootResult:
    console: str
    boot_seconds: float  # wall clock, qemu start to exit
    cpu_seconds: float  # qemu's user + system CPU time: less sensitive to host load
    mounts: tuple[Mount, ...]
    failed_units: tuple[str, ...]
    journal: tuple[str, ...]
    dmesg: tuple[str, ...]
    stat: Mapping[str, PathInfo]
    generated: Mapping[str, str]
    manager: Mapping[str, str]
    analyze: str
    raw: Mapping[str, Any] = field(repr=False)

    def mount_at(self, target: str) -> Mount | None:
        """The topmost mount at ``target``, if any."""
        found = [m for m in self.mounts if m.target == target]
        return found[-1] if found else None

    def journal_lines(self, *needles: str) -> list[str]:
        """Journal lines that contain every one of ``needles``."""
        return [line for line in self.journal if all(n in line for n in needles)]

    @property
    def layout_trees_lines(self) -> list[str]:
        return [line for line in self.journal
                if "layout-trees" in line or "layout_trees" in line]

    def generator_seconds(self) -> float | None:
        """How long the layout-trees generator ran, from systemd's debug log (None if absent)."""
        return generator_runtime(self.dmesg)


def generator_runtime(dmesg: Sequence[str]) -> float | None:
    """Seconds from systemd spawning the generator to reaping it, from kernel timestamps.

    Needs a ``debug=True`` boot (systemd.log_level=debug): PID 1's executor
    then logs "About to execute <generator>" when it forks each generator and
    "<generator> succeeded." when it reaps it.  The generators run in
    parallel and are reaped as they exit, so this is the generator's own
    wall-clock run time in the guest, logged before the journal even runs.
    """
    start = end = None
    for line in dmesg:
        stamp = re.search(r"\[\s*(\d+\.\d+)\]", line)
        if not stamp or "(sd-executor)" not in line or "/layout-trees-generator" not in line:
            continue
        if "About to execute" in line and start is None:
            start = float(stamp.group(1))
        elif start is not None and re.search(r"layout-trees-generator (succeeded|failed)", line):
            end = float(stamp.group(1))
            break
    if start is None or end is None:
        return None
    return end - start


def _write(root: Path, rel: str, content: str | bytes, mode: int = 0o644) -> None:
    """Create a new file in the staging tree (never writes through a hard link)."""
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() or path.is_symlink():
        path.unlink()
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    path.chmod(mode)


def make_usr_image(guest: GuestImages, image: Path, stage: Path, *, config_toml: str | None,
                   generator: str, stat_paths: Sequence[str],
                   extra_files: Mapping[str, str | bytes]) -> None:
    run(["cp", "-al", guest.rootfs / "usr", stage / "usr"])
    package = stage / "usr/lib/python3/dist-packages/layout_trees"
    if package.exists():
        shutil.rmtree(package)
    shutil.copytree(PROJECT_ROOT / "src", package,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    # Byte-compile as a distribution's package installation does (/usr is
    # read-only at boot, so the guest could not cache them itself).  Python
    # 3.11's bytecode is the same for every 3.11.x, the guest's included.
    run([sys.executable, "-m", "compileall", "-q", "-j", "0", str(package)])
    _write(stage, GENERATOR_PATH, generator, 0o755)
    if config_toml is not None:
        _write(stage, CONFIG_PATH, config_toml)
    _write(stage, "usr/lib/layout-trees-test/collect", (GUEST_FILES / "collect").read_bytes(),
           0o755)
    _write(stage, f"usr/lib/systemd/system/{COLLECT_UNIT}",
           (GUEST_FILES / COLLECT_UNIT).read_bytes())
    _write(stage, "usr/lib/layout-trees-test/stat-paths.json", json.dumps(list(stat_paths)))
    for rel, content in extra_files.items():
        if not rel.startswith("usr/"):
            raise HarnessError(f"{rel}: only /usr survives into a volatile-root boot")
        _write(stage, rel, content, 0o755 if rel.startswith("usr/lib/systemd/system-generators")
               else 0o644)
    size = sum(p.lstat().st_size for p in stage.rglob("*")) // (1 << 20) + 128
    run(["mkfs.ext4", "-q", "-F", "-O", "^has_journal", "-L", USR_LABEL, "-d", stage, image,
         f"{size}M"])


def newc_cpio(files: Mapping[str, bytes | Symlink]) -> bytes:
    """A newc cpio archive of root-owned files (0644), symlinks, and their parent directories.

    The kernel's initramfs unpacker makes no missing parents, so every parent
    directory gets its own entry, before anything inside it.
    """
    out = bytearray()

    def entry(name: str, mode: int, data: bytes, ino: int) -> None:
        encoded = name.encode() + b"\0"
        fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(encoded), 0]
        out.extend(b"070701" + b"".join(b"%08X" % f for f in fields) + encoded)
        out.extend(b"\0" * (-len(out) % 4))
        out.extend(data)
        out.extend(b"\0" * (-len(out) % 4))

    parents = sorted({str(parent) for name in files for parent in Path(name).parents
                      if str(parent) != "."})
    ino = 1
    for name in parents:
        entry(name, 0o040755, b"", ino)
        ino += 1
    for name, content in sorted(files.items()):
        if isinstance(content, Symlink):
            entry(name, 0o120777, content.target.encode(), ino)
        else:
            entry(name, 0o100644, content, ino)
        ino += 1
    entry("TRAILER!!!", 0, b"", 0)
    out.extend(b"\0" * (-len(out) % 512))
    return bytes(out)


def make_initrd(guest: GuestImages, dest: Path, files: Mapping[str, bytes | Symlink]) -> None:
    """The cached initrd, padded to 512 bytes, with one more cpio appended."""
    base = guest.initrd.read_bytes()
    dest.write_bytes(base + b"\0" * (-len(base) % 512) + newc_cpio(files))


def _parse_results(raw: dict[str, Any]) -> dict[str, Any]:
    def out(key: str) -> str:
        return str(raw[key]["stdout"])

    findmnt = json.loads(out("findmnt") or '{"filesystems": []}')
    mounts = tuple(Mount(target=f["target"], source=f["source"], fstype=f["fstype"],
                         fsroot=f.get("fsroot") or "", options=f.get("options") or "")
                   for f in findmnt["filesystems"])
    failed = tuple(line.split()[0] for line in out("failed").splitlines() if line.strip())
    stat = {s["path"]: PathInfo(path=s["path"], type=s.get("type"), mode=s.get("mode"),
                                uid=s.get("uid"), gid=s.get("gid"),
                                ismount=bool(s.get("ismount")), error=s.get("error"))
            for s in raw["stat"]}
    manager = dict(line.split("=", 1) for line in out("manager").splitlines() if "=" in line)
    return {"mounts": mounts, "failed_units": failed, "journal": tuple(out("journal").splitlines()),
            "dmesg": tuple(out("dmesg").splitlines()), "stat": stat,
            "generated": dict(raw["generated"]), "manager": manager,
            "analyze": out("analyze") + raw["analyze"]["stderr"]}


def _disk(image: Path, serial: str, *, snapshot: bool) -> list[str]:
    """A virtio disk whose serial shows up as /dev/disk/by-id/virtio-SERIAL in the guest."""
    return ["-drive", f"if=none,id={serial},file={image},format=raw"
                      + (",snapshot=on" if snapshot else ""),
            "-device", f"virtio-blk-pci,drive={serial},serial={serial}"]


def _read_frame(results: Path) -> dict[str, Any] | None:
    with open(results, "rb") as f:
        head = f.read(64)
        if not head.startswith(RESULT_MAGIC) or b"\n" not in head:
            return None
        line, _ = head.split(b"\n", 1)
        length = int(line[len(RESULT_MAGIC):])
        f.seek(len(line) + 1)
        payload = f.read(length)
    if len(payload) != length:
        return None
    parsed: dict[str, Any] = json.loads(payload)
    return parsed


def boot(data_image: Path | None, config_toml: str | None, kernel_cmdline_extra: str = "",
         timeout: float = 300, *, guest: GuestImages | None = None, debug: bool = False,
         generator: str = GENERATOR_SCRIPT, stat_paths: Sequence[str] = (),
         extra_files: Mapping[str, str | bytes] | None = None,
         qemu_args: Sequence[str] = (), data_snapshot: bool = True,
         name: str = "boot") -> BootResult:
    """Boot the guest once and return what it reported.

    ``data_image``: a btrfs image labelled ``persist`` (see ``datadisk``),
    mounted at /mnt/persist in the initrd; ``config_toml`` goes to
    /usr/lib/layout-trees/layout-trees.toml; ``generator`` replaces the
    generator entry script (for harness self-checks only); ``stat_paths`` are
    stat()ed in the guest along with every mount point and their ancestors;
    ``debug`` turns on systemd debug logging (needed for generator timing);
    ``data_snapshot=False`` lets the guest's writes reach ``data_image`` (for
    tests that boot twice).
    Console and results are kept in ``<cache>/runs/<name>/`` for inspection.
    """
    guest = guest or ensure_guest()
    cache = guest.directory.parent
    artifacts = cache / "runs" / name
    if artifacts.exists():
        shutil.rmtree(artifacts)
    artifacts.mkdir(parents=True)
    cmdline = [*BASE_CMDLINE, *(DEBUG_CMDLINE if debug else ()), kernel_cmdline_extra]
    with tempfile.TemporaryDirectory(prefix="boot-", dir=cache) as tmp:
        work = Path(tmp)
        stage = work / "stage"
        stage.mkdir()
        start = time.monotonic()
        make_usr_image(guest, work / "usr.img", stage, config_toml=config_toml,
                       generator=generator, stat_paths=stat_paths,
                       extra_files=extra_files or {})
        initrd_files: dict[str, bytes | Symlink] = dict(INITRD_FILES)
        initrd_files["etc/fstab"] = INITRD_FSTAB.encode() if data_image else b""
        make_initrd(guest, work / "initrd.img", initrd_files)
        results = work / "results.img"
        run(["truncate", "--size", "64M", results])
        prepare = time.monotonic() - start

        argv = ["qemu-system-x86_64", "-accel", "tcg", "-smp", "2", "-m", "1024",
                "-nographic", "-monitor", "none", "-no-reboot", "-nic", "none",
                "-kernel", guest.kernel, "-initrd", work / "initrd.img",
                "-append", " ".join(a for a in cmdline if a),
                *_disk(work / "usr.img", USR_LABEL, snapshot=True)]
        if data_image is not None:
            argv += _disk(data_image, "lt-persist", snapshot=data_snapshot)
        argv += _disk(results, "lt-results", snapshot=False)
        argv += qemu_args
        console_path = artifacts / "console.log"
        log.debug("+ %s", " ".join(map(str, argv)))
        start = time.monotonic()
        cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        timed_out = False
        with open(console_path, "wb") as console_file:
            proc = subprocess.Popen([str(a) for a in argv], stdin=subprocess.DEVNULL,
                                    stdout=console_file, stderr=subprocess.STDOUT)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        seconds = time.monotonic() - start
        cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (cpu_after.ru_utime - cpu_before.ru_utime
               + cpu_after.ru_stime - cpu_before.ru_stime)
        console = console_path.read_bytes().decode("utf-8", "backslashreplace")
        frame = _read_frame(results)
        log.info("boot %s: prepared in %.1f s, guest ran %.1f s (%.1f s CPU)", name, prepare,
                 seconds, cpu)
        if frame is None:
            why = (f"timed out after {timeout:.0f} s" if timed_out
                   else f"qemu exited with {proc.returncode} after {seconds:.1f} s")
            raise GuestDidNotReport(f"boot {name!r}: the guest wrote no results ({why}); "
                                    f"console in {console_path}", console)
        (artifacts / "results.json").write_text(json.dumps(frame, indent=1))
        if data_image is not None and f" {PERSIST} " not in frame["mountinfo"]:
            raise GuestDidNotReport(f"boot {name!r}: the initrd did not mount the data disk at "
                                    f"{PERSIST}; console in {console_path}", console)
    return BootResult(console=console, boot_seconds=seconds, cpu_seconds=cpu, raw=frame,
                      **_parse_results(frame))


__all__ = ["PERSIST", "BootResult", "GuestDidNotReport", "Mount", "PathInfo", "boot",
           "default_cache_dir", "ensure_guest"]
