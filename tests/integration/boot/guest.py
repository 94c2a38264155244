"""Builds, once, the Debian 12 guest that the boot tests run, and caches it.

Theory of operation: a guest is three things on the host, all derived from one
debootstrap run and kept under the cache directory:

* ``rootfs/``: a minbase Debian 12 tree with systemd, btrfs-progs, python3
  and Debian's kernel, trimmed to what a virtio guest needs.  Only its
  ``usr/`` is ever booted: the tests run with ``systemd.volatile=yes``, so the
  root is a fresh tmpfs and the disk image provides ``/usr`` alone.  The
  per-boot ext4 image (project sources, generator, test units added) is made
  from it by ``harness.py`` in a second or two.
* ``vmlinuz``: Debian's ``linux-image-amd64`` kernel.
* ``initrd.img``: built by dracut as a plain systemd initrd, because
  Debian's initramfs-tools neither implements ``systemd.volatile=`` nor runs
  systemd, and the tests need both (systemd in the initrd is what mounts the
  data disk before switch-root).
  It is left uncompressed: under TCG, decompressing costs more than qemu's
  loading of a few extra megabytes.

The cache key is a hash of every input below, so changing the recipe rebuilds
and an unchanged recipe is never rebuilt.  A lock file serialises concurrent
test processes; a build happens in a scratch directory that is renamed into
place only when complete, so an interrupted build is never mistaken for a
cached one.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .runner import HarnessError, log, run

SUITE = "bookworm"
DEBOOTSTRAP_INCLUDE = ("systemd", "systemd-sysv", "udev", "kmod", "btrfs-progs", "python3",
                       "python3-btrfsutil", "python3-yaml")
# Installed with apt inside the chroot rather than by debootstrap: debootstrap
# resolves "initramfs-tools | linux-initramfs-tool" to initramfs-tools, apt
# honours the explicit choice of dracut.
CHROOT_INSTALL = ("linux-image-amd64", "dracut")
# A plain systemd initrd: dracut's own shell hooks (dracut-systemd) cost 13 s
# of CPU per boot under TCG (53.6 s instead of 66.7 s measured) and are not
# needed, systemd's fstab generator handles root= and the data disk itself.
DRACUT_MODULES = ("systemd-initrd", "base", "kernel-modules", "udev-rules", "btrfs")
DRACUT_DRIVERS = ("virtio_pci", "virtio_blk", "ext4", "btrfs")
# Kernel module directories kept in the guest's /usr; everything else (sound,
# GPU, wireless, ...) only slows down making the per-boot image.
KEEP_MODULES = ("kernel/fs", "kernel/crypto", "kernel/lib", "kernel/arch", "kernel/block",
                "kernel/drivers/block", "kernel/drivers/virtio", "kernel/drivers/char")
DROP_TREES = ("usr/share/doc", "usr/share/man", "usr/share/locale", "usr/share/info",
              "var/cache/apt/archives", "var/lib/apt/lists")
RECIPE_VERSION = 2
DEFAULT_MIRROR = "http://deb.debian.org/debian"


@dataclass(frozen=True)
class GuestImages:
    """A built guest: boot it with ``harness.boot``."""

    directory: Path
    rootfs: Path
    kernel: Path
    initrd: Path
    kernel_version: str
    # Seconds each build step took when this guest was built (cold build).
    build_seconds: dict[str, float] = field(default_factory=dict)
    cached: bool = True


def default_cache_dir() -> Path:
    env = os.environ.get("LAYOUT_TREES_BOOT_CACHE")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / ".cache" / "boot"


def debian_mirror() -> str:
    """The Debian archive URI apt on this host is configured with."""
    env = os.environ.get("LAYOUT_TREES_BOOT_MIRROR")
    if env:
        return env
    sources = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for path in sources:
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        # deb822 ("URIs: ...") and one-line ("deb URI suite ...") formats.
        for uri in re.findall(r"^\s*URIs:\s*(\S+)", text, re.M) + re.findall(
                r"^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+\S+", text, re.M):
            if uri.rstrip("/").endswith("/debian"):
                return str(uri).rstrip("/")
    return DEFAULT_MIRROR


def recipe_key(mirror: str) -> str:
    recipe = {"suite": SUITE, "mirror": mirror, "include": DEBOOTSTRAP_INCLUDE,
              "chroot": CHROOT_INSTALL, "dracut": DRACUT_MODULES, "drivers": DRACUT_DRIVERS,
              "keep": KEEP_MODULES, "drop": DROP_TREES, "version": RECIPE_VERSION}
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


@contextmanager
def _locked(cache_dir: Path) -> Iterator[None]:
    cache_dir.mkdir(parents=True, exist_ok=True)
    with open(cache_dir / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _mounts_under(path: Path) -> list[str]:
    prefix = str(path.resolve()) + "/"
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            target = line.split(" ")[4]
            if (target + "/").startswith(prefix):
                found.append(target)
    return found


def _remove_tree(path: Path) -> None:
    """rm -rf that first unmounts what an interrupted build left mounted in it."""
    if not path.exists():
        return
    for target in sorted(_mounts_under(path), reverse=True):
        run(["umount", target])
    run(["rm", "-rf", "--one-file-system", path])


@contextmanager
def _proc_mounted(root: Path) -> Iterator[None]:
    """/proc inside the chroot, for apt's maintainer scripts and dracut."""
    run(["mount", "-t", "proc", "proc", root / "proc"])
    try:
        yield
    finally:
        run(["umount", root / "proc"])


def _chroot(root: Path, *argv: str, timeout: float = 600) -> None:
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive",
           "LANG": "C.UTF-8", "INITRD": "No"}
    run(["chroot", root, *argv], env=env, timeout=timeout)


def _trim(root: Path, kver: str) -> None:
    for rel in DROP_TREES:
        for child in (root / rel).glob("*"):
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    base = root / "usr/lib/modules" / kver
    keep = [base / k for k in KEEP_MODULES]
    for path in sorted((base / "kernel").rglob("*"), reverse=True):
        if path.is_file() and not any(path.is_relative_to(k) for k in keep):
            path.unlink()
    for path in sorted((base / "kernel").rglob("*"), reverse=True):
        if path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    for stale in (root / "boot").glob("initrd.img-*"):
        stale.unlink()


def _build(work: Path, mirror: str) -> tuple[str, dict[str, float]]:
    times: dict[str, float] = {}
    root = work / "rootfs"

    start = time.monotonic()
    run(["debootstrap", "--variant=minbase", "--include=" + ",".join(DEBOOTSTRAP_INCLUDE),
         SUITE, root, mirror], timeout=1200)
    times["debootstrap"] = time.monotonic() - start

    with _proc_mounted(root):
        start = time.monotonic()
        _chroot(root, "apt-get", "install", "-y", "--no-install-recommends", *CHROOT_INSTALL,
                timeout=1200)
        _chroot(root, "apt-get", "clean")
        times["kernel and dracut packages"] = time.monotonic() - start

        kernels = sorted((root / "boot").glob("vmlinuz-*"))
        if len(kernels) != 1:
            raise HarnessError(f"expected one kernel in {root / 'boot'}, found {kernels}")
        kver = kernels[0].name.removeprefix("vmlinuz-")

        start = time.monotonic()
        _trim(root, kver)
        _chroot(root, "depmod", "-a", kver)
        times["trim"] = time.monotonic() - start

        start = time.monotonic()
        _chroot(root, "dracut", "--force", "--quiet", "--no-hostonly", "--no-early-microcode",
                "--no-compress", "--kver", kver, "--modules", " ".join(DRACUT_MODULES),
                "--drivers", " ".join(DRACUT_DRIVERS), "/boot/initrd.dracut")
        times["dracut"] = time.monotonic() - start

    shutil.move(root / "boot" / "initrd.dracut", work / "initrd.img")
    shutil.copy2(kernels[0], work / "vmlinuz")
    return kver, times


def ensure_guest(cache_dir: Path | None = None) -> GuestImages:
    """Return the cached guest, building it first if the recipe has no build yet."""
    cache_dir = (cache_dir or default_cache_dir()).resolve()
    mirror = debian_mirror()
    key = recipe_key(mirror)
    final = cache_dir / f"guest-{key}"
    with _locked(cache_dir):
        stamp = final / "guest.json"
        cached = stamp.exists()
        if not cached:
            work = cache_dir / f"guest-{key}.building"
            _remove_tree(work)
            work.mkdir(parents=True)
            log.info("building the boot-test guest in %s (mirror %s)", work, mirror)
            try:
                start = time.monotonic()
                kver, times = _build(work, mirror)
                times["total"] = time.monotonic() - start
                (work / "guest.json").write_text(json.dumps(
                    {"kernel_version": kver, "mirror": mirror, "build_seconds": times},
                    indent=2))
            except BaseException:
                _remove_tree(work)
                raise
            _remove_tree(final)
            work.rename(final)
            for old in cache_dir.glob("guest-*"):
                if old != final:
                    _remove_tree(old)
        meta = json.loads(stamp.read_text())
    return GuestImages(directory=final, rootfs=final / "rootfs", kernel=final / "vmlinuz",
                       initrd=final / "initrd.img", kernel_version=meta["kernel_version"],
                       build_seconds=meta["build_seconds"], cached=cached)


if __name__ == "__main__":
    import logging
    logging.basicConfig(level=logging.DEBUG)
    print(ensure_guest())
