"""Loopback btrfs images: for the built-in demo and the integration tests.

``LoopBtrfs`` creates a sparse image file, attaches it to a loop device,
makes a btrfs filesystem and mounts its top level.  ``close()`` unmounts and
detaches exactly the loop device it attached (by path), and is safe to call
twice; use it as a context manager so cleanup happens even on failure.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from types import TracebackType

from . import btrfs, mounts
from .run import run


class LoopBtrfs:
    """A btrfs on a loop device backed by an image file, mounted at its top level; a context
    manager that unmounts and detaches what it made (for the demo and the tests)."""

    def __init__(self, image: str, size: str = "256M", label: str = "layout-demo",
                 mountpoint: str | None = None, mkfs: bool = True) -> None:
        self.image = image
        self.size = size
        self.label = label
        self.device: str | None = None
        self.mountpoint = mountpoint
        self._made_mountpoint = False
        self._mkfs = mkfs

    def open(self) -> LoopBtrfs:
        try:
            if self._mkfs:
                with open(self.image, "wb") as handle:
                    handle.truncate(_size_bytes(self.size))
            self.device = run(["losetup", "--find", "--show", self.image]).stdout.decode().strip()
            if self._mkfs:
                btrfs.make_filesystem(self.device, self.label)
            if self.mountpoint is None:
                self.mountpoint = tempfile.mkdtemp(prefix="layout-trees-top-")
                self._made_mountpoint = True
            else:
                os.makedirs(self.mountpoint, exist_ok=True)
            mounts.mount_own("btrfs", "subvolid=5", self.device, self.mountpoint)
        except BaseException:
            self.close()
            raise
        return self

    def remount(self) -> None:
        """Unmount and mount again (drops caches; shows what a fresh boot sees)."""
        assert self.device and self.mountpoint
        mounts.unmount_own_tree(self.mountpoint)
        mounts.mount_own("btrfs", "subvolid=5", self.device, self.mountpoint)

    def close(self) -> None:
        if self.mountpoint:
            mounts.unmount_own_tree(self.mountpoint)
        if self.device:
            run(["losetup", "--detach", self.device], check=False)
            self.device = None
        if self._made_mountpoint and self.mountpoint:
            with contextlib.suppress(OSError):
                os.rmdir(self.mountpoint)
            self._made_mountpoint = False

    def __enter__(self) -> LoopBtrfs:
        return self.open()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _size_bytes(size: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    if size[-1].upper() in units:
        return int(size[:-1]) * units[size[-1].upper()]
    return int(size)
