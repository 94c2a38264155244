"""The options that several ``layout`` commands share, each declared once.

A command takes ``config: ConfigOpt = None`` and gets the same flags, the
same help text and the same metavar as every other command: a new command
cannot drift from the rest by declaring its own ``--config``.  ``--format``
accepts the hidden ``--json`` of earlier versions as an alias.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ...core.errors import UserError
from ...core.record import replace

if TYPE_CHECKING:
    from ...core.config import Config


class Format(StrEnum):
    """What a command prints: text for people, or a versioned JSON document."""

    text = "text"
    json = "json"


ConfigOpt = Annotated[Path | None, typer.Option(
    "--config", "-c", metavar="PATH", readable=False,
    help="Configuration file (default: the search described in layout-trees.toml(5)).")]
SnapshotOpt = Annotated[Path | None, typer.Option(
    "--snapshot", "-s", metavar="PATH",
    help="Read this JSON snapshot ('layout snapshot') instead of scanning.")]
TreeOpt = Annotated[list[str] | None, typer.Option(
    "--tree", "-t", metavar="NAME",
    help="Only this tree (repeatable; default: every configured tree).")]
DryRunOpt = Annotated[bool, typer.Option(
    "--dry-run", "-n", help="Print what would be done; change nothing.")]
FormatOpt = Annotated[Format, typer.Option(
    "--format", "-f", metavar="[text|json]",
    help="Output format: text, or a JSON document with 'format' and 'version'.")]
JsonAliasOpt = Annotated[bool, typer.Option("--json", hidden=True,
                                            help="The same as --format json.")]
DigestOpt = Annotated[bool, typer.Option(
    "--digest", help="Print the sha256 of the canonical JSON document instead.")]


def output_format(format: Format, as_json: bool) -> Format:
    """The format asked for, with the hidden ``--json`` alias folded in."""
    return Format.json if as_json else format


def config_arg(config: Path | None) -> str | None:
    """The ``--config`` value as the loaders take it."""
    return str(config) if config is not None else None


def select_trees(config: Config, names: list[str] | None) -> Config:
    """``config`` limited to the trees named by ``--tree`` (all of them without any);
    an unknown name is a usage error that lists the known ones."""
    if not names:
        return config
    known = [t.name for t in config.trees]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UserError(f"no tree named {unknown[0]!r}",
                        "known trees: " + (", ".join(known) or "none"))
    return replace(config, trees=tuple(t for t in config.trees if t.name in names))
