"""Shared fixtures for the integration tests, from ``loopdev-fixtures/``:
real btrfs images on loop devices, and mounts undone after each test."""

from loopdev_fixtures import loop_btrfs, mounts, need_root_and_btrfs

__all__ = ["loop_btrfs", "mounts", "need_root_and_btrfs"]
