"""layout-trees: btrfs layout trees become mounts, backups and checks.

The package is split in two:

- ``layout_trees.core`` is pure: snapshots of layout trees in, unit files,
  plans, findings and backup manifests out.  No I/O, no clock, no logging.
- ``layout_trees.shell`` does the I/O: it scans btrfs, reads configuration,
  writes files, runs programs and speaks to the user.
"""

__version__ = "0.1.0"
