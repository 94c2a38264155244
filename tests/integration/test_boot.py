"""Real boots: the generator mounts layout trees in a Debian 12 guest with an ephemeral root.

Each test builds a btrfs data disk on the host (loop device, real
mkfs.btrfs and btrfs subvolume), boots the cached guest under qemu once with
``systemd.volatile=yes`` and the data disk mounted in the initrd at
/mnt/persist, and asserts on what the guest reported: findmnt, stat of the
mount points and the directories above them, failed units, the journal.
See docs/boot.md for the guest and the harness.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

try:
    from .boot import datadisk, harness
    from .boot.guest import GuestImages, ensure_guest
except ImportError:  # tests/integration is not a package: pytest put it on sys.path
    from boot import datadisk, harness  # type: ignore[no-redef]
    from boot.guest import GuestImages, ensure_guest  # type: ignore[no-redef]

pytestmark = [
    pytest.mark.boot,
    pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None,
                       reason="qemu-system-x86_64 is not installed"),
]

Report = Callable[[str, float, str], None]
ALICE = 1000
DEVICE = "/dev/vdb"  # the data disk, as the guest names it (second virtio disk)
TREES = f"{harness.PERSIST}/trees"


@pytest.fixture(scope="session")
def guest(pytestconfig: pytest.Config) -> GuestImages:
    images = ensure_guest()
    if not images.cached:
        parts = ", ".join(f"{k} {v:.1f} s" for k, v in images.build_seconds.items())
        reporter = pytestconfig.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"\nboot guest built in {images.directory}: {parts}")
    return images


@pytest.fixture
def report(capsys: pytest.CaptureFixture[str],
           record_property: Callable[[str, object], None]) -> Iterator[Report]:
    """Print a measurement to the terminal even under output capture, and record it."""
    def emit(key: str, value: float, text: str) -> None:
        record_property(key, round(value, 3))
        with capsys.disabled():
            print(f"\n{text}")
    yield emit


def _leaf(path: Path, uid: int = 0, mode: int = 0o755) -> Path:
    """A subvolume with a marker file naming it, owned and moded as asked."""
    datadisk.subvolume(path)
    (path / ".leaf").write_text(path.name)
    os.chown(path, uid, uid)
    path.chmod(mode)
    return path


def _dir(path: Path, uid: int, mode: int) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, uid, uid)
    path.chmod(mode)
    return path


def _config(**trees: tuple[str, str]) -> str:
    return "".join(f'[tree.{name}]\npath = "{path}"\ndestination = "{dest}"\n\n'
                   for name, (path, dest) in trees.items())


def _generator_lines(result: harness.BootResult) -> list[str]:
    return result.journal_lines("layout-trees-generator")


def _boot_report(result: harness.BootResult, name: str) -> str:
    lines = "\n  ".join(_generator_lines(result)) or "(none)"
    return (f"boot {name}: {result.boot_seconds:.1f} s ({result.cpu_seconds:.1f} s qemu CPU); "
            f"generator said:\n  {lines}")


# Scenario 1 ---------------------------------------------------------------

ALICE_LEAVES = {  # path in the tree -> where it must be mounted
    "@ws": "/home/alice/ws",
    "ws/@5-VMs": "/home/alice/ws/5-VMs",
    "@Media": "/home/alice/Media",
    ".local/share/@cache": "/home/alice/.local/share/cache",
    "@My Documents": "/home/alice/My Documents",
    "@Über": "/home/alice/Über",
}
SYSTEM_LEAVES = {
    "var/lib/@docker": "/var/lib/docker",
    "var/@log": "/var/log",
}
# Directories between a destination and its leaves: (uid, mode) they have in
# the tree and so must have in the guest.
ALICE_DIRS = {
    "/home/alice": (ALICE, 0o750),
    "/home/alice/.local": (ALICE, 0o700),
    "/home/alice/.local/share": (ALICE, 0o755),
}


@pytest.fixture
def realistic_disk(tmp_path: Path) -> Path:
    image = tmp_path / "data.img"
    with datadisk.btrfs_image(image) as mnt:
        alice = _dir(mnt / "trees/alice", ALICE, 0o750)
        _dir(alice / ".local", ALICE, 0o700)
        _dir(alice / ".local/share", ALICE, 0o755)
        _dir(alice / "ws", ALICE, 0o755)
        for rel in ALICE_LEAVES:
            _leaf(alice / rel, ALICE, 0o700 if "VMs" in rel else 0o755)
        system = _dir(mnt / "trees/system", 0, 0o755)
        _dir(system / "var/lib", 0, 0o755)
        for rel in SYSTEM_LEAVES:
            _leaf(system / rel, 0, 0o710 if "docker" in rel else 0o755)
    return image


def test_realistic_trees_mount_every_leaf_in_place(
        guest: GuestImages, realistic_disk: Path, report: Report) -> None:
    """Every leaf is mounted at its place from its own subvolume; directories carry the tree's
    owners and modes; no unit fails."""
    config = _config(alice=(f"{TREES}/alice", "/home/alice"), system=(f"{TREES}/system", "/"))
    wanted = {**{f"/trees/alice/{k}": v for k, v in ALICE_LEAVES.items()},
              **{f"/trees/system/{k}": v for k, v in SYSTEM_LEAVES.items()}}
    result = harness.boot(realistic_disk, config, guest=guest, name="realistic",
                          stat_paths=[f"{v}/.leaf" for v in wanted.values()])
    report("boot_seconds_realistic", result.boot_seconds, _boot_report(result, "realistic"))

    for subvolume, target in wanted.items():
        mount = result.mount_at(target)
        assert mount is not None, f"{target} not mounted; mounts: {result.mounts}"
        assert mount.fstype == "btrfs"
        assert mount.source == f"{DEVICE}[{subvolume}]", mount
        assert mount.fsroot == subvolume
        marker = result.stat[f"{target}/.leaf"]
        assert marker.type == "file", marker
    for path, (uid, mode) in ALICE_DIRS.items():
        info = result.stat[path]
        assert (info.type, info.uid, info.mode) == ("dir", uid, mode), info
    vms = result.stat["/home/alice/ws/5-VMs"]
    assert (vms.uid, vms.mode, vms.ismount) == (ALICE, 0o700, True), vms
    docker = result.stat["/var/lib/docker"]
    assert (docker.uid, docker.mode, docker.ismount) == (0, 0o710, True), docker
    assert result.failed_units == ()


# Scenario 2 ---------------------------------------------------------------

def test_missing_tree_and_deleted_leaf_boot_cleanly(
        guest: GuestImages, tmp_path: Path, report: Report) -> None:
    """A configured tree that does not exist and a leaf deleted since the last boot cost one
    log line each and fail nothing; the rest of the tree still mounts."""
    image = tmp_path / "data.img"
    with datadisk.btrfs_image(image) as mnt:
        alice = _dir(mnt / "trees/alice", ALICE, 0o750)
        _leaf(alice / "@ws", ALICE)
        gone = _leaf(alice / "@Media", ALICE)
        datadisk.delete_subvolume(gone)
        # Read from the data disk through layout_trees.config=, not from /usr.
        (mnt / "layout-trees.toml").write_text(_config(
            alice=(f"{TREES}/alice", "/home/alice"),
            gone=(f"{TREES}/gone", "/home/gone")))
    result = harness.boot(image, None, guest=guest, name="missing",
                          kernel_cmdline_extra=f"layout_trees.config={harness.PERSIST}"
                                               "/layout-trees.toml")
    report("boot_seconds_missing", result.boot_seconds, _boot_report(result, "missing"))

    assert result.failed_units == ()
    assert result.mount_at("/home/alice/ws") is not None
    assert result.mount_at("/home/alice/Media") is None
    assert result.mount_at("/home/gone") is None
    lines = _generator_lines(result)
    missing = [line for line in lines if f"{TREES}/gone" in line and "tree-missing" in line]
    assert len(missing) == 1, lines
    assert not [line for line in lines if "Media" in line], lines
    assert not [line for line in result.journal if "home-alice-Media" in line]


# Scenario 3 ---------------------------------------------------------------

HOSTILE = ("@a,b", "@snap", "@link", "@notasubvol")


def test_hostile_entries_are_named_and_skipped(
        guest: GuestImages, tmp_path: Path, report: Report) -> None:
    """A comma in a name, a read-only snapshot, a symlink to a subvolume and a plain directory
    posing as a leaf each get named in the log; the boot stays clean and the good leaf mounts."""
    image = tmp_path / "data.img"
    with datadisk.btrfs_image(image) as mnt:
        tree = _dir(mnt / "trees/alice", ALICE, 0o750)
        ok = _leaf(tree / "@ok", ALICE)
        _leaf(tree / "@a,b", ALICE)
        datadisk.readonly_snapshot(ok, tree / "@snap")
        _leaf(mnt / "elsewhere/@target", ALICE)
        (tree / "@link").symlink_to("../../elsewhere/@target")
        _dir(tree / "@notasubvol", ALICE, 0o755)
        (tree / "@notasubvol/file").write_text("not a subvolume\n")
    config = _config(alice=(f"{TREES}/alice", "/home/alice"))
    result = harness.boot(image, config, guest=guest, name="hostile")
    report("boot_seconds_hostile", result.boot_seconds, _boot_report(result, "hostile"))

    assert result.failed_units == ()
    ok_mount = result.mount_at("/home/alice/ok")
    assert ok_mount is not None and ok_mount.fsroot == "/trees/alice/@ok", result.mounts
    kernel_log = _generator_lines(result)
    for name in HOSTILE:
        assert [line for line in kernel_log if name in line], (name, kernel_log)
    assert result.mount_at("/home/alice/link") is None


# Scenario 4 ---------------------------------------------------------------

def test_generator_runtime_at_boot(
        guest: GuestImages, realistic_disk: Path, report: Report) -> None:
    """The generator's own run time at boot, read from PID 1's debug log in the guest."""
    config = _config(alice=(f"{TREES}/alice", "/home/alice"), system=(f"{TREES}/system", "/"))
    result = harness.boot(realistic_disk, config, guest=guest, name="timing", debug=True)
    seconds = result.generator_seconds()
    assert seconds is not None, [line for line in result.dmesg if "generator" in line][:40]
    manager = result.manager
    all_generators = (int(manager["GeneratorsFinishTimestampMonotonic"])
                      - int(manager["GeneratorsStartTimestampMonotonic"])) / 1e6
    report("generator_seconds", seconds,
           f"layout-trees-generator ran {seconds * 1000:.0f} ms at boot (all generators "
           f"{all_generators * 1000:.0f} ms, TCG-emulated guest, boot {result.boot_seconds:.1f} s)")
    assert 0 < seconds <= all_generators + 0.5
    assert result.mount_at("/home/alice/ws") is not None
    assert result.failed_units == ()
