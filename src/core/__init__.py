"""The pure core of layout-trees.

Theory of operation: the shell scans the disk into a :class:`Snapshot`
(plain data, serialisable as canonical JSON).  Everything else is a function
of that snapshot and the parsed configuration: the mount plan, the unit files
that realise it, the linter's findings and the backup manifest.  The same
inputs always give byte-identical outputs, whatever order the scan saw the
entries in.
"""
