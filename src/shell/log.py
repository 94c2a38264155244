"""Log lines for the generator and the CLI, without the ``logging`` module.

As a generator we write to ``/dev/kmsg`` with a ``<priority>`` prefix and the
program's name (the journal picks them up from the kernel log); otherwise to
stderr.  ``SYSTEMD_LOG_LEVEL`` (a name or a number) sets the threshold, as
for systemd's own tools.
"""

from __future__ import annotations

import os
import re
import sys

TYPE_CHECKING = False  # typing is not imported at run time (the generator's start-up)
if TYPE_CHECKING:
    from typing import TextIO

LEVELS = {"emerg": 0, "alert": 1, "crit": 2, "err": 3, "warning": 4, "notice": 5, "info": 6,
          "debug": 7}
_NAMES = {v: k for k, v in LEVELS.items()}


def _level_from_env() -> int:
    raw = os.environ.get("SYSTEMD_LOG_LEVEL", "").strip().lower()
    if raw.isdigit():
        return min(int(raw), 7)
    return LEVELS.get(raw, LEVELS["info"])


_OVERRIDE: list[int] = []


def set_threshold(level: int) -> None:
    """Override ``SYSTEMD_LOG_LEVEL`` for every logger of this process (``layout -v``/``-q``)."""
    _OVERRIDE[:] = [level]


def clear_threshold() -> None:
    """Back to ``SYSTEMD_LOG_LEVEL``."""
    _OVERRIDE.clear()


_CONTROL = "[\x00-\x1f\x7f\ud800-\udfff]"  # compiled on first need (not at every boot)


def one_line(message: str) -> str:
    """``message`` on one line: control characters (a newline in a name on disk would
    forge a log record) and bytes that are not UTF-8 become ``\\xNN``; any other lone
    surrogate (from a document, not from a file name) ``\\uNNNN``."""
    if message.isprintable() or re.search(_CONTROL, message) is None:
        return message
    return re.sub(_CONTROL, _escaped, message)


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x80 or 0xDC80 <= code <= 0xDCFF:  # a byte, as surrogateescape keeps it
        return f"\\x{code & 0xFF:02x}"
    return f"\\u{code:04x}"


class Log:
    """A tiny leveled logger with one sink: kmsg or a text stream."""

    def __init__(self, ident: str = "layout", kmsg: bool = False,
                 stream: TextIO | None = None) -> None:
        self.ident = ident
        self.threshold = _level_from_env()
        self.counts = {level: 0 for level in LEVELS.values()}
        self._kmsg_fd: int | None = None
        self._stream = stream
        if kmsg:
            try:
                self._kmsg_fd = os.open("/dev/kmsg", os.O_WRONLY | os.O_CLOEXEC | os.O_NOCTTY)
            except OSError:
                self._kmsg_fd = None

    def log(self, level: int, message: str) -> None:
        self.counts[level] = self.counts.get(level, 0) + 1
        if level > (_OVERRIDE[0] if _OVERRIDE else self.threshold):
            return
        message = one_line(message)
        if self._kmsg_fd is not None:
            line = f"<{level}>{self.ident}[{os.getpid()}]: {message}\n"
            try:
                os.write(self._kmsg_fd, line.encode("utf-8", errors="backslashreplace")[:1000])
                return
            except OSError:
                pass
        stream = self._stream or sys.stderr
        prefix = "" if level >= LEVELS["info"] else f"{_NAMES[level]}: "
        print(f"{self.ident}: {prefix}{message}", file=stream)

    def error(self, message: str) -> None:
        self.log(LEVELS["err"], message)

    def warning(self, message: str) -> None:
        self.log(LEVELS["warning"], message)

    def notice(self, message: str) -> None:
        self.log(LEVELS["notice"], message)

    def info(self, message: str) -> None:
        self.log(LEVELS["info"], message)

    def debug(self, message: str) -> None:
        self.log(LEVELS["debug"], message)

    def close(self) -> None:
        if self._kmsg_fd is not None:
            os.close(self._kmsg_fd)
            self._kmsg_fd = None
