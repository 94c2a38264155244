"""How every ``layout`` command talks to its user: errors, warnings, notes and
JSON documents, and the one place where an outcome becomes an exit status.

Every line on standard error starts with ``layout:`` and a word saying what
it is (``error``, ``hint``, ``warning``); commands never format these lines
themselves.  ``--quiet`` silences warnings and notes (errors stay),
``--verbose`` lowers the log threshold to debug (``+ command`` lines of the
subprocess gateway), ``--debug`` also shows tracebacks.  Exit statuses are
``exits.py``'s; :func:`run` maps an exception to its status with
``exits.exit_code`` and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

import typer

from ...core.errors import EnvironmentProblem, LayoutError
from .. import log
from ..exits import EXIT_BUG, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, exit_code


@dataclass(slots=True)
class Verbosity:
    """The global ``--debug``, ``--quiet`` and ``--verbose`` of this invocation."""

    debug: bool = False
    quiet: bool = False
    verbose: bool = False


STATE = Verbosity()


def reset_verbosity() -> None:
    """Forget the global options of an earlier invocation in this process."""
    STATE.debug = STATE.quiet = STATE.verbose = False
    log.clear_threshold()


def set_verbosity(*, debug: bool | None = None, quiet: bool | None = None,
                  verbose: bool | None = None) -> None:
    """Record a global option (given before or after the subcommand) and apply it to
    the log threshold."""
    if debug is not None:
        STATE.debug = STATE.debug or debug
    if quiet is not None:
        STATE.quiet = STATE.quiet or quiet
    if verbose is not None:
        STATE.verbose = STATE.verbose or verbose
    if STATE.debug or STATE.verbose:
        log.set_threshold(log.LEVELS["debug"])
    elif STATE.quiet:
        log.set_threshold(log.LEVELS["err"])


def print_error(message: str, hint: str | None = None) -> None:
    """An error as ``layout`` prints it: one line, and one more for the hint."""
    typer.echo(f"layout: error: {log.one_line(message)}", err=True)
    if hint:
        typer.echo(f"layout: hint: {log.one_line(hint)}", err=True)


def print_errors(messages: Iterable[str], hint: str | None = None) -> None:
    """Several errors, then one hint for all of them."""
    for message in messages:
        print_error(message)
    if hint:
        typer.echo(f"layout: hint: {log.one_line(hint)}", err=True)


def warn(message: str, hint: str | None = None) -> None:
    """A warning (silenced by ``--quiet``)."""
    if not STATE.quiet:
        tail = f" (hint: {hint})" if hint else ""
        typer.echo(f"layout: warning: {log.one_line(message)}{tail}", err=True)


def note(message: str) -> None:
    """A remark on standard error that is not the command's result (``--quiet``: none)."""
    if not STATE.quiet:
        typer.echo(f"layout: {log.one_line(message)}", err=True)


def say(line: str) -> None:
    """A line of a command's text output on standard output."""
    typer.echo(line)


def fail(message: str, hint: str | None = None, code: int = EXIT_USAGE) -> NoReturn:
    """Stop a command with an error message and ``code``."""
    print_error(message, hint)
    raise typer.Exit(code)


FORMAT_PREFIX = "layout-trees-"
VERSION = 1


def envelope(name: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON document as every command writes it: ``format``, ``version``, the payload."""
    if "format" in payload or "version" in payload:
        raise ValueError("the payload of a document cannot set format or version")
    return {"format": FORMAT_PREFIX + name, "version": VERSION, **payload}


def print_document(name: str, payload: Mapping[str, Any]) -> None:
    """Print ``payload`` in its envelope as canonical JSON."""
    from ...core.documents import canonical_json

    typer.echo(canonical_json(envelope(name, payload)), nl=False)


def _click_errors() -> tuple[type[BaseException], ...]:
    # typer may bring its own copy of click (it does from 0.2x on): find the base class of
    # usage errors through typer, so that no separate click is needed.
    return tuple(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


def run(invoke: Callable[[], Any]) -> NoReturn:
    """Run a command line and exit with its status: the one place where an outcome,
    an expected error or a bug becomes the status documented in ``exits.py``."""
    try:
        code = invoke()
        if isinstance(code, int) and code:
            raise SystemExit(code)
    except typer.Exit as exc:
        raise SystemExit(exc.exit_code) from None
    except _click_errors() as exc:  # bad arguments: click's message, exit status 2
        exc.show()  # type: ignore[attr-defined]
        raise SystemExit(EXIT_USAGE) from None
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("layout: aborted", err=True)
        raise SystemExit(EXIT_INTERRUPTED) from None
    except LayoutError as exc:
        _report(exc)
    except PermissionError as exc:
        _report(EnvironmentProblem(f"{exc.filename or ''}: permission denied", "run as root"))
    except Exception as exc:
        if STATE.debug:
            raise
        typer.echo(f"layout: internal error: {type(exc).__name__}: {exc}", err=True)
        typer.echo("layout: hint: run again with --debug for the traceback", err=True)
        raise SystemExit(EXIT_BUG) from None
    raise SystemExit(EXIT_OK)


def _report(exc: LayoutError) -> NoReturn:
    if STATE.debug:
        raise exc
    print_error(exc.message, exc.hint)
    raise SystemExit(exit_code(exc))
