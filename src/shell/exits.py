"""Exit codes, in one place, and the error-to-exit mapping of the lean entry points.

The typer CLI (``cli.py``) and the no-typer entry points that systemd units
run (``python3 -m layout_trees.shell.reload``/``persist``) share these codes:

====  =====================================================================
0     success
1     the command ran and found problems (``check`` findings, ``verify``,
      a leaf ``reload`` had to keep mounted)
2     bad input: configuration, snapshot, arguments
3     the machine is not as needed: missing tool, no permission, not btrfs
70    internal error (a bug)
130   interrupted (Ctrl-C)
====  =====================================================================
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from ..core.errors import LayoutError, UserError

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_ENVIRONMENT, EXIT_BUG = 0, 1, 2, 3, 70
EXIT_INTERRUPTED = 130


def exit_code(exc: LayoutError) -> int:
    """The exit code for an expected error: bad input or an unfit machine."""
    return EXIT_USAGE if isinstance(exc, UserError) else EXIT_ENVIRONMENT


def run_plain(action: Callable[[], int | None]) -> int:
    """Run ``action`` for a lean entry point: a one-line message and its code on errors."""
    try:
        return action() or EXIT_OK
    except LayoutError as exc:
        print(f"layout: error: {exc}", file=sys.stderr)
        return exit_code(exc)
