"""Real-boot tests: a Debian 12 guest under qemu with an ephemeral root.

``guest.ensure_guest`` builds and caches the guest; ``harness.boot`` boots it
with a btrfs data disk and a layout-trees configuration and returns what the
guest saw.  See docs/boot.md.
"""
