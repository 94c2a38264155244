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
    plan_to_text,
    status_to_data,
    status_to_text,
    verify,
)
from ..core.btrbk import format_age
from ..core.errors import UserError
from ..core.timespan import USEC_PER_SEC, parse_timespan
from .backup import (
    gather,
    is_tty,
    list_dirs,
    run_backup,
    scanned_trees,
    select_trees,
    set_override,
    snapshot_listings,
    top_levels,
)
from .configfile import load_config
from .exits import EXIT_ENVIRONMENT, EXIT_FINDINGS

backup_app = typer.Typer(help="Back up the leaves of the layout trees with btrbk.",
                         no_args_is_help=True)

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="Configuration file.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
AtOpt = Annotated[int | None, typer.Option(
    "--at", help="Evaluate as if now were this time (seconds since the epoch).", hidden=True)]


def _live(config: Path | None):  # type: ignore[no-untyped-def]
    parsed = load_config(str(config) if config else None, required=True)
    for problem in parsed.problems:
        typer.echo(f"layout: warning: {problem.message}", err=True)
    return gather(parsed.config)


def _observe(live, names=None):  # type: ignore[no-untyped-def]
    targets = list_dirs(live.manifest.targets())
    with top_levels(scanned_trees(live, names)) as tops:
        snapshots = snapshot_listings(live, tops)
    return backup_status(live.manifest, targets, snapshots)


@backup_app.command("plan")
def plan_cmd(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """What is covered, by which policy, to which targets; what is not and why."""
    live = _live(config)
    if as_json:
        typer.echo(manifest_to_json(live.manifest), nl=False)
    else:
        typer.echo(plan_to_text(live.manifest), nl=False)


@backup_app.command("run")
def run_cmd(
    config: ConfigOpt = None,
    tree: Annotated[list[str] | None, typer.Option("--tree", "-t", help="Only this tree.")] = None,
    schedule: Annotated[str | None, typer.Option(help="Only trees with this schedule.")] = None,
) -> None:
    """Snapshot the covered leaves and send them to their targets (btrbk), then summarize."""
    live = _live(config)
    names = select_trees(live, tree, schedule)
    if not names:
        typer.echo("nothing to back up: no selected tree has a backup policy")
        return
    result = run_backup(live, names, progress=is_tty())
    now = int(time.time())
    status = _observe(live, names)
    done = 0
    for row in status:
        if row.leaf.tree not in names or row.leaf.policy is None:
            continue
        parts = []
        fresh = 0
        for state in row.targets:
            current = (state.latest is not None and row.snapshot is not None
                       and state.latest.time >= row.snapshot.time)
            fresh += current
            age = "none" if state.latest is None else format_age(now - state.latest.time) + " old"
            parts.append(f"{state.target} ({'this run' if current else 'latest ' + age})")
        ok = fresh == len(row.targets)
        done += ok
        mark = "ok" if ok else ("kept" if result.ok else "FAILED")
        typer.echo(f"{mark:6} {row.leaf.tree}:{row.leaf.relpath} -> {', '.join(parts)}")
    skipped = [leaf for leaf in live.manifest.leaves
               if leaf.tree in names and leaf.policy is None]
    for leaf in skipped:
        typer.echo(f"{'skip':6} {leaf.tree}:{leaf.relpath} ({leaf.reason})")
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now))
    typer.echo(f"{done} leaf/leaves backed up at {stamp} UTC, {len(skipped)} not covered")
    if not result.ok:
        for error in result.errors:
            typer.echo(f"layout: error: {error}", err=True)
        if result.hint:
            typer.echo(f"layout: hint: {result.hint}", err=True)
        raise typer.Exit(EXIT_ENVIRONMENT)


@backup_app.command("status")
def status_cmd(config: ConfigOpt = None, as_json: JsonOpt = False, at: AtOpt = None) -> None:
    """Per leaf: the latest snapshot and the latest backup on each target, with ages."""
    live = _live(config)
    now = int(time.time()) if at is None else at
    status = _observe(live)
    if as_json:
        typer.echo(json.dumps(status_to_data(status, now), indent=2, sort_keys=True))
    else:
        typer.echo(status_to_text(status, now), nl=False)


@backup_app.command("verify")
def verify_cmd(
    config: ConfigOpt = None,
    max_age: Annotated[str, typer.Option("--max-age", help="e.g. 26h, 2d.")] = "26h",
    as_json: JsonOpt = False,
    at: AtOpt = None,
) -> None:
    """Exit 1 and name every leaf without a backup younger than --max-age on every target."""
    limit = parse_timespan(max_age)
    if limit < 0:
        raise UserError("--max-age must be finite", "e.g. --max-age 26h")
    live = _live(config)
    now = int(time.time()) if at is None else at
    findings = verify(live.manifest, _observe(live), now, limit // USEC_PER_SEC)
    if as_json:
        typer.echo(json.dumps([{"tree": f.tree, "path": list(f.path), "message": f.message}
                               for f in findings], indent=2))
    else:
        for finding in findings:
            typer.echo(f"FAIL {finding.where}: {finding.message}")
        if not findings:
            covered = len(live.manifest.covered())
            typer.echo(f"ok: {covered} leaf/leaves backed up within {max_age} on every target")
    if findings:
        raise typer.Exit(EXIT_FINDINGS)


@backup_app.command("exclude")
def exclude_cmd(path: Annotated[Path, typer.Argument(help="A leaf subvolume.")]) -> None:
    """Never back up this subvolume (user.layout-trees.backup=skip, travels with the data)."""
    set_override(str(path), "skip")
    typer.echo(f"{path}: excluded from backups")


@backup_app.command("include")
def include_cmd(path: Annotated[Path, typer.Argument(help="A leaf subvolume.")]) -> None:
    """Back up this subvolume again under its tree's policy (removes the attribute)."""
    set_override(str(path), None)
    typer.echo(f"{path}: backed up under its tree's policy")


def register(app: typer.Typer) -> None:
    app.add_typer(backup_app, name="backup")
