"""``layout restore`` and ``layout drop``.

Exit codes as documented in :mod:`layout_trees.shell.exits`: ``restore``
exits 1 when any leaf or directory could not be restored, ``drop`` exits 1
when it refuses (and names every reason); both exit 2 on bad input (an
untrusted manifest that does not validate, a symlink given as a leaf) and 3
when the machine is not as needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ...core.errors import UserError
from ..exits import EXIT_FINDINGS
from .options import ConfigOpt, DryRunOpt, TreeOpt, config_arg
from .report import print_errors, say


def restore_cmd(
    source: Annotated[str, typer.Option("--from", metavar="TARGET",
                                        help="Backup target: /dir or ssh://…")],
    into: Annotated[Path, typer.Option("--into", metavar="PATH",
                                       help="Where the tree root goes (btrfs).")],
    tree: TreeOpt = None,
    subvolume: Annotated[str | None, typer.Option(
        "--subvolume", metavar="PATH",
        help="Only this leaf, as its path in the tree (e.g. a/@cache).")] = None,
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Replace leaves that have local changes, and reset the owners "
        "and modes of existing directories.")] = False,
    dry_run: DryRunOpt = False,
) -> None:
    """Rebuild a layout tree from a backup target alone (its stored manifest and backups)."""
    from ..privilege import require_root
    from ..restore import restore

    require_root()
    if tree and len(tree) > 1:
        raise UserError(f"--tree given {len(tree)} times: restore rebuilds one tree at a time",
                        "run it once per tree")
    report = restore(source, str(into), tree[0] if tree else None, subvolume, overwrite,
                     say=say, dry_run=dry_run)
    if report.failed:
        raise typer.Exit(EXIT_FINDINGS)


def drop_cmd(
    path: Annotated[Path, typer.Argument(help="The leaf subvolume to delete.")],
    config: ConfigOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Delete a leaf, only once its latest state is on every target of its policy and
    nothing uses it."""
    from ..backup import live_state
    from ..configfile import load_strict
    from ..drop import Refused, drop
    from ..interrupt import interruptible
    from ..lock import exclusive
    from ..privilege import existing, require_root

    require_root()
    parsed = load_strict(config_arg(config))
    existing(str(path))
    try:
        with interruptible(), exclusive():
            dropped = drop(live_state(parsed.config), str(path), dry_run=dry_run)
    except Refused as exc:
        print_errors(f"refusing to drop {path}: {reason}" for reason in exc.reasons)
        raise typer.Exit(EXIT_FINDINGS) from None
    where = ", ".join(dropped.targets)
    if dry_run:
        say(f"{path}: would be deleted; its latest state is on {where}")
    else:
        say(f"{path}: deleted; its latest state is on {where}")


def register(app: typer.Typer) -> None:
    app.command("restore")(restore_cmd)
    app.command("drop")(drop_cmd)
