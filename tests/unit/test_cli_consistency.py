"""One command line: the shared options mean the same on every command, help reads like a
Unix tool's, every JSON document has the envelope and validates against its schema, global
options work on either side of the command, and errors leave through one door."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import layout_trees as lt
import pytest
from layout_trees.shell import cli, log
from layout_trees.shell.cli import report as cli_report
from layout_trees.shell.cli.help import is_global, metavar_of

ROOT = Path(__file__).resolve().parents[2]
SHELL = ROOT / "src" / "shell"
CLI_MODULES = sorted((SHELL / "cli").rglob("*.py"))
# the commands' modules; the man page and completion writers are build tools beside them
COMMAND_MODULES = [p for p in CLI_MODULES if p.name not in ("manpages.py", "completions.py")]

LAYOUT = str(Path(sys.executable).with_name("layout"))


def test_the_command_line_modules_are_found() -> None:
    """The walks below see every command module (a wrong path would make them vacuous)."""
    names = {p.name for p in COMMAND_MODULES}
    assert {"__init__.py", "options.py", "report.py", "plan.py", "check.py", "backup.py",
            "restore.py", "live.py", "audit.py"} <= names


def _walk(cmd: Any, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    found = {path: cmd}
    for name, sub in (getattr(cmd, "commands", None) or {}).items():
        if not getattr(sub, "hidden", False):
            found.update(_walk(sub, (*path, name)))
    return found


COMMANDS = _walk(cli.full_command())
LEAVES = {p: c for p, c in COMMANDS.items() if p and not getattr(c, "commands", None)}


def _option(cmd: Any, name: str) -> Any | None:
    return next((p for p in cmd.params if p.name == name), None)


def _help(path: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as done:
        cli_report.run(lambda: cli.command().main(args=[*path, "--help"], prog_name="layout",
                                                  standalone_mode=False))
    assert done.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("path", sorted(COMMANDS), ids=lambda p: " ".join(p) or "layout")
def test_help_reads_like_a_unix_tools(path: tuple[str, ...],
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """Every command's help shows metavars (PATH, TEXT, [a|b]), nothing for a flag, and a
    positional as itself: never typer's <bool>, <path>, <list[str]> or {path}."""
    text = _help(path, capsys)
    assert text.startswith(f"Usage: {' '.join(('layout', *path))} ")
    assert re.search(r"<[a-z_\[\]|]+>", text) is None, text
    assert "{" not in text.splitlines()[0], text
    for line in text.splitlines():
        flag = re.match(r"\s+(?:-\w, )?(--[\w-]+)(?: (\S+))?", line)
        if flag is None:
            continue
        param = next((p for p in COMMANDS[path].params if flag.group(1) in p.opts), None)
        if param is not None and flag.group(2) != "/":  # --keep / --no-keep
            assert flag.group(2) == metavar_of(param) or (
                flag.group(2) is None and metavar_of(param) is None), line


def test_help_shows_the_conventional_forms(capsys: pytest.CaptureFixture[str]) -> None:
    """The forms a user compares with other tools, in the rendered text."""
    plan = _help(("plan",), capsys)
    assert "-c, --config PATH" in plan and "-t, --tree NAME" in plan
    assert "-f, --format [text|json]" in plan and re.search(r"\n  --digest +Print", plan)
    exclude = _help(("backup", "exclude"), capsys)
    assert "Usage: layout backup exclude [OPTIONS] PATH\n" in exclude
    assert "-n, --dry-run" in exclude
    top = _help((), capsys)
    assert "-q, --quiet" in top and "-v, --verbose" in top and "--debug" in top


def test_the_help_check_can_fail(capsys: pytest.CaptureFixture[str]) -> None:
    """Without the conventional metavars typer's own type names show (the check above
    would see them)."""
    import typer
    import typer.main
    from layout_trees.shell.cli import backup as backup_cli

    plain = typer.Typer(rich_markup_mode=None)
    backup_cli.register(plain)
    raw = typer.main.get_command(plain)
    with pytest.raises(SystemExit):
        cli_report.run(lambda: raw.main(args=["backup", "exclude", "--help"],
                                        prog_name="layout", standalone_mode=False))
    text = capsys.readouterr().out
    assert "{path}" in text and "<path>" in text


SHARED = {"config": ("--config", "-c"), "tree": ("--tree", "-t"),
          "dry_run": ("--dry-run", "-n"), "format": ("--format", "-f")}
CHANGES = {("drop",), ("restore",), ("persist",), ("reload",), ("backup", "run"),
           ("backup", "exclude"), ("backup", "include")}
PER_TREE = {("plan",), ("snapshot",), ("check",), ("restore",), ("backup", "plan"),
            ("backup", "run"), ("backup", "status"), ("backup", "verify")}
DOCUMENTS = {("plan",), ("check",), ("diff",), ("audit",), ("lost",), ("backup", "plan"),
             ("backup", "status"), ("backup", "verify")}


@pytest.mark.parametrize(("name", "having"), [("dry_run", CHANGES), ("tree", PER_TREE),
                                              ("format", DOCUMENTS)])
def test_shared_options_are_where_they_belong(name: str, having: set[tuple[str, ...]]) -> None:
    """--dry-run/-n on every command that changes something, --tree/-t on every command
    that works per tree, --format/-f on every command with a document to print."""
    assert {p for p, c in LEAVES.items() if _option(c, name) is not None} == having
    for path in having:
        assert tuple(_option(LEAVES[path], name).opts) == SHARED[name], path


def test_each_shared_option_has_one_help_text() -> None:
    """--config, --tree, --dry-run, --format (check's own formats aside) read the same on
    every command."""
    for name in SHARED:
        texts = {_option(c, name).help for p, c in LEAVES.items()
                 if _option(c, name) is not None and p != ("check",)}
        assert len(texts) == 1, (name, texts)


def test_json_alias_is_hidden_and_only_on_the_old_commands() -> None:
    """--json stays as a hidden alias of --format json where it existed."""
    having = {p for p, c in LEAVES.items() if _option(c, "as_json") is not None}
    assert having == {("backup", "plan"), ("backup", "status"), ("backup", "verify")}
    assert all(_option(LEAVES[p], "as_json").hidden for p in having)


def _literal_options(source: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "Option":
            found |= {a.value for a in node.args if isinstance(a, ast.Constant)}
    return found


def test_shared_options_are_declared_only_in_cli_options() -> None:
    """No command module declares its own --config, --tree, --dry-run or --format
    (check's --format has its own formats: text, json, sarif, github)."""
    for module in COMMAND_MODULES:
        if module.name == "options.py":
            continue
        declared = _literal_options(module.read_text(encoding="utf-8"))
        shared = {"--config", "--tree", "--dry-run", "--json"}
        if module.name != "check.py":
            shared.add("--format")
        assert not declared & shared, (module.name, declared & shared)
    assert "--config" in _literal_options((SHELL / "cli" / "options.py").read_text())


def test_errors_leave_through_one_door() -> None:
    """Only cli.report writes to standard error or spells 'layout: error'; only it (and the
    lean entry points' exits.run_plain) maps an exception to an exit code."""
    for module in COMMAND_MODULES:
        if module.name == "report.py":
            continue
        text = module.read_text(encoding="utf-8")
        assert "layout: error" not in text and "layout: warning" not in text, module.name
        assert "err=True" not in text, module.name
        assert "exit_code(" not in text and "SystemExit" not in text, module.name


# --- documents ---------------------------------------------------------------------------

def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LAYOUT, *args], capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def snapshot_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    entries = tuple(lt.Entry((name,), lt.EntryKind.SUBVOLUME,
                             subvolume=lt.Subvolume(f"/t/{name}", uuid=f"u-{name}"))
                    for name in ("@x", "@y"))
    tree = lt.TreeScan("t", "/mnt/t", device="/dev/vdb", mode=0o755, entries=entries)
    config = lt.parse_config({"tree": {"t": {"path": "/mnt/t", "destination": "/srv/t"}}})
    path = tmp_path_factory.mktemp("docs") / "snap.json"
    path.write_text(lt.write_document(lt.snapshot_document(lt.Snapshot((tree,)), config)))
    return path


@pytest.mark.parametrize(("args", "schema", "status"), [
    (("plan", "--snapshot", "{s}"), "plan", 0),
    (("check", "--snapshot", "{s}"), "check", None),
    (("diff", "{s}", "{s}"), "diff", 0),
    (("audit", "--expect", "{s}", "--snapshot", "{s}"), "audit", 0),
    (("lost", "--root", "{d}"), "lost", 0),
])
def test_every_json_document_has_the_envelope_and_its_schema(
        args: tuple[str, ...], schema: str, status: int | None, snapshot_file: Path) -> None:
    """--format json prints a document with "format" and "version" first-class and valid
    against the schema the package ships (the backup documents: tests/integration)."""
    filled = [a.format(s=snapshot_file, d=snapshot_file.parent) for a in args]
    done = _run(*filled, "--format", "json")
    assert status is None or done.returncode == status, done.stderr
    data = json.loads(done.stdout)
    assert (data["format"], data["version"]) == (f"layout-trees-{schema}", 1)
    jsonschema.validate(data, lt.schema(schema))


def test_every_schema_is_strict_and_names_its_envelope() -> None:
    """Each shipped schema refuses unknown top-level fields and pins format and version."""
    for name in lt.SCHEMA_NAMES:
        schema = lt.schema(name)
        assert schema["additionalProperties"] is False, name
        document = "backup-manifest" if name == "manifest" else name
        assert schema["properties"]["format"] == {"const": f"layout-trees-{document}"}, name
        assert schema["properties"]["version"] == {"const": 1}, name
        assert {"format", "version"} <= set(schema["required"]), name


def test_envelope_refuses_a_payload_that_sets_it() -> None:
    """The payload cannot override format or version."""
    assert cli_report.envelope("x", {"a": 1}) == {"format": "layout-trees-x", "version": 1,
                                                  "a": 1}
    with pytest.raises(ValueError):
        cli_report.envelope("x", {"version": 2})


# --- global options -----------------------------------------------------------------------

@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_works_before_or_after_the_command(where: str, tmp_path: Path) -> None:
    """`layout --debug plan …` and `layout plan --debug …` both show the traceback of an
    error; without --debug it is one line and exit 2."""
    missing = str(tmp_path / "none.toml")
    args = ["--debug", "plan", "-c", missing] if where == "before" else [
        "plan", "-c", missing, "--debug"]
    done = _run(*args)
    assert "Traceback" in done.stderr and "ConfigError" in done.stderr
    plain = _run("plan", "-c", missing)
    assert plain.returncode == 2 and "Traceback" not in plain.stderr
    assert plain.stderr.startswith("layout: error: ")


@pytest.mark.parametrize("args", [["-q", "generate"], ["generate", "--quiet"]])
def test_quiet_silences_warnings_not_the_result(args: list[str], tmp_path: Path) -> None:
    """-q/--quiet drops the warnings (here: a read-only leaf is skipped); the command still
    does its work and prints its result."""
    entries = (lt.Entry(("@ro",), lt.EntryKind.SUBVOLUME,
                        subvolume=lt.Subvolume("/t/@ro", uuid="u-ro", read_only=True)),
               lt.Entry(("@rw",), lt.EntryKind.SUBVOLUME,
                        subvolume=lt.Subvolume("/t/@rw", uuid="u-rw")))
    tree = lt.TreeScan("t", "/mnt/t", device="/dev/vdb", mode=0o755, entries=entries)
    config = lt.parse_config({"tree": {"t": {"path": "/mnt/t", "destination": "/srv/t"}}})
    snap = tmp_path / "snap.json"
    snap.write_text(lt.write_document(lt.snapshot_document(lt.Snapshot((tree,)), config)))
    loud = _run("generate", str(tmp_path / "loud"), "-s", str(snap))
    assert loud.returncode == 0, loud.stderr
    assert "layout: warning: " in loud.stderr and "@ro" in loud.stderr
    quiet = _run(*args, str(tmp_path / "quiet"), "-s", str(snap))
    assert quiet.returncode == 0 and quiet.stderr == ""
    assert quiet.stdout == loud.stdout.replace("/loud", "/quiet")
    assert sorted(p.name for p in (tmp_path / "quiet").iterdir()) == sorted(
        p.name for p in (tmp_path / "loud").iterdir())


def test_verbose_lowers_the_log_threshold(monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """-v shows debug messages (the subprocess gateway's '+ command'); -q only errors."""
    monkeypatch.setattr(log, "_OVERRIDE", [])
    monkeypatch.setattr(cli_report, "STATE", cli_report.Verbosity())
    monkeypatch.setenv("SYSTEMD_LOG_LEVEL", "info")
    logger = log.Log("layout")
    logger.debug("+ true")
    assert capsys.readouterr().err == ""
    cli_report.set_verbosity(verbose=True)
    logger.debug("+ true")
    assert capsys.readouterr().err == "layout: + true\n"
    logger.warning("w")
    assert capsys.readouterr().err == "layout: warning: w\n"
    monkeypatch.setattr(cli_report, "STATE", cli_report.Verbosity())
    cli_report.set_verbosity(quiet=True)
    logger.warning("w")
    logger.error("e")
    assert capsys.readouterr().err == "layout: err: e\n"


def test_global_options_are_documented_once() -> None:
    """layout(1) describes --debug, -q and -v with the layout command, not once per
    command (they are on every command's --help)."""
    from layout_trees.shell.cli.manpages import command_tree

    for command in command_tree()[1:]:
        assert not {"--debug", "--quiet"} & {o for p in command.params for o in p.opts}
    for path, cmd in LEAVES.items():
        assert sum(is_global(p) for p in cmd.params) >= 2, path


# --- lazy commands ---------------------------------------------------------------------------

def test_lazy_table_matches_the_commands() -> None:
    """cli.LAZY names every command, in its module, with the first paragraph of its help."""
    root = cli.full_command()
    assert set(cli.LAZY) == set(root.commands)
    for name, (module, short) in cli.LAZY.items():
        cmd = root.commands[name]
        assert " ".join(cmd.help.split("\n\n")[0].split()) == short, name
        assert cmd.callback is None or cmd.callback.__module__.endswith(module) or name == \
            "backup", name


def test_a_mistyped_command_gets_a_suggestion() -> None:
    """`layout plna` is a usage error (exit 2) that suggests `plan`, as for subcommands."""
    done = _run("plna")
    assert done.returncode == 2
    assert "No such command 'plna'. Did you mean 'plan'?" in done.stderr
    assert "Did you mean 'status'?" in _run("backup", "stat").stderr


def test_top_level_help_imports_no_command_module() -> None:
    """`layout --help` loads neither typer's rich nor any command module, and lists every
    command: the lazy root pays only for what runs."""
    probe = ("import sys, io, contextlib\n"
             "from layout_trees.shell import cli\n"
             "sys.argv = ['layout', '--help']\n"
             "out = io.StringIO()\n"
             "with contextlib.redirect_stdout(out):\n"
             "    try: cli.main()\n"
             "    except SystemExit: pass\n"
             "print(sorted(m for m in sys.modules if m.startswith('layout_trees.')))\n"
             "print('rich' in sys.modules)\n"
             "print(out.getvalue().count('\\n  '))\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True)
    loaded, rich, rows = done.stdout.splitlines()
    assert not any(m.endswith("_cli'") or ".core.plan" in m or "backup" in m
                   for m in loaded.split(", ")), loaded
    assert rich == "False" and int(rows) >= len(cli.LAZY)


# --- README --------------------------------------------------------------------------------

def test_readme_command_table_lists_exactly_the_commands_of_layout_help(
        capsys: pytest.CaptureFixture[str]) -> None:
    """The README's command table has one row per command that `layout --help` shows."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text.split("## Command line: `layout`", 1)[1].split("\n\n", 2)[1]
    rows = [line for line in table.splitlines() if line.startswith("| `layout ")]
    in_readme = [row.split("`")[1].split()[1] for row in rows]
    shown = _help((), capsys).split("Commands:\n", 1)[1].split("\n\n", 1)[0]
    in_help = [line.split()[0] for line in shown.splitlines() if line.startswith("  ")
               and not line.startswith("   ")]
    assert sorted(in_readme) == sorted(in_help)
    assert len(in_readme) == len(set(in_readme))


# --- --tree ---------------------------------------------------------------------------------

def test_tree_limits_plan_and_check_to_the_named_trees(tmp_path: Path) -> None:
    """--tree/-t keeps only the named trees (repeatable); an unknown name is exit 2 with
    the known ones as hint."""
    trees, tables = [], {}
    for name in ("a", "b"):
        entries = (lt.Entry(("@x",), lt.EntryKind.SUBVOLUME,
                            subvolume=lt.Subvolume(f"/{name}/@x", uuid=f"u-{name}")),)
        trees.append(lt.TreeScan(name, f"/mnt/{name}", device="/dev/vdb", mode=0o755,
                                 entries=entries))
        tables[name] = {"path": f"/mnt/{name}", "destination": f"/srv/{name}"}
    config = lt.parse_config({"tree": tables})
    snap = tmp_path / "two.json"
    snap.write_text(lt.write_document(lt.snapshot_document(lt.Snapshot(tuple(trees)), config)))

    def mounted(*args: str) -> set[str]:
        done = _run("plan", "-s", str(snap), "-f", "json", *args)
        assert done.returncode == 0, done.stderr
        return {m["where"] for t in json.loads(done.stdout)["trees"] for m in t["mounts"]}

    assert mounted() == {"/srv/a/x", "/srv/b/x"}
    assert mounted("-t", "b") == {"/srv/b/x"}
    assert mounted("--tree", "a", "-t", "b") == {"/srv/a/x", "/srv/b/x"}
    def checked(*args: str) -> set[str | None]:
        found = json.loads(_run("check", "-s", str(snap), "-f", "json", *args).stdout)
        return {f["tree"] for f in found["findings"]}

    assert checked() == {"a", "b"} and checked("-t", "a") == {"a"}
    bad = _run("plan", "-s", str(snap), "-t", "c")
    assert bad.returncode == 2 and bad.stderr == (
        "layout: error: no tree named 'c'\nlayout: hint: known trees: a, b\n")


def test_global_options_do_not_outlive_their_invocation(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A second `layout` run in the same process starts without the first one's -q."""
    monkeypatch.setattr(sys, "argv", ["layout", "-q", "plan", "-s", "/nonexistent/snap"])
    with pytest.raises(SystemExit):
        cli.main()
    assert cli_report.STATE.quiet
    monkeypatch.setattr(sys, "argv", ["layout", "plan", "-s", "/nonexistent/snap"])
    with pytest.raises(SystemExit):
        cli.main()
    assert not cli_report.STATE.quiet and log._OVERRIDE == []
    capsys.readouterr()
