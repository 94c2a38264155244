"""``layout persist`` and ``layout reload``: changing the trees on a running system.

Registered on the main ``layout`` application when used (``cli.LAZY``).  The
work is done by :mod:`..persist` and :mod:`..reload`; errors propagate to
``cli.report.run``, which turns them into the documented exit codes.  ``reload``
exits 1 when a change was left undone on purpose (a vanished leaf still in
use, a mount point occupied by something else).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .options import ConfigOpt, DryRunOpt, config_arg
from .report import say as _say


def persist_cmd(
    path: Annotated[Path, typer.Argument(help="Existing directory below a tree's destination.")],
    config: ConfigOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Turn an existing directory into a persisted leaf, live: copy it into a new
    subvolume of its tree and mount that in its place."""
    from ..persist import persist
    from ..privilege import existing, require_root

    require_root()
    existing(str(path))
    persist(str(path), config_arg(config), dry_run=dry_run, say=_say)


def reload_cmd(config: ConfigOpt = None, dry_run: DryRunOpt = False) -> None:
    """Mount leaves added since boot and unmount leaves removed (unless in use)."""
    from ..privilege import require_root
    from ..reload import reload

    require_root()
    status = reload(config_arg(config), dry_run=dry_run, say=_say)
    if status:
        raise typer.Exit(status)


def register(app: typer.Typer) -> None:
    app.command("persist")(persist_cmd)
    app.command("reload")(reload_cmd)
