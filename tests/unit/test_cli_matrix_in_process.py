"""The command-line matrix, in process: every command of ``layout`` (read from the click
tree, so new commands join by themselves) × ``--help`` and × a missing, unreadable,
malformed or mistyped ``--config``.  The real-subprocess half (not root, dry runs,
JSON schemas on real btrfs) is ``tests/integration/test_cli_matrix.py``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from layout_trees.core.errors import EnvironmentProblem, UserError
from layout_trees.core.model import Entry, EntryKind, Snapshot, TreeScan, TreeStatus
from layout_trees.shell import cli, privilege
from layout_trees.shell.cli import report as cli_report
from layout_trees.shell.configfile import load_config, load_strict

MIN_COMMANDS = 18
"""Commands the matrix must cover at least (``layout`` had 19 when it was written)."""

ARGUMENTS: dict[str, tuple[str, ...]] = {
    "generate": ("{tmp}/units",),
    "persist": ("{tmp}",),
    "drop": ("{tmp}/nowhere",),
    "diff": ("live", "live"),
    "audit": ("--mounted",),
    "backup exclude": ("{tmp}/nowhere",),
    "backup include": ("{tmp}/nowhere",),
    "restore": ("--from", "{tmp}/target", "--into", "{tmp}/into"),
}
"""Arguments a command needs besides ``--config`` to get as far as reading it."""

LENIENT = {"check"}
"""Commands that report a configuration that parses badly as findings (exit 1)."""


def commands() -> Iterator[tuple[str, typer.core.TyperCommand]]:  # type: ignore[name-defined]
    """Every visible command and group below ``layout``, as its words and click object."""
    def walk(command, words):  # type: ignore[no-untyped-def]
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            if sub.hidden:
                continue
            yield " ".join((*words, name)), sub
            yield from walk(sub, (*words, name))

    yield from walk(cli.full_command(), ())


def leaf_commands() -> list[str]:
    return [name for name, command in commands() if not hasattr(command, "commands")]


def options_of(name: str) -> set[str]:
    for candidate, command in commands():
        if candidate == name:
            return {opt for param in command.params for opt in param.opts}
    raise KeyError(name)


def with_config() -> list[str]:
    return [name for name in leaf_commands() if "--config" in options_of(name)]


def run(args: list[str], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``layout ARGS`` through ``cli.main`` (its error handling included)."""
    monkeypatch.setattr(sys, "argv", ["layout", *args])
    monkeypatch.setattr(cli_report, "STATE", cli_report.Verbosity())
    with pytest.raises(SystemExit) as done:
        cli.main()
    out, err = capsys.readouterr()
    code = done.value.code
    return (code if isinstance(code, int) else 0), out, err


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("LAYOUT_TREES_CONFIG", "LAYOUT_TREES_GENERATOR_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(privilege, "is_root", lambda: True)


def test_the_matrix_covers_every_command() -> None:
    """The command list read from click is not empty or truncated: at least MIN_COMMANDS,
    with the ones every release had."""
    names = [name for name, _ in commands()]
    assert len(names) >= MIN_COMMANDS, names
    assert {"plan", "check", "backup", "backup run", "restore"} <= set(names)
    assert len(with_config()) >= 10


@pytest.mark.parametrize("name", [name for name, _ in commands()])
def test_help(name: str, monkeypatch: pytest.MonkeyPatch,
              capsys: pytest.CaptureFixture[str]) -> None:
    """``layout CMD --help`` exits 0 and shows the command's own usage line, nothing on
    stderr."""
    code, out, err = run([*name.split(), "--help"], monkeypatch, capsys)
    assert code == 0, err
    assert f"layout {name}" in " ".join(out.split()) and "Usage" in out
    assert err == ""


def _config_cases(tmp: Path) -> dict[str, tuple[Path, str]]:
    """Each bad ``--config``: the path, and what the error line must say."""
    tmp.joinpath("binary.toml").write_bytes(b'\xff\xfe[tree.a]\npath = "/x"\n')
    tmp.joinpath("syntax.toml").write_text("[tree.a\n")
    tmp.joinpath("typo.toml").write_text(
        '[tree.a]\npath = "/srv/trees/a"\ndestinaton = "/srv/a"\n')
    (tmp / "dir.toml").mkdir()
    return {
        "missing": (tmp / "missing.toml", "no such configuration file"),
        "directory": (tmp / "dir.toml", "is a directory"),
        "not-utf8": (tmp / "binary.toml", "not UTF-8"),
        "syntax": (tmp / "syntax.toml", "not valid TOML"),
        "typo": (tmp / "typo.toml", "unknown key 'destinaton'"),
    }


CASES = ("missing", "directory", "not-utf8", "syntax", "typo")


def _one_error(err: str, path: Path) -> str:
    """The single error line of ``err`` (which must hold nothing but it and a hint)."""
    lines = err.splitlines()
    errors = [line for line in lines if line.startswith("layout: error: ")]
    assert len(errors) == 1, err
    assert all(line.startswith(("layout: error: ", "layout: hint: ")) for line in lines), err
    assert str(path) in errors[0], err
    return errors[0]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("name", with_config())
def test_bad_config(name: str, case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                    capsys: pytest.CaptureFixture[str]) -> None:
    """Every command given a missing, directory, non-UTF-8, unparsable or mistyped
    configuration exits 2 with one error line naming the file and a hint (the mistyped
    key's hint is 'did you mean'); ``check`` reports what it could read as a finding."""
    path, says = _config_cases(tmp_path)[case]
    extra = [a.format(tmp=tmp_path) for a in ARGUMENTS.get(name, ())]
    code, out, err = run([*name.split(), *extra, "--config", str(path)], monkeypatch, capsys)
    if name in LENIENT and case in ("syntax", "typo"):
        assert code == 1 and says in out and str(path) in out, (out, err)
        if case == "typo":
            assert "did you mean 'destination'?" in out
        return
    assert code == 2, (out, err)
    line = _one_error(err, path)
    assert says in line
    assert "layout: hint: " in err
    if case == "typo":
        assert "did you mean 'destination'?" in err
    assert not tmp_path.joinpath("units").exists()


def test_config_source_is_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A configuration named by a relative path records its absolute path (what units name
    in SourcePath=), and the strict loader agrees with the lenient one on valid files."""
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "lt.toml").write_text('[tree.a]\npath = "/srv/trees/a"\n'
                                               'destination = "/srv/a"\n')
    monkeypatch.chdir(tmp_path)
    parsed = load_config("etc/lt.toml", required=True)
    assert parsed.config.source == str(tmp_path / "etc" / "lt.toml")
    assert load_strict("etc/lt.toml") == parsed


def test_generated_units_name_the_absolute_source(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """``layout generate -c RELATIVE`` (from a snapshot) writes SourcePath= as an absolute
    path."""
    from layout_trees.core.snapshot_json import dump_snapshot

    (tmp_path / "lt.toml").write_text('[tree.a]\npath = "/srv/trees/a"\n'
                                      'destination = "/srv/a"\n')
    monkeypatch.chdir(tmp_path)
    leaf = Entry(("@data",), EntryKind.SUBVOLUME, 0, 0, 0o755,
                 subvolume=_subvolume("/trees/a/@data"))
    tree = TreeScan("a", "/srv/trees/a", TreeStatus.OK, device="/dev/vdb",
                    root_subvol_path="/trees/a", uid=0, gid=0, mode=0o755, entries=(leaf,),
                    fs_mountpoint="/srv")
    (tmp_path / "snap.json").write_text(dump_snapshot(Snapshot((tree,)), None))
    code, _out, err = run(["generate", "units", "-c", "lt.toml", "-s", "snap.json"],
                          monkeypatch, capsys)
    assert code == 0, err
    units = list((tmp_path / "units").glob("*.mount"))
    assert units
    for unit in units:
        assert f"SourcePath={tmp_path}/lt.toml\n" in unit.read_text()


def _subvolume(path: str):  # type: ignore[no-untyped-def]
    from layout_trees.core.model import Subvolume

    return Subvolume(path=path, read_only=False, id=300)


# --- privilege --------------------------------------------------------------------------


def _snapshot(tree_error: str | None, entry_error: str | None) -> Snapshot:
    entries = () if entry_error is None else (
        Entry(("a", "b"), EntryKind.UNREADABLE, error=entry_error),)
    if tree_error is not None:
        return Snapshot((TreeScan("t", "/srv/t", TreeStatus.UNREADABLE, tree_error),))
    return Snapshot((TreeScan("t", "/srv/t", TreeStatus.OK, device="/dev/vdb",
                              root_subvol_path="/t", uid=0, gid=0, mode=0o700,
                              entries=entries, fs_mountpoint="/srv"),))


@pytest.mark.parametrize(("tree_error", "entry_error", "denied"), [
    (None, None, []),
    ("cannot be read: " + os.strerror(13), None, ["/srv/t"]),
    ("does not exist", None, []),
    (None, os.strerror(13), ["/srv/t/a/b"]),
    (None, os.strerror(1), ["/srv/t/a/b"]),
    (None, "changed during the scan", []),
    (None, os.strerror(40), []),
])
def test_denied_paths(tree_error: str | None, entry_error: str | None,
                      denied: list[str]) -> None:
    """Only what a scan could not read for lack of permission counts as denied; a missing
    tree or a race is not a reason to ask for root."""
    assert privilege.denied_paths(_snapshot(tree_error, entry_error)) == denied


def test_readable_asks_for_root_only_when_not_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """A scan that met a denied directory stops an unprivileged command with 'needs root'
    naming the path; as root the same scan is returned (a finding, not a refusal)."""
    snap = _snapshot(None, os.strerror(13))
    assert privilege.readable(snap) is snap
    monkeypatch.setattr(privilege, "is_root", lambda: False)
    with pytest.raises(EnvironmentProblem) as raised:
        privilege.readable(snap)
    assert raised.value.message == "root is needed: /srv/t/a/b: permission denied"
    clean = _snapshot(None, None)
    assert privilege.readable(clean) is clean


def test_existing_tells_missing_from_denied(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """'does not exist' is a usage error; 'permission denied' asks for root."""
    with pytest.raises(UserError) as missing:
        privilege.existing(str(tmp_path / "nope"))
    assert missing.value.message.endswith("does not exist")
    assert privilege.existing(str(tmp_path)).st_ino == os.lstat(tmp_path).st_ino

    def denied(path: str) -> os.stat_result:
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(privilege.os, "lstat", denied)
    with pytest.raises(EnvironmentProblem) as refused:
        privilege.existing("/root/x")
    assert refused.value.message == "root is needed: /root/x: permission denied"


@pytest.mark.parametrize("name", ["drop", "persist", "reload", "restore", "backup run",
                                  "backup exclude", "demo"])
def test_changing_commands_need_root(name: str, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    """A command that changes the machine, run without root, exits 3 with one line naming
    itself, before reading anything (here: a configuration that does not exist)."""
    monkeypatch.setattr(privilege, "is_root", lambda: False)
    extra = [a.format(tmp=tmp_path) for a in ARGUMENTS.get(name, ())]
    config = ["--config", str(tmp_path / "missing.toml")] if "--config" in options_of(name) \
        else []
    code, _out, err = run([*name.split(), *extra, *config], monkeypatch, capsys)
    assert code == 3, err
    assert err.splitlines()[0] == f"layout: error: 'layout {name}' needs root"


def test_strict_names_the_file_keeps_the_hint_and_counts_the_rest(tmp_path: Path) -> None:
    """The strict loader's error names the file and the first problem with its own hint,
    and says how many more there are; a configuration without problems passes through."""
    from layout_trees.core.errors import ConfigError

    path = tmp_path / "lt.toml"
    path.write_text('[tree.a]\npath = "/srv/trees/a"\ndestinaton = "/srv/a"\n'
                    '[tree.b]\npath = "/srv/trees/b"\ndestination = 3\n')
    with pytest.raises(ConfigError) as raised:
        load_strict(str(path))
    assert raised.value.message.startswith(f"{path}: tree.a: unknown key 'destinaton'")
    assert raised.value.hint is not None
    assert raised.value.hint.startswith("did you mean 'destination'?")
    assert "1 more problem" in raised.value.hint
    path.write_text('[tree.a]\npath = "/srv/trees/a"\ndestination = "/srv/a"\n')
    assert load_strict(str(path)).problems == ()
