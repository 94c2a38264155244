"""``layout backup …``, ``layout restore`` and ``layout drop``.

Exit codes as documented in :mod:`layout_trees.shell.cli`: ``verify`` exits 1
when the guarantee does not hold (and names every leaf at fault), ``drop``
exits 1 when it refuses, ``restore`` exits 1 when any leaf could not be
restored, ``run`` exits 3 when btrbk or a target failed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from ..core.backup import manifest_to_json
from ..core.backup_status import (
    backup_status,
    manifest_to_text,
    run_summary,
    run_verdict,
    status_to_data,
    status_to_text,
    verify,
)
from ..core.check import show
from ..core.config import select_backup_trees
from ..core.errors import UserError
from ..core.timespan import USEC_PER_SEC, parse_timespan
from .backup import (
    configured_targets,
    finish_listings,
    is_tty,
    live_state,
    load_backup_config,
    run_backup,
    run_locks,
    scanned_trees,
    set_override,
    snapshot_listings,
    start_listings,
    top_levels,
)
from .exits import EXIT_ENVIRONMENT, EXIT_FINDINGS
from .interrupt import interruptible
from .privilege import existing, require_root

backup_app = typer.Typer(help="Back up the leaves of the layout trees with btrbk.",
                         no_args_is_help=True)

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", readable=False,
                                                  help="Configuration file.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
AtOpt = Annotated[int | None, typer.Option(
    "--at", help="Evaluate as if now were this time (seconds since the epoch).", hidden=True)]


def _live(config: Path | None):  # type: ignore[no-untyped-def]
    return live_state(load_backup_config(str(config) if config else None))


def _observe(live, names=None, started=None):  # type: ignore[no-untyped-def]
    """Status of every leaf; ``started``: target listings already running (started before
    the scan, so that listing tens of thousands of backups overlaps with it)."""
    pending = started if started is not None else start_listings(live.manifest.targets())
    with top_levels(scanned_trees(live, names)) as tops:
        snapshots = snapshot_listings(live, tops)
    return backup_status(live.manifest, finish_listings(pending), snapshots)


def _live_and_listings(config: Path | None):  # type: ignore[no-untyped-def]
    parsed = load_backup_config(str(config) if config else None)
    started = start_listings(configured_targets(parsed))
    return live_state(parsed), started


@backup_app.command("plan")
def plan_cmd(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """What is covered, by which policy, to which targets; what is not and why."""
    require_root()
    live = _live(config)
    if as_json:
        typer.echo(manifest_to_json(live.manifest), nl=False)
    else:
        typer.echo(manifest_to_text(live.manifest), nl=False)


@backup_app.command("run")
def run_cmd(
    config: ConfigOpt = None,
    tree: Annotated[list[str] | None, typer.Option("--tree", "-t", help="Only this tree.")] = None,
    schedule: Annotated[str | None, typer.Option(help="Only trees with this schedule.")] = None,
) -> None:
    """Snapshot the covered leaves and send them to their targets (btrbk), then summarize.

    Exit 3 when a target, btrbk or a selected tree failed; exit 1 when, without a
    selection, a tree has no policy or no leaf is covered at all."""
    require_root()
    parsed = load_backup_config(str(config) if config else None)
    with interruptible():
        _run(parsed, tree, schedule)


def _run(parsed, tree, schedule):  # type: ignore[no-untyped-def]
    with run_locks():
        live = live_state(parsed)
        names = set(select_backup_trees(live.config, tree, schedule))
        verdict = run_verdict(live.manifest, frozenset(names), not tree and schedule is None)
        for name, error in verdict.unscanned:
            typer.echo(f"{'FAILED':6} tree {name}: not scanned ({error}); its leaves "
                       "are not backed up")
        if not names:
            typer.echo("nothing to back up: no selected tree has a backup policy")
            if verdict.nothing_covered:
                typer.echo("layout: error: no leaf is covered by a backup policy: nothing is "
                           "protected", err=True)
            if verdict.unscanned or verdict.nothing_covered:
                raise typer.Exit(EXIT_ENVIRONMENT if verdict.unscanned else EXIT_FINDINGS)
            return
        result = run_backup(live, names, progress=is_tty(), say=typer.echo)
    now = int(time.time())
    for line in run_summary(live.manifest, _observe(live, names), frozenset(names), now,
                            result.ok, result.unusable):
        typer.echo(line)
    if not result.ok or verdict.unscanned:
        for error in result.errors:
            typer.echo(f"layout: error: {error}", err=True)
        if result.hint:
            typer.echo(f"layout: hint: {result.hint}", err=True)
        raise typer.Exit(EXIT_ENVIRONMENT)
    if verdict.unprotected or verdict.nothing_covered:
        for name in verdict.unprotected:
            typer.echo(f"layout: error: tree {name}: no backup policy; none of its leaves is "
                       "backed up", err=True)
        if verdict.nothing_covered:
            typer.echo("layout: error: no leaf is covered by a backup policy", err=True)
        raise typer.Exit(EXIT_FINDINGS)


@backup_app.command("status")
def status_cmd(config: ConfigOpt = None, as_json: JsonOpt = False, at: AtOpt = None) -> None:
    """Per leaf: the latest snapshot and the latest backup on each target, with ages."""
    require_root()
    live, started = _live_and_listings(config)
    now = int(time.time()) if at is None else at
    status = _observe(live, started=started)
    if as_json:
        typer.echo(json.dumps(status_to_data(status, now), indent=2, sort_keys=True))
    else:
        typer.echo(status_to_text(status, now, live.manifest), nl=False)


@backup_app.command("verify")
def verify_cmd(
    config: ConfigOpt = None,
    max_age: Annotated[str, typer.Option("--max-age", help="e.g. 26h, 2d.")] = "26h",
    as_json: JsonOpt = False,
    at: AtOpt = None,
) -> None:
    """Exit 1 and name every leaf without a backup younger than --max-age on every target,
    every tree that could not be scanned or has no policy, and a configuration that
    covers nothing."""
    require_root()
    limit = parse_timespan(max_age)
    if limit < 0:
        raise UserError("--max-age must be finite", "e.g. --max-age 26h")
    live, started = _live_and_listings(config)
    now = int(time.time()) if at is None else at
    findings = verify(live.manifest, _observe(live, started=started), now, limit // USEC_PER_SEC)
    if as_json:
        typer.echo(json.dumps([{"tree": f.tree, "path": list(f.path), "message": f.message}
                               for f in findings], indent=2))
    else:
        for finding in findings:
            typer.echo(f"FAIL {finding.where}: {show(finding.message)}")
        if not findings:
            covered = len(live.manifest.covered())
            typer.echo(f"ok: {covered} leaf/leaves backed up within {max_age} on every target")
    if findings:
        raise typer.Exit(EXIT_FINDINGS)


@backup_app.command("exclude")
def exclude_cmd(path: Annotated[Path, typer.Argument(help="A leaf subvolume.")]) -> None:
    """Never back up this subvolume (user.layout-trees.backup=skip, travels with the data)."""
    require_root()
    existing(str(path))
    set_override(str(path), "skip")
    typer.echo(f"{path}: excluded from backups")


@backup_app.command("include")
def include_cmd(path: Annotated[Path, typer.Argument(help="A leaf subvolume.")]) -> None:
    """Back up this subvolume again under its tree's policy (removes the attribute)."""
    require_root()
    existing(str(path))
    set_override(str(path), None)
    typer.echo(f"{path}: backed up under its tree's policy")


def register(app: typer.Typer) -> None:
    app.add_typer(backup_app, name="backup")
