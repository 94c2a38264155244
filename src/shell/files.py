"""The one module that writes files: atomically, temp file + rename.

A reader (systemd, a user) never sees a half-written unit: content goes to a
hidden temporary name in the same directory and is renamed into place.
Symlinks are created the same way.

The one exception is a generator's output directory: systemd hands it over
fresh and private and reads it only after the generator exits, so there each
file is written in place (``write_generated(..., atomic=False)``), as
systemd's own generators do, at half the system calls.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from ..core.units import GeneratedFile


def write_atomic(path: str, content: str | bytes, mode: int = 0o644) -> None:
    directory, base = os.path.split(path)
    tmp = os.path.join(directory, f".#{base}.{os.getpid()}")
    data = (content.encode("utf-8", errors="surrogateescape") if isinstance(content, str)
            else content)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW, mode)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fchmod(fd, mode)
        finally:
            os.close(fd)
        os.rename(tmp, path)
    except BaseException:
        # a failed write (disk full) or rename must not leave the temporary file behind
        try:  # noqa: SIM105 (the generator does not import contextlib at boot)
            os.unlink(tmp)
        except OSError:
            pass
        raise


def symlink_atomic(target: str, path: str) -> None:
    """Create or replace a symlink; a new one is made in a single step."""
    try:
        os.symlink(target, path)
        return
    except FileExistsError:
        pass
    directory, base = os.path.split(path)
    tmp = os.path.join(directory, f".#{base}.{os.getpid()}")
    try:  # noqa: SIM105 (the generator does not import contextlib at boot)
        os.unlink(tmp)
    except FileNotFoundError:
        pass
    os.symlink(target, tmp)
    try:
        os.rename(tmp, path)
    except OSError:
        os.unlink(tmp)
        raise


def write_in_place(path: str, data: bytes, mode: int = 0o644) -> None:
    """Create ``path`` (never through a symlink) and write ``data``: for a directory
    nobody reads before the writer is done."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW,
                 mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def write_generated(directory: str, files: Iterable[GeneratedFile],
                    atomic: bool = True) -> list[tuple[str, OSError]]:
    """Write every generated file below ``directory``; return the ones that failed.

    ``atomic=False`` is for a generator's fresh output directory only: files are
    created in place, links with one ``symlink`` (an existing one is replaced)."""
    failures: list[tuple[str, OSError]] = []
    made: set[str] = set()
    base = directory if directory.endswith("/") else directory + "/"
    for item in files:
        path = base + item.path  # a plain relative path (GeneratedFile checks it)
        parent = path.rpartition("/")[0]
        try:
            if parent not in made:
                os.makedirs(parent, exist_ok=True)
                made.add(parent)
            if item.link is not None:
                symlink_atomic(item.link, path)
            elif atomic:
                assert item.content is not None
                write_atomic(path, item.content)
            else:
                assert item.content is not None
                write_in_place(path, item.content.encode("utf-8", errors="surrogateescape"))
        except OSError as exc:
            failures.append((item.path, exc))
    return failures
