"""Every reader of an untrusted document answers with the project's own error.

Configurations (TOML, the prototype's JSON/YAML list), snapshots and the
configuration a snapshot embeds are read from files a user, a CI job or
another machine wrote.  Whatever they hold (arbitrary bytes, nesting deeper
than the interpreter's recursion limit, integers longer than Python converts,
every value replaced by a value of another type) a reader returns its result
or raises a :class:`UserError`: never another exception, so the command line
exits 2 with one line, never 70 with a traceback.  A few subprocess runs
check the exit status and the one line end to end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from layout_trees.core.config import parse_prototype_document, parse_toml_document
from layout_trees.core.errors import UserError
from layout_trees.core.snapshot_json import load_snapshot, snapshot_from_data
from layout_trees.shell.configfile import parse_text

DEEP = 5000
DEEP_TOML = "a = " + "[" * DEEP + "]" * DEEP + "\n"
DEEP_TOML_TABLES = "a = " + "{b = " * DEEP + "1" + "}" * DEEP + "\n"
DEEP_JSON = "[" * DEEP + "]" * DEEP
DEEP_YAML = "- " + "[" * DEEP + "]" * DEEP + "\n"
HUGE_INT = '[{"layout_tree": "/t", "destination": "/d", "extra_opts": ' + "9" * 5000 + "}]"
VALID_SNAPSHOT = {
    "format": "layout-trees-snapshot", "version": 1, "fstab_mountpoints": ["/boot"],
    "trees": [{"name": "t", "root": "/trees/t", "status": "ok", "uid": 0, "gid": 0,
               "mode": "0755", "device": "/dev/vdb", "root_subvol_path": "/t",
               "entries": [{"path": ["@a"], "kind": "subvolume", "uid": 0, "gid": 0,
                            "mode": "0755", "subvolume": {"path": "/t/@a", "read_only": False,
                                                          "id": 256, "nested": ["x"]}}]}],
    "user_homes": [[1000, "/home/alice"]],
    "config": {"tree": {"t": {"path": "/trees/t", "destination": "/srv/t",
                              "options": ["noatime"], "ignore": {"LT060": "why"},
                              "backup": {"targets": ["/mnt/b"], "schedule": "daily"}}}},
}
VALID_PROTOTYPE = [{"layout_tree": "/mnt/r/t", "tree_prefix": "/mnt/r", "destination": "/home/a",
                    "device_path": "/dev/mapper/x", "extra_opts": ["user_subvol_rm_allowed"]}]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every position in a JSON-like value, as a path of keys and indices."""
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += _paths(item, (*prefix, i))
    return found


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = _replace(value[path[0]], path[1:], new)
    return copy


@st.composite
def mutated(draw: st.DrawFn, document: Any) -> Any:
    """A valid document with a few values, anywhere, replaced by values of any type."""
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(document)))
        document = _replace(document, path, draw(json_values))
    return document


def _only_user_errors(action: Any) -> None:
    try:
        action()
    except UserError as exc:
        assert "\n" not in exc.message, exc.message


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
@example(DEEP_TOML.encode())
@example(DEEP_TOML_TABLES.encode())
@example(b"[tree.x]\npath = 1\n")
@example(b"\xff\xfe[tree]")
def test_toml_reader_invariant_only_user_errors(raw: bytes) -> None:
    """Any bytes as a TOML configuration: parsed, or one UserError line."""
    text = raw.decode("utf-8", errors="replace")
    _only_user_errors(lambda: parse_text(text, "/etc/layout-trees.toml"))


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
@example(DEEP_JSON.encode())
@example(DEEP_YAML.encode())
@example(HUGE_INT.encode())
@example(b"- &a [*a]\n")
@example(b"!!python/object:os.system ls\n")
@example(b"{? [1, 2] : 3}\n")
def test_prototype_reader_invariant_only_user_errors(raw: bytes) -> None:
    """Any bytes as a prototype (JSON or YAML) configuration: parsed, or one UserError."""
    text = raw.decode("utf-8", errors="replace")
    _only_user_errors(lambda: parse_text(text, "/etc/layout-trees.yaml"))


@given(json_values | mutated({"tree": VALID_SNAPSHOT["config"]["tree"]}))
def test_toml_document_invariant_only_user_errors(data: Any) -> None:
    """Any decoded TOML document, valid ones with values of the wrong type included."""
    _only_user_errors(lambda: parse_toml_document(data, "/etc/layout-trees.toml"))


@given(json_values | mutated(VALID_PROTOTYPE))
@example([{"layout_tree": "/t", "destination": "/a/../b"},
          {"layout_tree": "/u", "destination": "/ok"}])
@example([{"layout_tree": "/t", "destination": "/a/\udcff"}])
def test_prototype_document_invariant_only_user_errors(data: Any) -> None:
    """Any decoded prototype document, valid ones with values of the wrong type included: a
    list is never refused whole, each bad entry becomes a problem naming it."""
    if not isinstance(data, list):
        _only_user_errors(lambda: parse_prototype_document(data, "/etc/layout-trees.yaml"))
        return
    parsed = parse_prototype_document(data, "/etc/layout-trees.yaml")
    assert len(parsed.config.trees) + len(parsed.problems) == len(data)
    assert all(p.where.startswith("entry ") for p in parsed.problems)


@given(json_values | mutated(VALID_SNAPSHOT))
@example(VALID_SNAPSHOT)
def test_snapshot_document_invariant_only_user_errors(data: Any) -> None:
    """Any decoded snapshot, valid ones with values of the wrong type included."""
    _only_user_errors(lambda: snapshot_from_data(data))


@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode)
       | mutated(VALID_SNAPSHOT).map(lambda d: json.dumps(d).encode()))
@example(DEEP_JSON.encode())
@example(b'{"format": "layout-trees-snapshot", "version": ' + b"1" * 5000 + b"}")
def test_snapshot_text_invariant_only_user_errors(raw: bytes) -> None:
    """Any text as a snapshot: read, or one SnapshotError line."""
    _only_user_errors(lambda: load_snapshot(raw.decode("utf-8", errors="replace")))


# --- end to end: exit status 2 and one line, never 70 ------------------------------------

BIN = Path(sys.executable).parent
HOSTILE_FILES = {
    "deep.toml": DEEP_TOML.encode(),
    "deep.yaml": DEEP_YAML.encode(),
    "deep.json": DEEP_JSON.encode(),
    "binary.toml": bytes(range(256)),
    "binary.yaml": b"\x00\xff" * 100,
    "huge-int.json": HUGE_INT.encode(),
}


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "SYSTEMD_PROC_CMDLINE": ""}
    return subprocess.run(list(argv), capture_output=True, text=True, env=env, timeout=60,
                          stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("name", sorted(HOSTILE_FILES))
def test_cli_hostile_config_exits_2_with_one_line(tmp_path: Path, name: str) -> None:
    """`layout plan --config HOSTILE` exits 2 with one error line naming the file."""
    path = tmp_path / name
    path.write_bytes(HOSTILE_FILES[name])
    done = _run(str(BIN / "layout"), "plan", "--config", str(path))
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("layout: error:")]
    assert len(errors) == 1 and str(path) in errors[0], done.stderr


@pytest.mark.parametrize("name", ["deep.json", "binary.toml", "huge-int.json"])
def test_cli_hostile_snapshot_exits_2_with_one_line(tmp_path: Path, name: str) -> None:
    """`layout plan|check --snapshot HOSTILE` exit 2 with one error line naming the file."""
    path = tmp_path / name
    path.write_bytes(HOSTILE_FILES[name])
    for command in ("plan", "check"):
        done = _run(str(BIN / "layout"), command, "--snapshot", str(path))
        assert done.returncode == 2, (command, done.stderr)
        assert "Traceback" not in done.stderr
        assert str(path) in done.stderr, done.stderr


def test_reload_entry_point_deep_config_exits_2(tmp_path: Path) -> None:
    """The reload service's entry point reads a deeply nested configuration as one error."""
    path = tmp_path / "deep.toml"
    path.write_bytes(HOSTILE_FILES["deep.toml"])
    done = _run(sys.executable, "-m", "layout_trees.shell.reload", "--dry-run",
                "--config", str(path))
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_generator_deep_config_logs_one_line_and_exits_0(tmp_path: Path) -> None:
    """The generator never fails the boot: a hostile configuration is one logged line."""
    path = tmp_path / "deep.yaml"
    path.write_bytes(HOSTILE_FILES["deep.yaml"])
    out = tmp_path / "out"
    out.mkdir()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "SYSTEMD_PROC_CMDLINE": "",
           "LAYOUT_TREES_CONFIG": str(path)}
    done = subprocess.run([str(BIN / "layout-trees-generator"), str(out), str(out), str(out)],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0
    assert "Traceback" not in done.stderr and str(path) in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not any(out.iterdir())
