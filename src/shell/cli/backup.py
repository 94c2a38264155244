"""``layout backup …``, ``layout restore`` and ``layout drop``.

Exit codes as documented in :mod:`layout_trees.shell.exits`: ``verify`` exits 1
when the guarantee does not hold (and names every leaf at fault), ``drop``
exits 1 when it refuses, ``restore`` exits 1 when any leaf could not be
restored, ``run`` exits 3 when btrbk or a target failed.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from ...core.backup.manifest import manifest_to_json
from ...core.backup.status import (
    backup_status,
    manifest_to_text,
    run_summary,
    run_verdict,
    status_to_data,
    status_to_text,
    verify,
)
from ...core.check import show
from ...core.config import Config, select_backup_trees
from ...core.errors import UserError
from ...core.timespan import USEC_PER_SEC, parse_timespan
from ...core.wording import count
from ..backup import (
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
from ..exits import EXIT_ENVIRONMENT, EXIT_FINDINGS
from ..interrupt import interruptible
from ..privilege import existing, require_root
from .options import (
    ConfigOpt,
    DryRunOpt,
    Format,
    FormatOpt,
    JsonAliasOpt,
    TreeOpt,
    config_arg,
    output_format,
    select_trees,
)
from .report import print_document, print_error, print_errors, say

backup_app = typer.Typer(help="Back up the leaves of the layout trees with btrbk.",
                         no_args_is_help=True)

AtOpt = Annotated[int | None, typer.Option(
    "--at", help="Evaluate as if now were this time (seconds since the epoch).", hidden=True)]
LeafArg = Annotated[Path, typer.Argument(help="A leaf subvolume.")]


def _config(config: Path | None, tree: list[str] | None) -> Config:
    return select_trees(load_backup_config(config_arg(config)), tree)


def _observe(live, names=None, started=None):  # type: ignore[no-untyped-def]
    """Status of every leaf; ``started``: target listings already running (started before
    the scan, so that listing tens of thousands of backups overlaps with it)."""
    pending = started if started is not None else start_listings(live.manifest.targets())
    with top_levels(scanned_trees(live, names)) as tops:
        snapshots = snapshot_listings(live, tops)
    return backup_status(live.manifest, finish_listings(pending), snapshots)


def _live_and_listings(config: Path | None, tree: list[str] | None):  # type: ignore[no-untyped-def]
    parsed = _config(config, tree)
    started = start_listings(configured_targets(parsed))
    return live_state(parsed), started


@backup_app.command("plan")
def plan_cmd(config: ConfigOpt = None, tree: TreeOpt = None, format: FormatOpt = Format.text,
             as_json: JsonAliasOpt = False) -> None:
    """What is covered, by which policy, to which targets; what is not and why."""
    require_root()
    live = live_state(_config(config, tree))
    if output_format(format, as_json) is Format.json:
        typer.echo(manifest_to_json(live.manifest), nl=False)
    else:
        typer.echo(manifest_to_text(live.manifest), nl=False)


@backup_app.command("run")
def run_cmd(
    config: ConfigOpt = None,
    tree: TreeOpt = None,
    schedule: Annotated[str | None, typer.Option(
        metavar="CALENDAR", help="Only trees with this schedule.")] = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Snapshot the covered leaves and send them to their targets (btrbk), then summarize.

    Exit 3 when a target, btrbk or a selected tree failed; exit 1 when, without a
    selection, a tree has no policy or no leaf is covered at all."""
    require_root()
    parsed = load_backup_config(config_arg(config))
    if dry_run:
        _dry_run(parsed, tree, schedule)
        return
    with interruptible():
        _run(parsed, tree, schedule)


def _selection(live, tree, schedule):  # type: ignore[no-untyped-def]
    """The selected tree names and the tree-level verdict; stops the command (after saying
    why) when nothing is selected."""
    names = set(select_backup_trees(live.config, tree, schedule))
    verdict = run_verdict(live.manifest, frozenset(names), not tree and schedule is None)
    for name, error in verdict.unscanned:
        say(f"{'FAILED':6} tree {name}: not scanned ({error}); its leaves are not backed up")
    if not names:
        say("nothing to back up: no selected tree has a backup policy")
        if verdict.nothing_covered:
            print_error("no leaf is covered by a backup policy: nothing is protected")
        if verdict.unscanned or verdict.nothing_covered:
            raise typer.Exit(EXIT_ENVIRONMENT if verdict.unscanned else EXIT_FINDINGS)
    return names, verdict


def _dry_run(parsed, tree, schedule):  # type: ignore[no-untyped-def]
    """What a run would snapshot and send: no lock, no btrbk, no target touched."""
    live = live_state(parsed)
    names, verdict = _selection(live, tree, schedule)
    for t in live.manifest.trees:
        if t.name not in names or t.policy is None:
            continue
        leaves = [leaf for leaf in live.manifest.covered() if leaf.tree == t.name]
        say(f"would back up tree {show(t.name)}: {count(len(leaves), 'leaf')}, snapshots in "
            f"{t.policy.snapshot_dir}, to {', '.join(t.policy.targets)}")
        for leaf in leaves:
            say(f"  + {show(leaf.relpath)}  as {leaf.snapshot_name}")
        for leaf in live.manifest.leaves_of(t.name):
            if leaf.policy is None:
                say(f"  - {show(leaf.relpath)}  ({leaf.reason})")
    if verdict.unscanned:
        raise typer.Exit(EXIT_ENVIRONMENT)
    _unprotected(verdict)


def _unprotected(verdict):  # type: ignore[no-untyped-def]
    if verdict.unprotected or verdict.nothing_covered:
        print_errors([f"tree {name}: no backup policy; none of its leaves is backed up"
                      for name in verdict.unprotected]
                     + (["no leaf is covered by a backup policy"]
                        if verdict.nothing_covered else []))
        raise typer.Exit(EXIT_FINDINGS)


def _run(parsed, tree, schedule):  # type: ignore[no-untyped-def]
    with run_locks():
        live = live_state(parsed)
        names, verdict = _selection(live, tree, schedule)
        if not names:
            return
        result = run_backup(live, names, progress=is_tty(), say=say)
    now = int(time.time())
    for line in run_summary(live.manifest, _observe(live, names), frozenset(names), now,
                            result.ok, result.unusable):
        say(line)
    if not result.ok or verdict.unscanned:
        print_errors(result.errors, result.hint)
        raise typer.Exit(EXIT_ENVIRONMENT)
    _unprotected(verdict)


@backup_app.command("status")
def status_cmd(config: ConfigOpt = None, tree: TreeOpt = None, format: FormatOpt = Format.text,
               as_json: JsonAliasOpt = False, at: AtOpt = None) -> None:
    """Per leaf: the latest snapshot and the latest backup on each target, with ages."""
    require_root()
    live, started = _live_and_listings(config, tree)
    now = int(time.time()) if at is None else at
    status = _observe(live, started=started)
    if output_format(format, as_json) is Format.json:
        print_document("backup-status", {
            "now": now, "leaves": status_to_data(status, now),
            "trees": [{"name": t.name, "policy": t.policy is not None, "error": t.error}
                      for t in live.manifest.trees]})
    else:
        typer.echo(status_to_text(status, now, live.manifest), nl=False)


@backup_app.command("verify")
def verify_cmd(
    config: ConfigOpt = None,
    tree: TreeOpt = None,
    max_age: Annotated[str, typer.Option(
        "--max-age", metavar="TIMESPAN", help="e.g. 26h, 2d.")] = "26h",
    format: FormatOpt = Format.text,
    as_json: JsonAliasOpt = False,
    at: AtOpt = None,
) -> None:
    """Exit 1 and name every leaf without a backup younger than --max-age on every target,
    every tree that could not be scanned or has no policy, and a configuration that
    covers nothing."""
    require_root()
    limit = parse_timespan(max_age)
    if limit < 0:
        raise UserError("--max-age must be finite", "e.g. --max-age 26h")
    live, started = _live_and_listings(config, tree)
    now = int(time.time()) if at is None else at
    findings = verify(live.manifest, _observe(live, started=started), now, limit // USEC_PER_SEC)
    covered = len(live.manifest.covered())
    if output_format(format, as_json) is Format.json:
        print_document("backup-verify", {
            "now": now, "max_age": limit // USEC_PER_SEC, "ok": not findings,
            "leaves": len(live.manifest.leaves), "covered": covered,
            "findings": [{"tree": f.tree, "path": list(f.path), "target": f.target,
                          "message": f.message} for f in findings]})
    else:
        for finding in findings:
            say(f"FAIL {finding.where}: {show(finding.message)}")
        if not findings:
            say(f"ok: {covered} of {count(len(live.manifest.leaves), 'leaf')} covered, "
                f"backed up within {max_age} on every target")
    if findings:
        raise typer.Exit(EXIT_FINDINGS)


@backup_app.command("exclude")
def exclude_cmd(path: LeafArg, dry_run: DryRunOpt = False) -> None:
    """Never back up this subvolume (user.layout-trees.backup=skip, travels with the data)."""
    require_root()
    existing(str(path))
    set_override(str(path), "skip", dry_run=dry_run)
    say(f"{path}: {'would be ' if dry_run else ''}excluded from backups")


@backup_app.command("include")
def include_cmd(path: LeafArg, dry_run: DryRunOpt = False) -> None:
    """Back up this subvolume again under its tree's policy (removes the attribute)."""
    require_root()
    existing(str(path))
    set_override(str(path), None, dry_run=dry_run)
    say(f"{path}: {'would be ' if dry_run else ''}backed up under its tree's policy")


def register(app: typer.Typer) -> None:
    app.add_typer(backup_app, name="backup")
