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

from .exits import EXIT_FINDINGS

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", readable=False,
                                                  help="Configuration file.")]


def restore_cmd(
    source: Annotated[str, typer.Option("--from", help="Backup target: /dir or ssh://…")],
    into: Annotated[Path, typer.Option("--into", help="Where the tree root goes (btrfs).")],
    tree: Annotated[str | None, typer.Option("--tree", help="Tree to restore.")] = None,
    subvolume: Annotated[str | None, typer.Option(
        "--subvolume", help="Only this leaf, as its path in the tree (e.g. a/@cache).")] = None,
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Replace leaves that have local changes, and reset the owners "
        "and modes of existing directories.")] = False,
) -> None:
    """Rebuild a layout tree from a backup target alone (its stored manifest and backups)."""
    from .privilege import require_root
    from .restore import restore

    require_root()
    report = restore(source, str(into), tree, subvolume, overwrite, say=typer.echo)
    if report.failed:
        raise typer.Exit(EXIT_FINDINGS)


def drop_cmd(
    path: Annotated[Path, typer.Argument(help="The leaf subvolume to delete.")],
    config: ConfigOpt = None,
) -> None:
    """Delete a leaf, only once its latest state is on every target of its policy and
    nothing uses it."""
    from .backup import live_state
    from .configfile import load_strict
    from .drop import Refused, drop
    from .interrupt import interruptible
    from .lock import exclusive
    from .privilege import existing, require_root

    require_root()
    parsed = load_strict(str(config) if config else None)
    existing(str(path))
    try:
        with interruptible(), exclusive():
            dropped = drop(live_state(parsed.config), str(path))
    except Refused as exc:
        typer.echo(f"layout: refusing to drop {path}:", err=True)
        for reason in exc.reasons:
            typer.echo(f"  - {reason}", err=True)
        raise typer.Exit(EXIT_FINDINGS) from None
    typer.echo(f"{path}: deleted; its latest state is on {', '.join(dropped.targets)}")


def register(app: typer.Typer) -> None:
    app.command("restore")(restore_cmd)
    app.command("drop")(drop_cmd)
