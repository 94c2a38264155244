"""``layout``: the command-line interface.

Theory of operation.  ``cli.app`` is the root; each family of commands lives
in its own module of this package (``cli.plan``, ``cli.check``, ``cli.backup``,
…) with a ``register(app)``.  The root knows the families by name (:data:`LAZY`) and
imports a module only when one of its commands runs or shows its help, so
``layout --help`` and ``layout reload`` do not pay for the backup code.
Options shared by several commands are declared once in ``cli.options``;
every message and every exit status leaves through ``cli.report``.
"""

from __future__ import annotations

import importlib
import os
import sys
from functools import cache
from typing import Annotated, Any

import typer
import typer.core

from ..exits import EXIT_OK
from . import report as cli_report
from .help import add_options, conventional

LAZY: dict[str, tuple[str, str]] = {
    "plan": ("plan", "Show what would be mounted where, and why anything is skipped. Writes "
                         "nothing."),
    "snapshot": ("plan", "Print the scan of the layout trees as a canonical JSON document."),
    "generate": ("plan", "Write the units the boot-time generator would write, for "
                             "inspection."),
    "demo": ("plan", "Build an example layout tree on a loopback btrfs image, generate its "
                         "units and mount them."),
    "check": ("check", "Lint the layout trees and their configuration (exit 1 on "
                           "errors)."),
    "restore": ("restore", "Rebuild a layout tree from a backup target alone (its stored "
                               "manifest and backups)."),
    "drop": ("restore", "Delete a leaf, only once its latest state is on every target of its "
                            "policy and nothing uses it."),
    "persist": ("live", "Turn an existing directory into a persisted leaf, live: copy it into"
                            " a new subvolume of its tree and mount that in its place."),
    "reload": ("live", "Mount leaves added since boot and unmount leaves removed (unless in "
                           "use)."),
    "diff": ("audit", "Compare two snapshots, plans or backup manifests; exit 1 when they "
                          "differ."),
    "audit": ("audit", "Compare the machine with a recorded expectation, or its mounts with "
                           "its trees."),
    "lost": ("audit", "What on the ephemeral root is outside every persisted path, largest "
                          "first."),
    "backup": ("backup", "Back up the leaves of the layout trees with btrbk."),
}
"""Every command of ``layout``, in the order ``--help`` lists them: the module that
registers it and its short help (a test keeps it equal to what the module says)."""


class LazyGroup(typer.core.TyperGroup):
    """The root command: lists every command of :data:`LAZY`, imports a module on use."""

    def list_commands(self, ctx: Any) -> list[str]:
        return [*LAZY, *(n for n in self.commands if n not in LAZY)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in self.commands and cmd_name in LAZY:
            self.load(LAZY[cmd_name][0])
        return self.commands.get(cmd_name)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        name = args[0] if args else ""
        if name and not name.startswith("-") and name not in self.list_commands(ctx):
            import difflib

            close = difflib.get_close_matches(name, self.list_commands(ctx))
            ctx.fail(f"No such command {name!r}."
                     + (f" Did you mean {', '.join(map(repr, close))}?" if close else ""))
        return super().resolve_command(ctx, args)

    def load(self, module: str) -> None:
        """Register the commands of ``module`` (conventional help, global options)."""
        import typer.main

        family = typer.Typer(add_completion=False, rich_markup_mode=None)
        family.callback()(_nothing)  # a group even for a module with one command
        importlib.import_module(f"{__package__}.{module}").register(family)
        for name, cmd in typer.main.get_command(family).commands.items():
            add_options(cmd, _global_params(), include_root=True)
            self.commands[name] = conventional(cmd)

    def load_all(self) -> LazyGroup:
        """Every command loaded (for the man pages and completions)."""
        for module in dict.fromkeys(m for m, _ in LAZY.values()):
            self.load(module)
        return self

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        rows = []
        limit = formatter.width - 6 - max(len(n) for n in self.list_commands(ctx))
        for name in self.list_commands(ctx):
            cmd = self.commands.get(name)
            if cmd is None:
                rows.append((name, _short(LAZY[name][1], limit)))
            elif not cmd.hidden:
                rows.append((name, cmd.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _short(text: str, limit: int) -> str:
    """``text`` shortened as click shortens a command's help for a listing."""
    click_core = sys.modules[typer.core.TyperGroup.__mro__[1].__module__]
    shorten = getattr(click_core, "make_default_short_help", None)
    return str(shorten(text, limit)) if shorten is not None else text


def _nothing() -> None:
    pass


app = typer.Typer(
    name="layout",
    cls=LazyGroup,
    help="Mount, back up and check btrfs layout trees.",
    epilog="Commands that change the machine need root, their dry runs too. The others "
    "(plan, snapshot, generate, check, diff, audit, lost) run as any user and stop, exit "
    "3, when they cannot read a tree.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


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


@cache
def _global_params() -> tuple[Any, ...]:
    import typer.main

    helper = typer.Typer(add_completion=False)
    helper.command()(_global_options)
    return tuple(typer.main.get_command(helper).params)


@cache
def command() -> LazyGroup:
    """The click command tree of ``layout``, as it runs and as its help shows it:
    conventional metavars, and the global options on every subcommand (each family of
    commands is loaded when first used)."""
    import typer.main

    root = typer.main.get_command(app)
    assert isinstance(root, LazyGroup)
    return conventional(root)


def full_command() -> LazyGroup:
    """:func:`command` with every command loaded."""
    return command().load_all()


def main() -> None:
    """Entry point of the ``layout`` console script."""
    cli_report.reset_verbosity()
    cli_report.run(lambda: command().main(args=sys.argv[1:], prog_name="layout",
                                          standalone_mode=False))


if __name__ == "__main__" and os.environ.get("LAYOUT_NO_MAIN") is None:
    main()
