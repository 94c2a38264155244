"""``layout diff``, ``layout audit`` and ``layout lost``: reproducibility audits.

Every document read (a file, ``-`` for standard input) is validated whole
before anything is compared; a bad one is a one-line error naming it (exit
2).  ``diff`` exits 1 when the documents differ, ``audit`` when it found
drift or could not look (fail closed).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ...core.audit import MountProblem, audit_expect, audit_mounted, audit_to_data
from ...core.config import Config
from ...core.diff import Change, Diff, diff, diff_to_data, diff_to_text
from ...core.documents import Document, canonical_json, read_document, snapshot_document
from ...core.errors import LayoutError, UserError
from ...core.lost import DEFAULT_DEPTH, DEFAULT_IGNORE, group_lost, ignore_matcher, lost_to_data
from ...core.plan import make_plan
from ...core.wording import count
from ..configfile import find_config, load_strict
from ..exits import EXIT_FINDINGS, EXIT_OK
from ..lost import self_mounts, walk_root
from ..privilege import readable, require_readable
from ..scan import scan
from .options import ConfigOpt, Format, FormatOpt, config_arg
from .report import note, warn


def _read_text(name: str) -> str:
    try:
        if name == "-":
            return sys.stdin.read()
        with open(name, encoding="utf-8", errors="surrogateescape") as handle:
            return handle.read()
    except OSError as exc:
        raise UserError(f"{name}: cannot be read: {exc.strerror}", "check the path") from None
    except UnicodeDecodeError as exc:
        raise UserError(f"{name}: not text: {exc}") from None


def read_named(name: str) -> Document:
    """A snapshot, plan or manifest from a file or ``-``; errors name the file."""
    text = _read_text(name)
    try:
        return read_document(text)
    except LayoutError as exc:
        label = "standard input" if name == "-" else name
        raise UserError(f"{label}: {exc.message}", exc.hint) from None


def _live(config: Path | None, fallback: Config | None = None) -> Document:
    """A scan now, as a snapshot document.  Without any configuration file on this machine
    (one rebuilt from a backup target) the expectation's own configuration is scanned."""
    if config is None and fallback is not None and find_config(None) is None:
        return snapshot_document(readable(scan(fallback)), fallback)
    parsed = load_strict(config_arg(config))
    return snapshot_document(readable(scan(parsed.config)), parsed.config)


def _document(name: str, config: Path | None) -> Document:
    return _live(config) if name == "live" else read_named(name)


def _print_changes(result: Diff, fmt: Format, a: str, b: str) -> None:
    if fmt is Format.json:
        typer.echo(canonical_json(diff_to_data(result, a, b)), nl=False)
    else:
        typer.echo(diff_to_text(result), nl=False)


def diff_cmd(
    a: Annotated[str, typer.Argument(metavar="A",
                                     help="A snapshot, plan or manifest file; '-' or 'live'.")],
    b: Annotated[str, typer.Argument(metavar="B", help="The same for the other side.")],
    config: ConfigOpt = None,
    format: FormatOpt = Format.text,
    volatile: Annotated[bool, typer.Option(
        "--volatile", help="Also compare fields that change by themselves (generation).")] = False,
) -> None:
    """Compare two snapshots, plans or backup manifests; exit 1 when they differ."""
    if a == "-" and b == "-":
        raise UserError("only one side can be standard input ('-')")
    left, right = _document(a, config), _document(b, config)
    result = diff(left, right, volatile=volatile)
    _print_changes(result, format, a, b)
    raise typer.Exit(EXIT_OK if result.equal else EXIT_FINDINGS)


def audit_cmd(
    expect: Annotated[str | None, typer.Option(
        "--expect", "-e", metavar="FILE",
        help="Recorded snapshot, plan or backup manifest ('-' for stdin).")
    ] = None,
    snapshot: Annotated[str | None, typer.Option(
        "--snapshot", "-s", metavar="FILE",
        help="Audit this snapshot file instead of scanning now.")] = None,
    ignore: Annotated[list[str] | None, typer.Option(
        "--ignore", "-i", metavar="GLOB",
        help="Expected churn: a glob on tree:path (repeatable).")] = None,
    mounted: Annotated[bool, typer.Option(
        "--mounted", help="Compare what is mounted now with what the trees say.")] = False,
    config: ConfigOpt = None,
    format: FormatOpt = Format.text,
) -> None:
    """Compare the machine with a recorded expectation, or its mounts with its trees.

    Exit 1 on any drift (one line per difference), 0 when there is none.
    """
    if expect is None and not mounted:
        raise UserError("nothing to audit", "pass --expect FILE, --mounted, or both")
    if expect == "-" and snapshot == "-":
        raise UserError("only one of --expect and --snapshot can be standard input ('-')")
    changes: tuple[Change, ...] | None = None
    problems: tuple[MountProblem, ...] | None = None
    lines: list[str] = []
    if expect is not None:
        expected = read_named(expect)
        actual = read_named(snapshot) if snapshot is not None else _live(config, expected.config)
        changes = audit_expect(expected, actual, ignore or ())
        lines += [c.text for c in changes]
    if mounted:
        parsed = load_strict(config_arg(config))
        snap = readable(scan(parsed.config, full=False))
        sources = {t.name: t.device for t in snap.trees}
        problems = audit_mounted(parsed.config, make_plan(parsed.config, snap),
                                 self_mounts(), sources, snap.fstab_mountpoints)
        lines += [p.text for p in problems]
    drift = bool(lines)
    if format is Format.json:
        typer.echo(canonical_json(audit_to_data(changes, problems)), nl=False)
    else:
        for line in lines:
            typer.echo(line)
        note(count(len(lines), "difference") if drift else "no drift")
    raise typer.Exit(EXIT_FINDINGS if drift else EXIT_OK)


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def lost_cmd(
    root: Annotated[Path, typer.Option(
        "--root", metavar="PATH",
        help="The root filesystem to walk (for tests and chroots).")] = Path("/"),
    ignore: Annotated[list[str] | None, typer.Option(
        "--ignore", "-i", metavar="GLOB",
        help="Also ignore this glob on paths below the root (repeatable).")
    ] = None,
    no_default_ignore: Annotated[bool, typer.Option(
        "--no-default-ignore", help="Do not ignore what the system regenerates at boot.")
    ] = False,
    depth: Annotated[int, typer.Option(
        "--depth", min=1, help="Group by this many leading path components.")] = DEFAULT_DEPTH,
    format: FormatOpt = Format.text,
) -> None:
    """What on the ephemeral root is outside every persisted path, largest first."""
    patterns = (() if no_default_ignore else DEFAULT_IGNORE) + tuple(ignore or ())
    walked = walk_root(str(root), ignore_matcher(patterns))
    require_readable(walked.unreadable, str(root))
    groups = group_lost(walked.directories, str(root.resolve()), depth)
    if format is Format.json:
        typer.echo(canonical_json(lost_to_data(str(root), patterns, groups, walked.unreadable)),
                   nl=False)
        return
    for g in groups:
        typer.echo(f"{_size(g.bytes):>10}  {count(g.files, 'file'):>13}  {g.path}    "
                   f"# {g.persist}")
    total = sum(g.bytes for g in groups)
    note(f"{_size(total)} in {count(sum(g.files for g in groups), 'file')} would be lost at "
         "the next reboot")
    for path in sorted(walked.unreadable):
        warn(f"{path}: could not be read")


def register(app: typer.Typer) -> None:
    app.command("diff")(diff_cmd)
    app.command("audit")(audit_cmd)
    app.command("lost")(lost_cmd)

