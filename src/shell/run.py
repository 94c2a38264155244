"""The one gateway for running programs.

Argument lists only (no shell), logged as ``+ command`` at debug level,
standard input from /dev/null unless given, and a clear error naming the
program when it is missing or fails.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Sequence

from ..core.errors import EnvironmentProblem
from .log import Log

_log = Log("layout")


def run(cmd: Sequence[str], *, check: bool = True, capture: bool = True,
        input: bytes | None = None, env: dict[str, str] | None = None,
        timeout: float | None = None, hint: str | None = None,
        ) -> subprocess.CompletedProcess[bytes]:
    _log.debug("+ " + shlex.join(cmd))
    try:
        result = subprocess.run(
            list(cmd),
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE if capture else None,
            stderr=subprocess.PIPE if capture else None,
            env=env,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        raise EnvironmentProblem(f"{cmd[0]}: command not found",
                                 hint or f"install the package that provides {cmd[0]}") from None
    except subprocess.TimeoutExpired:
        raise EnvironmentProblem(f"{shlex.join(cmd)}: timed out after {timeout} s", hint) from None
    if check and result.returncode != 0:
        stderr = (result.stderr or b"").decode("utf-8", "replace").strip()
        detail = f": {stderr.splitlines()[-1]}" if stderr else ""
        raise EnvironmentProblem(
            f"{shlex.join(cmd)} failed with exit status {result.returncode}{detail}", hint)
    return result


def run_pipeline(first: Sequence[str], second: Sequence[str], *,
                 hint: str | None = None) -> subprocess.CompletedProcess[bytes]:
    """``first | second``, both checked; the result is the second's (stdout captured).

    A producer killed by SIGPIPE after the consumer exited successfully is not a failure:
    ``btrfs receive`` stops reading at the end marker of the stream."""
    import tempfile

    _log.debug("+ " + shlex.join(first) + " | " + shlex.join(second))
    with tempfile.TemporaryFile() as err1:
        try:
            producer = subprocess.Popen(list(first), stdin=subprocess.DEVNULL,
                                        stdout=subprocess.PIPE, stderr=err1)
        except FileNotFoundError:
            raise EnvironmentProblem(f"{first[0]}: command not found", hint) from None
        try:
            consumer = subprocess.Popen(list(second), stdin=producer.stdout,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except FileNotFoundError:
            producer.kill()
            producer.wait()
            raise EnvironmentProblem(f"{second[0]}: command not found", hint) from None
        finally:
            assert producer.stdout is not None
            producer.stdout.close()
        out, err2 = consumer.communicate()
        producer.wait()
        err1.seek(0)
        stderr1 = err1.read()
    for cmd, code, err in ((second, consumer.returncode, err2),
                           (first, producer.returncode, stderr1)):
        if cmd is first and code == -13 and consumer.returncode == 0:
            continue  # SIGPIPE: the consumer succeeded and stopped reading at the stream's end
        if code != 0:
            text = err.decode("utf-8", "replace").strip()
            detail = f": {text.splitlines()[-1]}" if text else ""
            raise EnvironmentProblem(f"{shlex.join(cmd)} failed with exit status {code}{detail}",
                                     hint)
    return subprocess.CompletedProcess(list(second), 0, out, err2)
