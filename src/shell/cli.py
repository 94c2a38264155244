"""``layout``: the command-line interface.

This module turns errors into exit codes for every ``layout`` command; the
codes themselves, documented in the README, live in ``exits.py``.
"""

from __future__ import annotations

import os
import sys
from functools import cache
from pathlib import Path
from typing import Annotated, Any

import typer

from ..core.config import Config, ParsedConfig
from ..core.errors import SnapshotError
from ..core.model import Snapshot
from ..core.plan import make_plan
from ..core.plan_report import plan_to_text
from ..core.snapshot_json import dump_snapshot, load_snapshot
from ..core.units import render
from ..core.wording import count
from . import cli_report
from .cli_help import add_options, conventional
from .cli_options import (
    ConfigOpt,
    DigestOpt,
    Format,
    FormatOpt,
    SnapshotOpt,
    TreeOpt,
    config_arg,
    select_trees,
)
from .cli_report import fail, note, print_error, warn
from .configfile import load_config, read_document
from .exits import EXIT_ENVIRONMENT, EXIT_OK
from .files import write_generated
from .scan import scan

__all__ = ["ConfigOpt", "Format", "app", "command", "fail", "gather", "main", "print_error",
           "warn_problems"]

app = typer.Typer(
    name="layout",
    help="Mount, back up and check btrfs layout trees.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def warn_problems(parsed: ParsedConfig) -> None:
    """Every problem of a configuration that was still usable, as a warning."""
    for problem in parsed.problems:
        warn(problem.message, problem.hint)


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
           trees: list[str] | None = None) -> tuple[Config, Snapshot, ParsedConfig]:
    """The configuration (limited to ``trees``, see ``--tree``) and a snapshot: scanned
    live, or read from a file.  With ``unparsable_is_problem`` (``layout check``) see
    ``configfile.load_config``."""
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
        config = select_trees(parsed.config, trees)
        if trees:
            import dataclasses

            snapshot = dataclasses.replace(snapshot, trees=tuple(
                t for t in snapshot.trees if t.name in trees))
        return config, snapshot, parsed
    parsed = load_config(config_arg(config_path), required=True,
                         unparsable_is_problem=unparsable_is_problem)
    config = select_trees(parsed.config, trees)
    return config, scan(config, full=full), parsed


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"layout {version('layout-trees')}")
        except PackageNotFoundError:
            typer.echo("layout (version unknown: the package is not installed)")
        raise typer.Exit(EXIT_OK)


def _debug(value: bool) -> None:
    cli_report.set_verbosity(debug=value)


def _quiet(value: bool) -> None:
    cli_report.set_verbosity(quiet=value)


def _verbose(value: bool) -> None:
    cli_report.set_verbosity(verbose=value)


DebugOpt = Annotated[bool, typer.Option(
    "--debug", help="Show tracebacks on errors, and debug messages.", callback=_debug,
    expose_value=False)]
QuietOpt = Annotated[bool, typer.Option(
    "--quiet", "-q", help="Print only errors and the result: no warnings or notes.",
    callback=_quiet, expose_value=False)]
VerboseOpt = Annotated[bool, typer.Option(
    "--verbose", "-v", help="Print more: debug messages such as the commands run.",
    callback=_verbose, expose_value=False)]


def _global_options(debug: DebugOpt = False, quiet: QuietOpt = False,
                    verbose: VerboseOpt = False) -> None:
    """The options every command accepts, before or after its name."""


@app.callback()
def main_callback(
    debug: DebugOpt = False,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    version: Annotated[bool, typer.Option(
        "--version", help="Print the version and exit.", callback=_print_version,
        is_eager=True)] = False,
) -> None:
    pass


@app.command()
def plan(
    config: ConfigOpt = None,
    snapshot: SnapshotOpt = None,
    tree: TreeOpt = None,
    format: FormatOpt = Format.text,
    digest: DigestOpt = False,
) -> None:
    """Show what would be mounted where, and why anything is skipped. Writes nothing."""
    cfg, snap, parsed = gather(config, snapshot, full=False, trees=tree)
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
def snapshot_cmd(config: ConfigOpt = None, tree: TreeOpt = None,
                 digest: DigestOpt = False) -> None:
    """Print the scan of the layout trees as a canonical JSON document."""
    parsed = load_config(config_arg(config), required=True)
    warn_problems(parsed)
    cfg = select_trees(parsed.config, tree)
    text = dump_snapshot(scan(cfg), cfg)
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
    cfg, snap, parsed = gather(config, snapshot, full=False)
    warn_problems(parsed)
    result = make_plan(cfg, snap)
    for skip in result.skips:
        note(f"skipped: {skip.detail} [{skip.reason.value}]")
    files = render(result, cfg.source)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(f"{directory}: cannot create: {exc.strerror}", code=EXIT_ENVIRONMENT)
    failures = write_generated(str(directory), files)
    for path, exc in failures:
        print_error(f"{directory / path}: {exc.strerror or exc}")
    typer.echo(f"wrote {count(len(files) - len(failures), 'file')} for "
               f"{count(len(result.mounts), 'mount')} to {directory}")
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

    run_demo(workdir, keep=keep)


# Subcommands that live in their own modules.
SUBCOMMAND_MODULES = ("check_cli", "backup_cli", "restore_cli", "live_cli", "audit_cli")


def _register() -> None:
    import importlib

    for module in SUBCOMMAND_MODULES:
        importlib.import_module(f"{__package__}.{module}").register(app)


_register()


@cache
def command() -> Any:
    """The click command tree of ``layout``, as it runs and as its help and man pages show
    it: conventional metavars, and the global options on every subcommand."""
    import typer.main

    root = typer.main.get_command(app)
    helper = typer.Typer(add_completion=False)
    helper.command()(_global_options)
    add_options(root, typer.main.get_command(helper).params)
    return conventional(root)


def main() -> None:
    """Entry point of the ``layout`` console script."""
    cli_report.run(lambda: command().main(args=sys.argv[1:], prog_name="layout",
                                          standalone_mode=False))


if __name__ == "__main__" and os.environ.get("LAYOUT_NO_MAIN") is None:
    main()
