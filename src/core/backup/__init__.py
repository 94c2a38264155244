"""Backups of the layout trees' leaves, decided in the pure core.

The family, one module per concept: :mod:`.policy` (the policy table and the
per-leaf override), :mod:`.manifest` (what a backup covers, as a canonical
document), :mod:`.btrbk` (btrbk's configuration and its backup names),
:mod:`.status` (status and ``verify``), :mod:`.restore` (which backups to
receive and which leaves to place), :mod:`.drop` (when a leaf may be
dropped) and :mod:`.units` (the timers).  The shell runs what they decide.
"""
