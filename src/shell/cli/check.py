"""``layout check``: lint the layout trees and their configuration.

Exit status (see also ``layout_trees.shell.exits``):

====  =====================================================================
0     no error findings (warnings and notes may have been printed)
1     error findings; with ``--strict`` warnings count too
2     the check could not run: configuration file or snapshot unreadable,
      no configuration found, bad arguments
====  =====================================================================

A configuration file that can be read but not parsed (a TOML syntax error)
is a finding (LT001), not a failure to run: CI shows it like any other.
"""

from __future__ import annotations

import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from ...core.check import check, rule_of
from ...core.check.report import (
    report_to_github,
    report_to_json,
    report_to_sarif_text,
    report_to_text,
    rules_to_text,
)
from ...core.config import ParsedConfig
from ...core.model import Snapshot
from ...core.plan import Plan
from ...core.record import replace
from ..configfile import load_config
from ..exits import EXIT_FINDINGS, EXIT_OK
from .options import ConfigOpt, SnapshotOpt, TreeOpt
from .report import STATE


class CheckFormat(str, Enum):  # noqa: UP042 (typer needs a str mixin)
    """The output formats of ``layout check --format``."""

    text = "text"
    json = "json"
    sarif = "sarif"
    github = "github"


def read_config(explicit: str | None) -> ParsedConfig:
    """The configuration, with a syntax error turned into a problem (a finding);
    raises :class:`ConfigError` (exit status 2) when there is nothing to read."""
    return load_config(explicit, required=True, unparsable_is_problem=True)


def _checked_world(config_path: Path | None, snapshot_path: Path | None,
                   trees: list[str] | None = None) -> tuple[ParsedConfig, Snapshot, Plan | None]:
    """The configuration and snapshot to check; a live scan also gets its crossings, and
    the plan made for them (the check uses it instead of planning again)."""

    from .plan import gather

    config, snapshot, parsed = gather(config_path, snapshot_path, unparsable_is_problem=True,
                                      trees=trees)
    parsed = replace(parsed, config=config)
    if snapshot_path is not None:
        return parsed, snapshot, None
    from ...core.plan import make_plan
    from ..reload import with_crossings

    plan = make_plan(config, snapshot)
    return parsed, with_crossings(snapshot, plan), plan


def _version() -> str | None:
    from importlib import metadata

    try:
        return metadata.version("layout-trees")
    except metadata.PackageNotFoundError:
        return None


def _colour() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def check_command(
    config: ConfigOpt = None,
    snapshot: SnapshotOpt = None,
    tree: TreeOpt = None,
    format: Annotated[CheckFormat, typer.Option(
        "--format", "-f", help="text, json, sarif (2.1.0) or github (workflow commands).")
    ] = CheckFormat.text,
    strict: Annotated[bool, typer.Option(
        "--strict", help="Fail (exit 1) on warnings too, not only on errors.")] = False,
    verbose: Annotated[bool, typer.Option(
        "--verbose", "-v", help="Also show findings silenced by 'ignore', with the reason, "
        "and trees without findings.")] = False,
    list_rules: Annotated[bool, typer.Option(
        "--list-rules", help="List the rules and exit.")] = False,
    explain: Annotated[str | None, typer.Option(
        "--explain", metavar="LTxxx", help="Print what rule LTxxx means, with examples, and "
        "exit.")] = None,
) -> None:
    """Lint the layout trees and their configuration (exit 1 on errors).

    'layout check --explain LTxxx' prints what a rule means, with examples."""
    if list_rules:
        typer.echo(rules_to_text(), nl=False)
        raise typer.Exit(EXIT_OK)
    if explain is not None:
        typer.echo(rule_of(explain).explain(), nl=False)
        raise typer.Exit(EXIT_OK)
    parsed, snap, plan = _checked_world(config, snapshot, tree)
    targets: tuple[tuple[str, str], ...] = ()
    zones = None
    if snapshot is None and any(t.backup for t in parsed.config.trees):
        from ..backup import probe_targets, zone_exists  # only where backups are configured

        targets = tuple(probe_targets({u for t in parsed.config.trees if t.backup
                                       for u in t.backup.targets}).items())
        zones = zone_exists
    report = check(parsed.config, snap, parsed.problems, targets, zones, plan)
    if format is CheckFormat.json:
        out = report_to_json(report)
    elif format is CheckFormat.sarif:
        out = report_to_sarif_text(report, _version())
    elif format is CheckFormat.github:
        out = report_to_github(report)
    else:
        trees = tuple((t.name, t.path, t.destination) for t in parsed.config.trees)
        out = report_to_text(report, verbose=verbose or STATE.verbose, colour=_colour(),
                             trees=trees)
    typer.echo(out, nl=False)
    raise typer.Exit(EXIT_FINDINGS if report.failed(strict) else EXIT_OK)


def register(app: typer.Typer) -> None:
    app.command("check")(check_command)
