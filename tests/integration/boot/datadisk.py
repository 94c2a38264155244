"""A btrfs data disk image, populated on the host through a loop device.

The tests build the layout trees with the real tools (mkfs.btrfs, btrfs
subvolume create/snapshot) on a loop device, then hand the image file to qemu.
Only the loop device this module attached is ever detached, by its path.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .runner import run

DATA_LABEL = "persist"


@contextmanager
def btrfs_image(image: Path, size: str = "512M", label: str = DATA_LABEL) -> Iterator[Path]:
    """Create ``image`` as a fresh btrfs filesystem and yield it mounted at a temporary directory.

    On exit the filesystem is unmounted and the loop device detached, whatever happened.
    """
    run(["truncate", "--size", size, image])
    loop = run(["losetup", "--find", "--show", image]).stdout.strip()
    try:
        run(["mkfs.btrfs", "--quiet", "--label", label, loop])
        with tempfile.TemporaryDirectory(prefix="lt-data-") as mnt:
            run(["mount", "-t", "btrfs", loop, mnt])
            try:
                yield Path(mnt)
            finally:
                run(["umount", mnt])
    finally:
        run(["losetup", "--detach", loop])


def subvolume(path: Path) -> Path:
    """``btrfs subvolume create``, making missing parent directories (plain dirs) first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    run(["btrfs", "subvolume", "create", path])
    return path


def readonly_snapshot(source: Path, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    run(["btrfs", "subvolume", "snapshot", "-r", source, dest])
    return dest


def delete_subvolume(path: Path) -> None:
    run(["btrfs", "subvolume", "delete", "--commit-after", path])
