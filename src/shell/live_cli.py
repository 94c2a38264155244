"""``layout persist`` and ``layout reload``: changing the trees on a running system.

Registered on the main ``layout`` application by ``cli._register``.  The work
is done by :mod:`.persist` and :mod:`.reload`; errors propagate to
``cli.main``, which turns them into the documented exit codes.  ``reload``
exits 1 when a change was left undone on purpose (a vanished leaf still in
use, a mount point occupied by something else).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", readable=False,
                 help="Configuration file (default: search /etc, see README)."),
]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", "-n", help="Show what would be done; change nothing."),
]


def _say(line: str) -> None:
    typer.echo(line)


def persist_cmd(
    path: Annotated[Path, typer.Argument(help="Existing directory below a tree's destination.")],
    config: ConfigOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Turn an existing directory into a persisted leaf, live: copy it into a new
    subvolume of its tree and mount that in its place."""
    from .persist import persist
    from .privilege import existing, require_root

    require_root()
    existing(str(path))
    persist(str(path), str(config) if config else None, dry_run=dry_run, say=_say)


def reload_cmd(config: ConfigOpt = None, dry_run: DryRunOpt = False) -> None:
    """Mount leaves added since boot and unmount leaves removed (unless in use)."""
    from .privilege import require_root
    from .reload import reload

    require_root()
    status = reload(str(config) if config else None, dry_run=dry_run, say=_say)
    if status:
        raise typer.Exit(status)


def register(app: typer.Typer) -> None:
    app.command("persist")(persist_cmd)
    app.command("reload")(reload_cmd)
