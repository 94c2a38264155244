"""The one lock helper: commands that change trees or mounts take turns.

``persist``, ``reload``, ``restore``, ``drop`` and ``backup run`` all take
the *trees* lock, so that none of them sees another's half-made work: a
reload that a watched tree triggers while a persist copies waits instead of
mounting the half-copied leaf, and a backup never snapshots a leaf being
built.  ``backup run`` also takes its own lock first (two schedules firing
together share one ``btrbk.conf``).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager

TREES_LOCK = "/run/layout-trees.lock"


@contextmanager
def exclusive(lock_file: str = TREES_LOCK) -> Iterator[None]:
    """Hold ``lock_file`` exclusively (``flock``), waiting for other holders."""
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
