"""``layout plan``, ``snapshot``, ``generate`` and ``demo``: what the trees would
mount, as text, JSON or units; and the configuration and snapshot they start from
(:func:`gather`, shared with ``check``).

Registered on the main ``layout`` application when one of these commands is
run (see ``cli.LAZY``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ...core.config import Config, ParsedConfig
from ...core.errors import SnapshotError
from ...core.model import Snapshot
from ...core.plan import make_plan
from ...core.plan_report import plan_to_text
from ...core.record import replace
from ...core.snapshot_json import dump_snapshot, load_snapshot
from ...core.wording import count
from ..configfile import load_config, load_strict, read_document, strict
from ..exits import EXIT_ENVIRONMENT
from ..files import write_generated
from ..privilege import readable, require_root
from ..scan import scan
from .options import (
    ConfigOpt,
    DigestOpt,
    Format,
    FormatOpt,
    SnapshotOpt,
    TreeOpt,
    config_arg,
    select_trees,
)
from .report import fail, print_error


def read_snapshot(path: Path) -> tuple[Snapshot, ParsedConfig | None]:
    """A snapshot file (``-``: standard input); any failure is one SnapshotError line."""
    text = read_document(str(path), SnapshotError, "snapshot")
    try:
        return load_snapshot(text)
    except SnapshotError as exc:
        if exc.message.startswith(str(path)):
            raise
        raise SnapshotError(f"{path}: {exc.message}", exc.hint) from None


def gather(config_path: Path | None, snapshot_path: Path | None,
           full: bool = True, *, unparsable_is_problem: bool = False,
           trees: list[str] | None = None) -> tuple[Config, Snapshot, ParsedConfig]:
    """The configuration (limited to ``trees``, see ``--tree``) and a snapshot: scanned
    live, or read from a file.  With ``unparsable_is_problem`` (``layout check``) see
    ``configfile.load_config``."""
    if snapshot_path is not None:
        snapshot, embedded = read_snapshot(snapshot_path)
        if config_path is not None:
            parsed = load_config(str(config_path), required=True,
                                 unparsable_is_problem=unparsable_is_problem)
        elif embedded is not None:
            parsed = embedded
        else:
            fail(f"{snapshot_path}: the snapshot has no configuration",
                 "pass --config FILE as well")
        config = select_trees(parsed.config, trees)
        if trees:

            snapshot = replace(snapshot, trees=tuple(
                t for t in snapshot.trees if t.name in trees))
        return config, snapshot, parsed if unparsable_is_problem else strict(parsed)
    parsed = load_config(config_arg(config_path), required=True,
                         unparsable_is_problem=unparsable_is_problem)
    parsed = parsed if unparsable_is_problem else strict(parsed)
    config = select_trees(parsed.config, trees)
    return config, readable(scan(config, full=full)), parsed


def plan(
    config: ConfigOpt = None,
    snapshot: SnapshotOpt = None,
    tree: TreeOpt = None,
    format: FormatOpt = Format.text,
    digest: DigestOpt = False,
) -> None:
    """Show what would be mounted where, and why anything is skipped. Writes nothing."""
    cfg, snap, _ = gather(config, snapshot, full=False, trees=tree)
    result = make_plan(cfg, snap)
    if digest or format is Format.json:
        from ...api import digest as digest_of
        from ...core.plan_json import dump_plan

        text = dump_plan(cfg, result)
        typer.echo(digest_of(text) if digest else text, nl=digest)
    else:
        typer.echo(plan_to_text(cfg, result), nl=False)


def snapshot_cmd(config: ConfigOpt = None, tree: TreeOpt = None,
                 digest: DigestOpt = False) -> None:
    """Print the scan of the layout trees as a canonical JSON document."""
    parsed = load_strict(config_arg(config))
    cfg = select_trees(parsed.config, tree)
    text = dump_snapshot(readable(scan(cfg)), cfg)
    if digest:
        from ...api import digest as digest_of

        text = digest_of(text) + "\n"
    typer.echo(text, nl=False)


def generate(
    directory: Annotated[Path, typer.Argument(help="Directory to write the units into.")],
    config: ConfigOpt = None,
    snapshot: SnapshotOpt = None,
) -> None:
    """Write the units the boot-time generator would write, for inspection."""
    from ..generator import unit_files
    from ..log import Log

    cfg, snap, _ = gather(config, snapshot, full=False)
    result, files = unit_files(cfg, snap, Log("layout"))
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(f"{directory}: cannot create: {exc.strerror}", code=EXIT_ENVIRONMENT)
    failures = write_generated(str(directory), files)
    for path, exc in failures:
        print_error(f"{directory / path}: {exc.strerror or exc}")
    typer.echo(f"wrote {count(len(files) - len(failures), 'file')} for "
               f"{count(len(result.mounts), 'mount')} to {directory}")
    if failures:
        raise typer.Exit(EXIT_ENVIRONMENT)


def demo(
    workdir: Annotated[Path, typer.Option(help="Where to put the demo image and files.")] = Path(
        "/var/tmp/layout-trees-demo"),
    keep: Annotated[bool, typer.Option(help="Leave the demo image mounted.")] = False,
) -> None:
    """Build an example layout tree on a loopback btrfs image, generate its units and mount them."""
    from ..demo import run_demo

    require_root()
    run_demo(workdir, keep=keep)


def register(app: typer.Typer) -> None:
    app.command("plan")(plan)
    app.command("snapshot")(snapshot_cmd)
    app.command("generate")(generate)
    app.command("demo")(demo)
