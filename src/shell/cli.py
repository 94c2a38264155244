"""``layout``: the command-line interface.

This module turns errors into exit codes for every ``layout`` command; the
codes themselves, documented in the README, live in ``exits.py``.
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from ..core.config import Config, ParsedConfig
from ..core.errors import EnvironmentProblem, LayoutError, SnapshotError
from ..core.model import Snapshot
from ..core.plan import make_plan
from ..core.plan_report import plan_to_text
from ..core.snapshot_json import dump_snapshot, load_snapshot
from .configfile import load_config, load_strict, read_document, strict
from .exits import EXIT_BUG, EXIT_ENVIRONMENT, EXIT_OK, EXIT_USAGE, exit_code
from .files import write_generated
from .privilege import readable, require_root
from .scan import scan

app = typer.Typer(
    name="layout",
    help="Mount, back up and check btrfs layout trees.",
    epilog="Commands that change the machine need root, their dry runs too. The others "
    "(plan, snapshot, generate, check, diff, audit, lost) run as any user and stop, exit "
    "3, when they cannot read a tree.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
STATE = {"debug": False}


class Format(StrEnum):
    """The output formats of ``layout plan --format``."""

    text = "text"
    json = "json"


ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", readable=False,
                 help="Configuration file (default: search /etc, see README)."),
]
SnapshotOpt = Annotated[
    Path | None,
    typer.Option("--snapshot", "-s", help="Plan from a JSON snapshot instead of scanning."),
]


def print_error(message: str, hint: str | None = None) -> None:
    """An error as ``layout`` prints it: one line, and one more for the hint."""
    typer.echo(f"layout: error: {message}", err=True)
    if hint:
        typer.echo(f"layout: hint: {hint}", err=True)


def fail(message: str, hint: str | None = None, code: int = EXIT_USAGE) -> NoReturn:
    """Stop a command with an error message and ``code``."""
    print_error(message, hint)
    raise typer.Exit(code)


def warn_problems(parsed: ParsedConfig) -> None:
    for problem in parsed.problems:
        hint = f" (hint: {problem.hint})" if problem.hint else ""
        typer.echo(f"layout: warning: {problem.message}{hint}", err=True)


def read_snapshot(path: Path) -> tuple[Snapshot, ParsedConfig | None]:
    """A snapshot file (``-``: standard input); any failure is one SnapshotError line."""
    text = read_document(str(path), SnapshotError, "snapshot")
    try:
        return load_snapshot(text)
    except SnapshotError as exc:
        if exc.message.startswith(str(path)):
            raise
        raise SnapshotError(f"{path}: {exc.message}", exc.hint) from None


def gather(config_path: Path | None, snapshot_path: Path | None,
           full: bool = True, *, unparsable_is_problem: bool = False,
           ) -> tuple[Config, Snapshot, ParsedConfig]:
    """The configuration and a snapshot: scanned live, or read from a file.  With
    ``unparsable_is_problem`` (``layout check``) see ``configfile.load_config``."""
    if snapshot_path is not None:
        snapshot, embedded = read_snapshot(snapshot_path)
        if config_path is not None:
            parsed = load_config(str(config_path), required=True,
                                 unparsable_is_problem=unparsable_is_problem)
        elif embedded is not None:
            parsed = embedded
        else:
            fail(f"{snapshot_path}: the snapshot has no configuration",
                 "pass --config FILE as well")
        return parsed.config, snapshot, parsed if unparsable_is_problem else strict(parsed)
    parsed = load_config(str(config_path) if config_path else None, required=True,
                         unparsable_is_problem=unparsable_is_problem)
    parsed = parsed if unparsable_is_problem else strict(parsed)
    return parsed.config, readable(scan(parsed.config, full=full)), parsed


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"layout {version('layout-trees')}")
        except PackageNotFoundError:
            typer.echo("layout (version unknown: the package is not installed)")
        raise typer.Exit(EXIT_OK)


@app.callback()
def main_callback(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    version: Annotated[bool, typer.Option(
        "--version", help="Print the version and exit.", callback=_print_version,
        is_eager=True)] = False,
) -> None:
    STATE["debug"] = debug


@app.command()
def plan(
    config: ConfigOpt = None,
    snapshot: SnapshotOpt = None,
    format: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.text,
    digest: Annotated[bool, typer.Option(
        "--digest", help="Print the sha256 of the canonical JSON plan instead.")] = False,
) -> None:
    """Show what would be mounted where, and why anything is skipped. Writes nothing."""
    cfg, snap, parsed = gather(config, snapshot, full=False)
    warn_problems(parsed)
    result = make_plan(cfg, snap)
    if digest or format is Format.json:
        from ..api import digest as digest_of
        from ..core.plan_json import dump_plan

        text = dump_plan(cfg, result)
        typer.echo(digest_of(text) if digest else text, nl=digest)
    else:
        typer.echo(plan_to_text(cfg, result), nl=False)


@app.command("snapshot")
def snapshot_cmd(config: ConfigOpt = None, digest: Annotated[bool, typer.Option(
        "--digest", help="Print the sha256 of the canonical JSON instead.")] = False) -> None:
    """Print the scan of the layout trees as a canonical JSON document."""
    parsed = load_strict(str(config) if config else None)
    text = dump_snapshot(readable(scan(parsed.config)), parsed.config)
    if digest:
        from ..api import digest as digest_of

        text = digest_of(text) + "\n"
    typer.echo(text, nl=False)


@app.command()
def generate(
    directory: Annotated[Path, typer.Argument(help="Directory to write the units into.")],
    config: ConfigOpt = None,
    snapshot: SnapshotOpt = None,
) -> None:
    """Write the units the boot-time generator would write, for inspection."""
    from .generator import unit_files
    from .log import Log

    cfg, snap, parsed = gather(config, snapshot, full=False)
    warn_problems(parsed)
    result, files = unit_files(cfg, snap, Log("layout"))
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(f"{directory}: cannot create: {exc.strerror}", code=EXIT_ENVIRONMENT)
    failures = write_generated(str(directory), files)
    for path, exc in failures:
        typer.echo(f"layout: error: {directory / path}: {exc.strerror or exc}", err=True)
    typer.echo(f"wrote {len(files) - len(failures)} file(s) for {len(result.mounts)} mount(s) "
               f"to {directory}")
    if failures:
        raise typer.Exit(EXIT_ENVIRONMENT)


@app.command()
def demo(
    workdir: Annotated[Path, typer.Option(help="Where to put the demo image and files.")] = Path(
        "/var/tmp/layout-trees-demo"),
    keep: Annotated[bool, typer.Option(help="Leave the demo image mounted.")] = False,
) -> None:
    """Build an example layout tree on a loopback btrfs image, generate its units and mount them."""
    from .demo import run_demo

    require_root()
    run_demo(workdir, keep=keep)


# Subcommands that live in their own modules.
def _register() -> None:
    import importlib

    for module in ("check_cli", "backup_cli", "restore_cli", "live_cli", "audit_cli"):
        try:
            mod = importlib.import_module(f"{__package__}.{module}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__package__}.{module}":
                raise
            continue
        mod.register(app)


_register()


# typer may bring its own copy of click (it does from 0.2x on): find the base
# class of usage errors through typer, so that no separate click is needed.
_CLICK_ERRORS = tuple(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


def main() -> None:
    """Entry point of the ``layout`` console script."""
    try:
        # Without standalone mode, click returns the status of typer.Exit instead of raising.
        code = app(standalone_mode=False)
        if isinstance(code, int) and code:
            raise SystemExit(code)
    except typer.Exit as exc:
        raise SystemExit(exc.exit_code) from None
    except _CLICK_ERRORS as exc:  # bad arguments: click's message, exit status 2
        exc.show()
        raise SystemExit(EXIT_USAGE) from None
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("layout: aborted", err=True)
        raise SystemExit(130) from None
    except LayoutError as exc:
        _report(exc)
    except PermissionError as exc:
        _report(EnvironmentProblem(f"{exc.filename or ''}: permission denied", "run as root"))
    except Exception as exc:
        if STATE["debug"]:
            raise
        typer.echo(f"layout: internal error: {type(exc).__name__}: {exc}", err=True)
        typer.echo("layout: hint: run again with --debug for the traceback", err=True)
        raise SystemExit(EXIT_BUG) from None
    raise SystemExit(EXIT_OK)


def _report(exc: LayoutError) -> NoReturn:
    if STATE["debug"]:
        raise exc
    print_error(exc.message, exc.hint)
    raise SystemExit(exit_code(exc))


if __name__ == "__main__" and os.environ.get("LAYOUT_NO_MAIN") is None:
    main()
