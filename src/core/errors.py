"""One error hierarchy for the whole project.

Every expected failure is a :class:`LayoutError` carrying a message that names
what is wrong (usually a path) and an optional hint saying how to fix it.  The
CLI turns these into one-line messages and exit codes; anything else escaping
a core function is a bug.
"""

from __future__ import annotations


class LayoutError(Exception):
    """Base of every error the project raises on purpose."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} (hint: {self.hint})"
        return self.message


class UserError(LayoutError):
    """The input given to us is wrong: configuration, snapshot, arguments."""


class ConfigError(UserError):
    """The configuration file is malformed or inconsistent."""


class SnapshotError(UserError):
    """A snapshot document cannot be read."""


class UnsafeNameError(UserError):
    """A path component cannot be represented safely in a unit file."""


class EnvironmentProblem(LayoutError):
    """The machine is not as needed: missing tool, not btrfs, no permission."""
