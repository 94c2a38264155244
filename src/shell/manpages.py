"""Man pages and shell completions, generated from their sources of truth.

``python -m layout_trees.shell.manpages [DIR]`` (or ``scripts/manpages``)
writes ``DIR/man/layout.1``, ``layout-trees-generator.8`` and
``layout-trees.toml.5``, and ``DIR/completions/`` for bash, zsh and fish.
The commands and options come from the typer app (walked as its click
command tree), the configuration keys from :mod:`layout_trees.core.config`
and :mod:`layout_trees.core.policy`, the search path from
:mod:`layout_trees.shell.configfile`.  A key without a description here is an
error, so a new key cannot reach a release undocumented.  The output is
committed (``make install`` needs no typer) and a test checks it is current.

Roff is written by hand: the pages use only ``man(7)`` macros.
"""

from __future__ import annotations

import dataclasses
import enum
import sys
import typing
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

from ..core.config import PROTOTYPE_KEYS, TREE_KEYS
from ..core.policy import POLICY_KEYS, BackupPolicy
from . import configfile
from .cli_help import is_global, metavar_of
from .exits import EXIT_BUG, EXIT_ENVIRONMENT, EXIT_FINDINGS, EXIT_OK, EXIT_USAGE


@dataclass(frozen=True, slots=True)
class Param:
    """One option or argument of a command."""

    opts: tuple[str, ...]
    """``("--format", "-f")``; for an argument, its metavar alone."""
    secondary: tuple[str, ...]
    """The negative forms of a boolean flag (``--no-keep``)."""
    help: str
    metavar: str | None
    """What the option takes (``FILE``, ``[text|json]``); None for a flag."""
    choices: tuple[str, ...]
    is_path: bool
    is_argument: bool
    required: bool


@dataclass(frozen=True, slots=True)
class Command:
    """A command of the tree: ``path`` is ``()`` for ``layout`` itself."""

    path: tuple[str, ...]
    help: str
    params: tuple[Param, ...]
    subcommands: tuple[str, ...]

    @property
    def name(self) -> str:
        return " ".join(("layout", *self.path))


def _annotation_parts(annotation: Any) -> tuple[Any, ...]:
    args = typing.get_args(annotation)
    return tuple(a for a in args if a is not type(None)) if args else (annotation,)


def _param(p: Any) -> Param:
    annotation = getattr(getattr(p, "type_descriptor", None), "annotation", None)
    parts = _annotation_parts(annotation)
    choices: tuple[str, ...] = tuple(getattr(getattr(p, "type", None), "choices", None) or ())
    for part in parts:
        if isinstance(part, type) and issubclass(part, enum.Enum):
            choices = tuple(str(m.value) for m in part)
    is_path = any(isinstance(part, type) and issubclass(part, PurePath) for part in parts)
    is_argument = getattr(p, "param_type_name", "") == "argument"
    is_flag = bool(getattr(p, "is_flag", False))
    name = str(p.name or "").upper()
    if is_argument:
        metavar: str | None = metavar_of(p) or name
        opts: tuple[str, ...] = (metavar or name,)
    else:
        opts = tuple(p.opts)
        metavar = None if is_flag else metavar_of(p)
    return Param(opts, tuple(getattr(p, "secondary_opts", ()) or ()),
                 " ".join(str(getattr(p, "help", "") or "").split()), metavar, choices,
                 is_path, is_argument, bool(p.required))


def command_tree() -> tuple[Command, ...]:
    """Every command of ``layout``, parents before their subcommands, by name."""
    from .cli import full_command as command

    found: list[Command] = []

    def walk(cmd: Any, path: tuple[str, ...]) -> None:
        subs = dict(getattr(cmd, "commands", {}) or {})
        visible = tuple(sorted(n for n, c in subs.items() if not getattr(c, "hidden", False)))
        params = tuple(_param(p) for p in cmd.params
                       if not getattr(p, "hidden", False) and not is_global(p))
        params += (Param(("--help",), (), "Show the help and exit.", None, (), False, False,
                         False),)
        found.append(Command(path, str(cmd.help or "").strip(), params, visible))
        for name in visible:
            walk(subs[name], (*path, name))

    walk(command(), ())
    return tuple(found)


# --- configuration keys: one description each -----------------------------------

TREE_KEY_DOCS = {
    "path": ("PATH", "required", "The layout tree: an absolute path to a directory on btrfs. "
             "TREE/a/b/@c is mounted at DESTINATION/a/b/c."),
    "destination": ("PATH", "required", "Where the tree mounts: an absolute path. "
                    "A leaf named exactly @ at the tree's root is mounted at the destination "
                    "itself."),
    "device": ("STRING", "the source of the mount that holds the tree",
               "What= of the mount units, e.g. /dev/disk/by-label/persist or "
               "/dev/mapper/crypt."),
    "options": ("LIST OF STRINGS", "[]", "Extra mount options in fstab syntax, one per string "
                "(x-systemd.* included); subvol= is always derived from btrfs."),
    "tree_prefix": ("PATH", "derived from btrfs", "Where the filesystem's top level is mounted; "
                    "when given, subvol= is the leaf's path below it (the prototype's rule)."),
    "ignore": ("TABLE or LIST", "{}", "Rules of layout check silenced for this tree: "
               "{ LT012 = \"reason\" } or [\"LT012\"]."),
    "watch": ("BOOLEAN", "false", "Mount and unmount leaves as they appear and disappear, "
              "without a reboot (layout-trees-watch.service and layout-trees-reload.service)."),
    "backup": ("TABLE", "none", "The tree's backup policy: the keys below."),
}
POLICY_KEY_DOCS = {
    "targets": ("LIST OF STRINGS", "An absolute directory on btrfs or "
                "ssh://host[:port]/path, reached as root (the only required key)."),
    "schedule": ("STRING", "When backups run: a systemd OnCalendar= expression "
                 "(systemd.time(7))."),
    "snapshot_dir": ("STRING", "Where the source snapshots live, relative to the filesystem's "
                     "top level."),
    "snapshot_preserve_min": ("STRING", "btrbk retention: snapshots kept at least this long."),
    "snapshot_preserve": ("STRING", "btrbk retention of the source snapshots (btrbk.conf(5))."),
    "target_preserve_min": ("STRING", "btrbk retention on the targets; \"latest\" sends every "
                            "run's snapshot."),
    "target_preserve": ("STRING", "btrbk retention of the backups on the targets."),
}
PROTOTYPE_KEY_DOCS = {
    "layout_tree": "the layout tree (path)",
    "tree_prefix": "where the filesystem's top level is mounted (optional)",
    "destination": "where the tree mounts",
    "device_path": "the device (optional; device)",
    "extra_opts": "extra mount options (optional; options)",
}


def _check_documented() -> None:
    for keys, docs in ((TREE_KEYS, TREE_KEY_DOCS), (POLICY_KEYS, POLICY_KEY_DOCS),
                       (PROTOTYPE_KEYS, PROTOTYPE_KEY_DOCS)):
        missing = [k for k in keys if k not in docs]
        if missing:
            raise SystemExit(f"manpages: configuration keys without a description: {missing}")


# --- roff ------------------------------------------------------------------------

def roff(text: str) -> str:
    """Text for a roff line: backslashes and hyphens escaped, no control character first."""
    out = text.replace("\\", "\\e").replace("-", "\\-")
    out = "".join(c if ord(c) < 128 else f"\\[u{ord(c):04X}]" for c in out)
    return "\\&" + out if out.startswith((".", "'")) else out


def _bold(text: str) -> str:
    return f"\\fB{roff(text)}\\fR"


def _header(name: str, section: int, title: str, version: str) -> list[str]:
    return [
        ".\\\" Generated by python -m layout_trees.shell.manpages; do not edit.",
        f'.TH "{name.upper()}" "{section}" "" "layout-trees {version}" "{title}"',
        ".SH NAME",
    ]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("layout-trees")
    except PackageNotFoundError:
        return "unknown"


def _para(text: str) -> list[str]:
    return [".PP", roff(text)] if text else []


def _option_lines(param: Param) -> list[str]:
    forms = [_bold(o) for o in param.opts] + [_bold(o) for o in param.secondary]
    head = ", ".join(forms)
    if param.metavar and not param.is_argument:
        head += " \\fI" + roff(param.metavar) + "\\fR"
    return [".TP", head, roff(param.help or "(no description)")]


def _usage(cmd: Command) -> str:
    args = " ".join(p.opts[0] if p.required else f"[{p.opts[0]}]"
                    for p in cmd.params if p.is_argument)
    tail = " COMMAND [ARGS]..." if cmd.subcommands else ""
    return f"{cmd.name} [OPTIONS]{tail}" + (f" {args}" if args else "")


def _paragraphs(text: str) -> list[str]:
    out: list[str] = []
    for block in text.split("\n\n"):
        joined = " ".join(block.split())
        if joined:
            out += _para(joined)
    return out


def page_layout(commands: tuple[Command, ...], version: str) -> str:
    top = commands[0]
    lines = _header("layout", 1, "User Commands", version)
    lines.append("layout \\- " + roff(top.help.split("\n")[0].rstrip(".")))
    synopsis = " [\\fIOPTIONS\\fR] \\fICOMMAND\\fR [\\fIARGS\\fR]..."
    lines += [".SH SYNOPSIS", _bold("layout") + synopsis, ".SH DESCRIPTION"]
    lines += _para("layout derives systemd mount units, backups and checks from btrfs layout "
                   "trees: in a tree, TREE/a/b/@c (a subvolume) is mounted at DESTINATION/a/b/c. "
                   "Every command reads the configuration described in layout-trees.toml(5).")
    lines += [".SH OPTIONS"]
    for param in top.params:
        lines += _option_lines(param)
    lines += [".SH COMMANDS"]
    for cmd in commands[1:]:
        lines += [".SS " + '"' + roff(_usage(cmd)).replace('"', '\\(dq') + '"']
        lines += _paragraphs(cmd.help)
        if cmd.subcommands:
            lines += _para("Subcommands: " + ", ".join(f"{cmd.name} {s}"
                                                      for s in cmd.subcommands) + ".")
        for param in cmd.params:
            lines += _option_lines(param)
    lines += [".SH EXIT STATUS"]
    for code, meaning in ((EXIT_OK, "success"),
                          (EXIT_FINDINGS, "the command ran and found problems (check findings, "
                                          "backup verify, a leaf reload kept mounted)"),
                          (EXIT_USAGE, "bad input: configuration, snapshot, arguments"),
                          (EXIT_ENVIRONMENT, "the machine is not as needed: missing tool, no "
                                             "permission, not btrfs"),
                          (EXIT_BUG, "internal error (a bug; run again with --debug)")):
        lines += [".TP", _bold(str(code)), roff(meaning)]
    lines += _environment() + _files()
    lines += [".SH SEE ALSO", "\\fBlayout-trees.toml\\fR(5), \\fBlayout-trees-generator\\fR(8), "
              "\\fBbtrbk\\fR(1), \\fBsystemd.mount\\fR(5)"]
    return "\n".join(lines) + "\n"


def _environment() -> list[str]:
    lines = [".SH ENVIRONMENT"]
    for var in configfile.ENV_VARS:
        lines += [".TP", _bold(var), "The configuration file to read (before the kernel command "
                  "line and the default paths)."]
    lines += [".TP", _bold("SYSTEMD_LOG_LEVEL"), "Log level of the generator and the "
              "units it writes (debug shows one line per tree)."]
    return lines


def _files() -> list[str]:
    lines = [".SH FILES", "The configuration is the first of these that exists:"]
    lines += [".TP", _bold(f"{configfile.CMDLINE_KEY}=PATH"),
              roff("on the kernel command line (for volatile roots whose /etc starts empty).")]
    for path in configfile.DEFAULT_PATHS:
        kind = ("native TOML" if path.endswith(".toml") else
                "native JSON (written by the NixOS module) or the prototype's list"
                if path.endswith(".json") else "the earlier prototype's YAML or JSON list")
        lines += [".TP", _bold(path), roff(kind)]
    return lines


def page_generator(version: str) -> str:
    lines = _header("layout-trees-generator", 8, "System Administration", version)
    lines += ["layout\\-trees\\-generator \\- systemd mount units for btrfs layout trees",
              ".SH SYNOPSIS",
              _bold("/usr/lib/systemd/system-generators/layout-trees-generator")
              + " \\fINORMAL_DIR\\fR [\\fIEARLY_DIR\\fR \\fILATE_DIR\\fR]",
              ".SH DESCRIPTION"]
    lines += _paragraphs("""
        A systemd.generator(7) run at boot and at every daemon-reload. It reads the
        configuration (see FILES and layout-trees.toml(5)), scans each configured layout tree
        (one lstat per directory, one ioctl per leaf, never following symlinks), reads
        /proc/1/mountinfo (falling back to /proc/self/mountinfo) to find the device and the
        subvolume path of each tree and /etc/fstab to skip mount points it already mounts, and
        writes units into the LATE directory, so that an explicit unit or fstab entry wins.

        The filesystem that holds the trees must be mounted when systemd starts, i.e. by the
        initramfs (NixOS: neededForBoot = true).""")
    lines += [".SH LAYOUT TREE RULES"]
    lines += _paragraphs("""
        An entry whose name starts with @ and that is a btrfs subvolume is a leaf: TREE/a/b/@c
        is mounted at DESTINATION/a/b/c, a leaf named exactly @ at the directory that holds it.
        Leaves are not descended into.

        Any other directory is structure: walked, never mounted. Its owner, group and mode are
        given to the matching directory above the mount points before local-fs.target; the
        tree's root gives its own to DESTINATION (unless it is /).

        Never mounted, always logged: read-only subvolumes, @ entries that are not subvolumes,
        symlinks, anything another filesystem is mounted on, names a unit file cannot hold
        safely (a comma, control characters, names that are not UTF-8, begin or end with white
        space or end with a backslash), and leaves that clash on one mount point or whose
        mount point /etc/fstab already mounts.""")
    lines += [".SH OUTPUT"]
    for name, what in (
            ("WHERE.mount", "one per leaf, as systemd-fstab-generator would write it for "
                            "WHAT WHERE btrfs subvol=...,OPTIONS; with x-systemd.automount also "
                            "WHERE.automount"),
            ("layout-trees-directories.service", "creates the directories between each "
                                                 "destination and its mount points with the "
                                                 "tree's owners and modes (systemd-tmpfiles)"),
            ("layout-trees-watch.service, layout-trees-reload.service",
             "for trees with watch = true"),
            ("layout-trees-backup-SCHEDULE.service, .timer", "for trees with a backup table; "
                                                              "they run layout backup run")):
        lines += [".TP", _bold(name), roff(what)]
    lines += [".SH LOGGING"]
    lines += _paragraphs("""
        Run by systemd it logs to /dev/kmsg (so to the journal) as
        layout-trees-generator[PID]; otherwise to standard error. SYSTEMD_LOG_LEVEL sets the
        level; debug shows one line per tree. Every problem names the path it concerns.""")
    lines += [".SH EXIT STATUS"]
    lines += _paragraphs("""
        0, also when the configuration is missing or wrong, a tree is missing or cannot be
        read: the generator never fails the boot, it logs and generates everything that is
        valid. 2 when it is called with the wrong number of arguments.""")
    lines += _environment() + _files()
    lines += [".SH SEE ALSO", "\\fBlayout\\fR(1), \\fBlayout-trees.toml\\fR(5), "
              "\\fBsystemd.generator\\fR(7), \\fBsystemd-fstab-generator\\fR(8)"]
    return "\n".join(lines) + "\n"


def _policy_default(key: str) -> str:
    for field in dataclasses.fields(BackupPolicy):
        if field.name == key and field.default is not dataclasses.MISSING:
            return f'"{field.default}"'
    return "required"


def page_config(version: str) -> str:
    _check_documented()
    lines = _header("layout-trees.toml", 5, "File Formats", version)
    lines += ["layout\\-trees.toml \\- configuration of layout\\-trees", ".SH SYNOPSIS"]
    lines += [roff(p) + "\n.br" for p in configfile.DEFAULT_PATHS]
    lines += [".SH DESCRIPTION"]
    lines += _paragraphs("""
        One table per layout tree, [tree.NAME]. Unknown keys are errors with a "did you mean"
        hint; every tree is checked on its own, so a broken tree does not stop the others.

        The same document as JSON (an object with a "tree" member) is read from a file whose
        name ends in .json, e.g. /etc/layout-trees.json as the NixOS module writes it, with the
        same keys and checks.""")
    lines += [".SH [tree.NAME] KEYS"]
    for key in TREE_KEYS:
        kind, default, text = TREE_KEY_DOCS[key]
        lines += [".TP", f"{_bold(key)} ({roff(kind.lower())}; {roff(default)})", roff(text)]
    lines += [".SH [tree.NAME.backup] KEYS"]
    for key in POLICY_KEYS:
        kind, text = POLICY_KEY_DOCS[key]
        lines += [".TP", f"{_bold(key)} ({roff(kind.lower())}; {roff(_policy_default(key))})",
                  roff(text)]
    lines += [".SH PROTOTYPE FORMAT"]
    lines += _paragraphs("""
        A file not ending in .toml that holds a list (YAML or JSON) is the earlier prototype's
        configuration, still read unchanged: each item has the keys below.""")
    for key in PROTOTYPE_KEYS:
        lines += [".TP", _bold(key), roff(PROTOTYPE_KEY_DOCS[key])]
    lines += [".SH EXAMPLE", ".nf", ".RS"]
    lines += [roff(line) for line in (
        "[tree.alice]",
        'path = "/mnt/persist/trees/alice"',
        'destination = "/home/alice"',
        'options = ["compress=zstd"]',
        "",
        "[tree.alice.backup]",
        'targets = ["/mnt/backup/layout"]',
        'schedule = "daily"')]
    lines += [".RE", ".fi"]
    lines += [".SH SEE ALSO", "\\fBlayout\\fR(1), \\fBlayout-trees-generator\\fR(8), "
              "\\fBbtrbk.conf\\fR(5), \\fBsystemd.time\\fR(7)"]
    return "\n".join(lines) + "\n"


PAGES = ("layout.1", "layout-trees-generator.8", "layout-trees.toml.5")


def render_all() -> dict[str, str]:
    """Every generated file, by its path relative to the repository root."""
    from .completions import bash, fish, zsh

    commands = command_tree()
    version = _version()
    return {
        "man/layout.1": page_layout(commands, version),
        "man/layout-trees-generator.8": page_generator(version),
        "man/layout-trees.toml.5": page_config(version),
        "completions/layout.bash": bash(commands),
        "completions/_layout": zsh(commands),
        "completions/layout.fish": fish(commands),
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    root = Path(args[0] if args else ".")
    for rel, text in render_all().items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
