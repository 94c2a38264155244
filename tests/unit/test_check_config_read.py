"""``layout check`` reads its configuration through ``configfile.load_config`` (one reader)."""

from __future__ import annotations

from pathlib import Path

import pytest
from layout_trees.core.errors import ConfigError
from layout_trees.shell.cli.check import read_config
from layout_trees.shell.configfile import MAX_DOCUMENT_BYTES
from pyfakefs.fake_filesystem import FakeFilesystem


def test_oversized_configuration_is_refused_as_everywhere(fs: FakeFilesystem) -> None:
    """A configuration larger than the document limit is a one-line error, as for every
    other command (check used to read it whole)."""
    fs.create_file("/c.toml", contents="#" * (MAX_DOCUMENT_BYTES + 1))
    with pytest.raises(ConfigError, match="larger than"):
        read_config("/c.toml")


def test_non_utf8_configuration_names_the_byte(fs: FakeFilesystem) -> None:
    """A configuration that is not UTF-8 gives the shared reader's message."""
    fs.create_file("/c.toml", contents=b"\xff[tree.a]\n")
    with pytest.raises(ConfigError, match=r"not UTF-8 text \(byte 0\)"):
        read_config("/c.toml")


def test_syntax_error_is_a_problem_not_a_failure(fs: FakeFilesystem) -> None:
    """A file that is read but not parsed is a problem (LT001) with an empty configuration."""
    fs.create_file("/c.toml", contents="[tree.a\n")
    parsed = read_config("/c.toml")
    assert parsed.config.trees == ()
    assert len(parsed.problems) == 1 and "not valid TOML" in parsed.problems[0].message


def test_missing_configuration_is_an_error(fs: FakeFilesystem) -> None:
    """An explicit path that does not exist cannot be checked (exit 2)."""
    with pytest.raises(ConfigError, match="no such configuration file"):
        read_config("/nowhere.toml")


def test_check_and_plan_read_config_and_snapshot_alike(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """With --snapshot and a broken --config, check reports LT001 (exit 1) where plan
    stops with one line (exit 2): one reader, the difference only in what a syntax error is."""
    from layout_trees.core.config import Config
    from layout_trees.core.model import Snapshot
    from layout_trees.core.snapshot_json import dump_snapshot
    from test_check_output import run_layout

    snap = tmp_path / "s.json"
    snap.write_text(dump_snapshot(Snapshot(), Config()))
    broken = tmp_path / "c.toml"
    broken.write_text("[tree.a\n")
    code, out, _ = run_layout(["check", "-s", str(snap), "-c", str(broken), "-f", "json"], capsys)
    assert code == 1 and "LT001" in out
    code, _, err = run_layout(["plan", "-s", str(snap), "-c", str(broken)], capsys)
    assert code == 2 and err.count("\n") <= 2 and "not valid TOML" in err
    bare = tmp_path / "bare.json"
    bare.write_text(dump_snapshot(Snapshot()))
    code, _, err = run_layout(["check", "-s", str(bare)], capsys)
    assert code == 2 and "the snapshot has no configuration" in err
