"""The command-line matrix in real subprocesses on a real btrfs: every command run as an
unprivileged user (``setpriv`` to nobody), every ``--format json`` validated against its
schema, every ``--dry-run`` compared before and after (files, owners, modes, extended
attributes, subvolumes, mounts).

Which commands have ``--format``, ``--dry-run`` and ``--config`` is read from the click
tree at test time, so a command that gains an option joins its column by itself; the
tables below only say how to invoke each command in the lab, and a command missing from
them fails the matrix rather than being skipped.  The in-process half (``--help``, bad
configurations) is ``tests/unit/test_cli_matrix_in_process.py``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import pytest
from layout_trees import api
from layout_trees.shell import cli
from layout_trees.shell.loopdev import LoopBtrfs
from loopdev_fixtures import LAYOUT, need_root_and_btrfs, unmount_all_below

pytestmark = pytest.mark.integration

NOBODY = ("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups")
RUN_DIR_ENV = "LAYOUT_TREES_BACKUP_RUN_DIR"

INVOCATIONS: dict[str, tuple[str, ...]] = {
    "plan": (),
    "snapshot": (),
    "generate": ("{units}",),
    "check": (),
    "diff": ("live", "live"),
    "audit": ("--mounted",),
    "lost": ("--root", "{lost}"),
    "persist": ("{dest}/home/work",),
    "reload": (),
    "drop": ("{tree}/@top",),
    "restore": ("--from", "{target}", "--into", "{top}/restored/home"),
    "demo": ("--workdir", "{base}/demo"),
    "backup plan": (),
    "backup run": (),
    "backup status": (),
    "backup verify": (),
    "backup exclude": ("{tree}/a/@ws",),
    "backup include": ("{tree}/a/@ws",),
}
"""How each command is run in the lab (``--config`` is added where the command has it)."""

NEEDS_ROOT = {"persist", "reload", "drop", "restore", "demo", "backup plan", "backup run",
              "backup status", "backup verify", "backup exclude", "backup include"}
"""Commands that change the machine (or read backup targets): root up front."""

READS = {"plan", "snapshot", "generate", "check", "diff", "audit", "lost"}
"""Commands that run as any user and stop only when they meet what they may not read."""

NEEDS_BACKUP = {"drop", "restore"}
"""Commands whose dry run only means something once the lab has been backed up."""

MIN_COMMANDS, MIN_JSON, MIN_DRY_RUN = 18, 5, 2
"""Floors, so that a broken lookup cannot make the matrix pass by covering nothing."""


def _leaf_commands() -> dict[str, set[str]]:
    """Every visible leaf command, with its options (click's own view, not a copy)."""
    found: dict[str, set[str]] = {}

    def walk(command, words):  # type: ignore[no-untyped-def]
        for name, sub in getattr(command, "commands", {}).items():
            if sub.hidden:
                continue
            if hasattr(sub, "commands"):
                walk(sub, (*words, name))
            else:
                found[" ".join((*words, name))] = {o for p in sub.params for o in p.opts}

    walk(cli.full_command(), ())
    return found


COMMANDS = _leaf_commands()


def _with(option: str) -> list[str]:
    return sorted(name for name, opts in COMMANDS.items() if option in opts)


def _json_commands() -> list[str]:
    out = []
    for name in _with("--format"):
        command = cli.full_command()
        for word in name.split():
            command = command.commands[word]  # type: ignore[attr-defined]
        param = next(p for p in command.params if "--format" in p.opts)
        if "json" in _choices(param):
            out.append(name)
    return out


def _choices(param) -> set[str]:  # type: ignore[no-untyped-def]
    """The values an option takes: click's Choice, or the enum typer builds it from."""
    kind = getattr(param, "type", None)
    if kind is not None and hasattr(kind, "choices"):
        return {str(c) for c in kind.choices}
    annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
    return {str(member.value) for member in annotation} if annotation is not None else set()


@dataclass
class Lab:
    """A world-readable directory with a btrfs on a loop device: tree ``home`` (readable
    by anyone), tree ``locked`` (a directory only root may enter), a backup target and
    two configurations (``open``: home only; ``all``: both trees)."""

    base: Path
    device: str
    top: Path
    tree: Path
    dest: Path
    target: Path
    open: Path
    all: Path

    def fill(self, arg: str) -> str:
        return arg.format(base=self.base, top=self.top, tree=self.tree, dest=self.dest,
                          target=self.target, units=self.base / "units",
                          lost=self.base / "root")

    def argv(self, name: str, config: Path | None = None, *extra: str) -> list[str]:
        if name not in INVOCATIONS:
            pytest.fail(f"'layout {name}' is not in INVOCATIONS: say how to run it in the lab")
        args = [*name.split(), *(self.fill(a) for a in INVOCATIONS[name]), *extra]
        if "--config" in COMMANDS[name]:
            args += ["--config", str(config or self.open)]
        return args

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LAYOUT_TREES_")}
        env[RUN_DIR_ENV] = str(self.base / "run")
        return env


def _btrfs(*args: str) -> None:
    subprocess.run(["btrfs", *args], check=True, capture_output=True)


def _config(path: Path, trees: dict[str, tuple[Path, Path]], target: Path) -> Path:
    lines = []
    for name, (tree, dest) in trees.items():
        lines += [f"[tree.{name}]", f'path = "{tree}"', f'destination = "{dest}"', "",
                  f"[tree.{name}.backup]", f'targets = ["{target}"]',
                  'snapshot_preserve_min = "all"', 'target_preserve_min = "all"', ""]
    path.write_text("\n".join(lines))
    path.chmod(0o644)
    return path


def _make_lab(base: Path, stack: list[LoopBtrfs]) -> Lab:
    need_root_and_btrfs()
    base.chmod(0o755)
    fs = LoopBtrfs(str(base / "img"), size="400M", label="lt-matrix",
                   mountpoint=str(base / "top"))
    stack.append(fs)
    fs.open()
    assert fs.mountpoint and fs.device
    top = Path(fs.mountpoint)
    top.chmod(0o755)
    tree, locked = top / "trees" / "home", top / "trees" / "locked"
    (tree / "a").mkdir(parents=True)
    (locked / "secret").mkdir(parents=True)
    (locked / "secret").chmod(0o700)
    for leaf in (tree / "a" / "@ws", tree / "@top", locked / "secret" / "@x"):
        _btrfs("subvolume", "create", str(leaf))
        (leaf / "data").write_text(f"{leaf.name}\n")
    dest = base / "dest"
    (dest / "home" / "work").mkdir(parents=True)
    (dest / "home" / "work" / "notes").write_text("to persist\n")
    (dest / "locked").mkdir()
    target = top / "backups"
    target.mkdir()
    (base / "units").mkdir()
    os.chown(base / "units", 65534, 65534)
    (base / "root" / "open").mkdir(parents=True)
    (base / "root" / "open" / "file").write_text("x" * 100)
    (base / "root" / "closed").mkdir()
    (base / "root" / "closed").chmod(0o700)
    return Lab(base, fs.device, top, tree, dest, target,
               _config(base / "open.toml", {"home": (tree, dest / "home")}, target),
               _config(base / "all.toml", {"home": (tree, dest / "home"),
                                           "locked": (locked, dest / "locked")}, target))


@contextlib.contextmanager
def _lab() -> Iterator[Lab]:
    """A fresh :class:`Lab` below /tmp (pytest's own directories are closed to nobody)."""
    base = Path(tempfile.mkdtemp(prefix="lt-matrix-", dir="/tmp"))
    stack: list[LoopBtrfs] = []
    try:
        yield _make_lab(base, stack)
    finally:
        unmount_all_below(base / "dest")
        unmount_all_below(base / "top" / "restored")
        for fs in stack:
            fs.close()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def shared_lab() -> Iterator[Lab]:
    """One lab for the commands that must not change it (not root, JSON output)."""
    with _lab() as made:
        yield made


@pytest.fixture
def lab() -> Iterator[Lab]:
    with _lab() as made:
        yield made


def layout(lab: Lab, argv: list[str], *, nobody: bool = False,
           ) -> subprocess.CompletedProcess[str]:
    prefix = list(NOBODY) if nobody else []
    return subprocess.run([*prefix, LAYOUT, *argv], capture_output=True, text=True,
                          env=lab.env(), stdin=subprocess.DEVNULL, timeout=300,
                          cwd=lab.base)


def one_error(err: str) -> str:
    """The one error line of ``err``; nothing else there but a hint, never a traceback."""
    lines = err.splitlines()
    errors = [line for line in lines if line.startswith("layout: error: ")]
    assert len(errors) == 1, err
    assert all(line.startswith(("layout: error: ", "layout: hint: ")) for line in lines), err
    return errors[0]


# --- the tables agree with the command line ------------------------------------------------


def test_every_command_is_classified() -> None:
    """Each command is either a root command or a reading one, and has an invocation; the
    click lookup found the whole command line (at least MIN_COMMANDS)."""
    assert len(COMMANDS) >= MIN_COMMANDS, sorted(COMMANDS)
    assert set(COMMANDS) == NEEDS_ROOT | READS
    assert not NEEDS_ROOT & READS
    assert set(COMMANDS) <= set(INVOCATIONS)


# --- not root --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(NEEDS_ROOT & set(COMMANDS)))
def test_not_root_changing_command(shared_lab: Lab, name: str) -> None:
    """A command that changes the machine, run as nobody, exits 3 with one line saying it
    needs root, and changes nothing."""
    before = fingerprint(shared_lab)
    done = layout(shared_lab, shared_lab.argv(name), nobody=True)
    assert done.returncode == 3, done
    assert one_error(done.stderr) == f"layout: error: 'layout {name}' needs root"
    assert fingerprint(shared_lab) == before


@pytest.mark.parametrize("name", sorted(READS & set(COMMANDS)))
def test_not_root_reading_command(shared_lab: Lab, name: str) -> None:
    """A reading command, run as nobody, works where it can read everything; where a
    directory is closed to it, it exits 3 with one line saying it needs root, naming the
    directory (no partial result on stdout)."""
    lab = shared_lab
    if name == "lost":  # its tree is the root it walks, not a configuration
        opened = layout(lab, ["lost", "--root", str(lab.base / "root" / "open")], nobody=True)
    else:
        opened = layout(lab, lab.argv(name, lab.open), nobody=True)
    assert opened.returncode in (0, 1), opened
    assert "needs root" not in opened.stderr and "Traceback" not in opened.stderr
    closed = layout(lab, lab.argv(name, lab.all), nobody=True)
    assert closed.returncode == 3, closed
    line = one_error(closed.stderr)
    assert line.startswith(f"layout: error: 'layout {name}' needs root: ")
    assert line.endswith("/closed: permission denied") if name == "lost" else line.endswith(
        f"{lab.top}/trees/locked/secret: permission denied")
    assert closed.stdout == ""


def test_not_root_missing_is_not_permission(shared_lab: Lab) -> None:
    """A path that does not exist is its own message, not 'needs root' (as root), and a
    configuration nobody may read asks for root, naming the file."""
    lab = shared_lab
    for argv in (["backup", "exclude", str(lab.tree / "nope")],
                 ["persist", str(lab.dest / "home" / "nope"), "-c", str(lab.open)],
                 ["drop", str(lab.tree / "nope"), "-c", str(lab.open)]):
        gone = layout(lab, argv)
        assert gone.returncode == 2, gone
        assert one_error(gone.stderr).endswith("/nope: does not exist")
    secret = lab.base / "secret.toml"
    shutil.copy(lab.open, secret)
    secret.chmod(0o600)
    denied = layout(lab, ["plan", "--config", str(secret)], nobody=True)
    assert denied.returncode == 3
    assert one_error(denied.stderr) == (f"layout: error: 'layout plan' needs root: {secret}: "
                                        "permission denied")


# --- --format json ---------------------------------------------------------------------------


def _schemas() -> dict[str, dict]:  # type: ignore[type-arg]
    """Every published schema, by the ``format`` its documents carry."""
    out = {}
    for name in api.SCHEMA_NAMES:
        schema = api.schema(name)
        out[schema["properties"]["format"]["const"]] = schema
    return out


def test_json_matrix_covers_enough() -> None:
    """The --format json column is found in click's params (at least MIN_JSON commands)."""
    assert len(_json_commands()) >= MIN_JSON, _json_commands()


@pytest.mark.parametrize("name", [*_json_commands(), "snapshot"])
def test_format_json(shared_lab: Lab, name: str) -> None:
    """``--format json`` prints one JSON document with the envelope (``format``,
    ``version``) that validates against the schema its ``format`` names; a dry run where
    the command has one, so the lab stays as it was."""
    lab = shared_lab
    extra = [] if name == "snapshot" else ["--format", "json"]
    if "--dry-run" in COMMANDS[name]:
        extra.append("--dry-run")
    before = fingerprint(lab)
    done = layout(lab, lab.argv(name, lab.open, *extra))
    assert done.returncode in (0, 1), done
    document = json.loads(done.stdout)
    assert isinstance(document, dict) and {"format", "version"} <= set(document), document
    schemas = _schemas()
    assert document["format"] in schemas, document["format"]
    jsonschema.validate(document, schemas[document["format"]])
    assert fingerprint(lab) == before


# --- --dry-run -------------------------------------------------------------------------------


def fingerprint(lab: Lab) -> tuple[object, ...]:
    """What a command could change: every file below the lab (type, owner, mode, size,
    content digest of small files, extended attributes), the subvolumes, and every mount
    of the lab's device or below the lab."""
    files = []
    for root, dirs, names in os.walk(lab.base):
        dirs.sort()
        for name in sorted(dirs + names):
            path = os.path.join(root, name)
            if path == str(lab.base / "img"):
                continue
            st = os.lstat(path)
            try:
                attrs = tuple(sorted((a, os.getxattr(path, a, follow_symlinks=False))
                                     for a in os.listxattr(path, follow_symlinks=False)))
            except OSError:
                attrs = ()
            content = None
            if os.path.isfile(path) and not os.path.islink(path) and st.st_size < 1 << 16:
                content = Path(path).read_bytes()
            files.append((path, st.st_mode, st.st_uid, st.st_gid, st.st_size, attrs, content))
    listed = subprocess.run(["btrfs", "subvolume", "list", "-a", "-u", "-R", str(lab.top)],
                            capture_output=True, text=True, check=True).stdout
    # Generations are left out: drop's dry run compares the leaf with its latest snapshot
    # through a transient read-only snapshot (created, compared, deleted), which commits
    # transactions and so moves generation numbers without changing any subvolume.
    subvolumes = re.sub(r" gen \d+", "", listed)
    with open("/proc/self/mountinfo", encoding="utf-8") as handle:
        mounts = sorted(line.split(" - ")[0].split()[3:5] + line.split(" - ")[1].split()[:2]
                        for line in handle
                        if lab.device in line or str(lab.base) in line
                        or "/run/layout-trees" in line)
    return tuple(files), subvolumes, tuple(map(tuple, mounts))


DRY_RUN = _with("--dry-run")


def test_dry_run_matrix_covers_enough() -> None:
    """The --dry-run column is found in click's params (at least MIN_DRY_RUN commands)."""
    assert len(DRY_RUN) >= MIN_DRY_RUN, DRY_RUN


@pytest.mark.parametrize("name", DRY_RUN)
def test_dry_run_changes_nothing(lab: Lab, name: str) -> None:
    """``--dry-run`` leaves files, owners, modes, attributes, subvolumes and mounts exactly
    as they were; the same command without it does change them (the lab gives it work)."""
    if name in NEEDS_BACKUP:
        done = layout(lab, ["backup", "run", "--config", str(lab.open)])
        assert done.returncode == 0, done
    if name == "backup include":
        os.setxattr(lab.tree / "a" / "@ws", "user.layout-trees.backup", b"skip")
    before = fingerprint(lab)
    dry = layout(lab, lab.argv(name, lab.open, "--dry-run"))
    assert dry.returncode in (0, 1), dry
    assert "Traceback" not in dry.stderr
    assert fingerprint(lab) == before
    real = layout(lab, lab.argv(name, lab.open))
    assert real.returncode in (0, 1), real
    assert fingerprint(lab) != before


# --- restore --into below a missing parent ------------------------------------------------


def test_restore_into_creates_missing_parents(lab: Lab) -> None:
    """``restore --into`` a path whose parents are missing below an existing btrfs mount
    creates them and restores; below a directory that is not on btrfs it names the first
    missing directory and creates nothing."""
    done = layout(lab, ["backup", "run", "--config", str(lab.open)])
    assert done.returncode == 0, done
    into = lab.top / "new" / "deeper" / "home"
    done = layout(lab, ["restore", "--from", str(lab.target), "--into", str(into)])
    assert done.returncode == 0, done
    assert (into / "a" / "@ws" / "data").read_text() == "@ws\n"
    assert (into / "@top" / "data").read_text() == "@top\n"
    assert oct((lab.top / "new").stat().st_mode & 0o777) == oct(0o755)

    elsewhere = lab.base / "plain"  # on the filesystem holding /tmp, not the lab's btrfs
    elsewhere.mkdir()
    fs_type = subprocess.run(["stat", "-f", "-c", "%T", str(elsewhere)], capture_output=True,
                             text=True, check=True).stdout.strip()
    if fs_type == "btrfs":
        pytest.skip("/tmp is on btrfs here: no non-btrfs directory to restore below")
    refused = layout(lab, ["restore", "--from", str(lab.target), "--into",
                           str(elsewhere / "x" / "y" / "home")])
    assert refused.returncode == 3, refused
    line = one_error(refused.stderr)
    assert f"{elsewhere}/x: does not exist" in line and "not on a btrfs" in line
    assert list(elsewhere.iterdir()) == []


def test_source_path_is_absolute_with_a_relative_config(lab: Lab) -> None:
    """``layout generate -c RELATIVE`` writes units whose SourcePath= is the absolute path
    of the configuration."""
    done = layout(lab, ["generate", str(lab.base / "gen"), "-c", "open.toml"])
    assert done.returncode == 0, done
    units = sorted((lab.base / "gen").glob("*.mount"))
    assert len(units) == 2
    for unit in units:
        assert f"SourcePath={lab.open}\n" in unit.read_text()
