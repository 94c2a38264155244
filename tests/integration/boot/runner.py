"""The one way the boot harness runs a host command.

argv lists only, stdin from /dev/null, logged as ``+ cmd`` before it runs,
and a failure raises with the command's own stderr in the message, so a broken
build step says which tool failed and why.
"""

from __future__ import annotations

import logging
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

log = logging.getLogger("layout_trees.boot")


class HarnessError(RuntimeError):
    """The host could not prepare or run a guest (not a finding about the guest)."""


def run(argv: Sequence[str | Path], *, env: Mapping[str, str] | None = None,
        timeout: float | None = 600, capture: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = [str(a) for a in argv]
    log.debug("+ %s", shlex.join(cmd))
    try:
        done = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=capture, text=True,
                              errors="backslashreplace", env=env, timeout=timeout, check=False)
    except FileNotFoundError as exc:
        raise HarnessError(f"{cmd[0]}: not installed ({exc})") from exc
    except subprocess.TimeoutExpired as exc:
        raise HarnessError(f"{shlex.join(cmd)}: timed out after {timeout} s") from exc
    if done.returncode != 0:
        detail = (done.stderr or done.stdout or "").strip()[-4000:] if capture else ""
        raise HarnessError(f"{shlex.join(cmd)} failed with exit code {done.returncode}"
                           + (f":\n{detail}" if detail else ""))
    return done
