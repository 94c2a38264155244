"""The one gateway for running programs.

Argument lists only (no shell), logged as ``+ command`` at debug level,
standard input from /dev/null unless given, and a clear error naming the
program when it is missing or fails.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shlex
import signal
import subprocess
from collections.abc import Sequence

from ..core.errors import EnvironmentProblem
from .log import Log

_log = Log("layout")


_PR_SET_PDEATHSIG = 1
_MAX_DETAIL = 400


def _die_with_parent() -> None:
    """In the child before exec: killed when we die, even by SIGKILL."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """Kill a child started by this gateway together with everything it started."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        process.kill()
    process.wait()


def spawn(cmd: Sequence[str], **kwargs: object) -> subprocess.Popen[bytes]:
    """Start a child in its own process group that dies with us; see :func:`kill_group`."""
    return subprocess.Popen(list(cmd), start_new_session=True,  # type: ignore[call-overload]
                            preexec_fn=_die_with_parent, **kwargs)


def error_detail(stderr: bytes | None) -> str:
    """A program's complaint as one line: every non-empty line of its stderr, joined."""
    text = (stderr or b"").decode("utf-8", "replace")
    lines = [" ".join(line.split()) for line in text.splitlines()]
    joined = "; ".join(line for line in lines if line)
    if len(joined) > _MAX_DETAIL:
        joined = joined[:_MAX_DETAIL - 1] + "…"
    return f": {joined}" if joined else ""


def run(cmd: Sequence[str], *, check: bool = True, capture: bool = True,
        input: bytes | None = None, env: dict[str, str] | None = None,
        timeout: float | None = None, hint: str | None = None,
        ) -> subprocess.CompletedProcess[bytes]:
    """Run ``cmd``; an interruption (or a time-out) kills it with its whole process group."""
    _log.debug("+ " + shlex.join(cmd))
    try:
        process = spawn(
            cmd,
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE if capture else None,
            stderr=subprocess.PIPE if capture else None,
            env=env,
        )
    except FileNotFoundError:
        raise EnvironmentProblem(f"{cmd[0]}: command not found",
                                 hint or f"install the package that provides {cmd[0]}") from None
    try:
        stdout, stderr = process.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(process)
        raise EnvironmentProblem(f"{shlex.join(cmd)}: timed out after {timeout} s", hint) from None
    except BaseException:
        kill_group(process)
        raise
    result = subprocess.CompletedProcess(list(cmd), process.returncode, stdout, stderr)
    if check and result.returncode != 0:
        raise EnvironmentProblem(
            f"{shlex.join(cmd)} failed with exit status {result.returncode}"
            f"{error_detail(result.stderr)}", hint)
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
            producer = spawn(first, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=err1)
        except FileNotFoundError:
            raise EnvironmentProblem(f"{first[0]}: command not found", hint) from None
        try:
            consumer = spawn(second, stdin=producer.stdout, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        except FileNotFoundError:
            kill_group(producer)
            raise EnvironmentProblem(f"{second[0]}: command not found", hint) from None
        finally:
            assert producer.stdout is not None
            producer.stdout.close()
        try:
            out, err2 = consumer.communicate()
            producer.wait()
        except BaseException:
            kill_group(consumer)
            kill_group(producer)
            raise
        err1.seek(0)
        stderr1 = err1.read()
    for cmd, code, err in ((second, consumer.returncode, err2),
                           (first, producer.returncode, stderr1)):
        if cmd is first and code == -13 and consumer.returncode == 0:
            continue  # SIGPIPE: the consumer succeeded and stopped reading at the stream's end
        if code != 0:
            raise EnvironmentProblem(
                f"{shlex.join(cmd)} failed with exit status {code}{error_detail(err)}", hint)
    return subprocess.CompletedProcess(list(second), 0, out, err2)


class Background:
    """A program started now and waited for later (e.g. every target's listing at once).

    Its output goes to files, not pipes, so it runs to its end while nobody reads it;
    like :func:`run`, it is in its own process group and dies with us."""

    def __init__(self, cmd: Sequence[str]) -> None:
        import tempfile

        _log.debug("+ " + shlex.join(cmd) + " &")
        self.cmd = list(cmd)
        self._out = tempfile.TemporaryFile()  # noqa: SIM115 (closed in wait())
        self._err = tempfile.TemporaryFile()  # noqa: SIM115
        self._process: subprocess.Popen[bytes] | None
        try:
            self._process = spawn(cmd, stdin=subprocess.DEVNULL, stdout=self._out,
                                  stderr=self._err)
        except FileNotFoundError:
            self._process = None

    def wait(self, timeout: float) -> subprocess.CompletedProcess[bytes]:
        """Its result; ``FileNotFoundError`` when it could not start, ``TimeoutError`` (it
        is killed) after ``timeout`` seconds.  Interrupted, it is killed too."""
        try:
            process = self._process
            if process is None:
                raise FileNotFoundError(self.cmd[0])
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                kill_group(process)
                raise TimeoutError(f"{shlex.join(self.cmd)}: timed out after {timeout} s") from None
            except BaseException:
                kill_group(process)
                raise
            self._out.seek(0)
            self._err.seek(0)
            return subprocess.CompletedProcess(self.cmd, process.returncode, self._out.read(),
                                               self._err.read())
        finally:
            self._out.close()
            self._err.close()
