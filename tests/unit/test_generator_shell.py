"""The generator's shell on a fake file system: config discovery, atomic writes, never failing.

pyfakefs stands in for the disk here only; whether the units really mount is
the integration tests' business.
"""

from __future__ import annotations

import io
import os

import pytest
from layout_trees.core.units import GeneratedFile
from layout_trees.shell import configfile, files, generator
from layout_trees.shell.log import Log
from pyfakefs.fake_filesystem import FakeFilesystem

TOML = '[tree.home]\npath = "/trees/home"\ndestination = "/home"\n'


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for var in (*configfile.ENV_VARS, "SYSTEMD_LOG_LEVEL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SYSTEMD_PROC_CMDLINE", "quiet")
    return monkeypatch


def test_find_config_discovery_order(fs: FakeFilesystem, clean_env: pytest.MonkeyPatch) -> None:
    """Explicit path, then env vars, then kernel command line, then /etc, then /usr/lib."""
    assert configfile.find_config() is None
    fs.create_file("/usr/lib/layout-trees/layout-trees.toml", contents=TOML)
    assert configfile.find_config() == "/usr/lib/layout-trees/layout-trees.toml"
    fs.create_file("/etc/layout-trees.yaml", contents="[]")
    assert configfile.find_config() == "/etc/layout-trees.yaml"
    fs.create_file("/etc/layout-trees.toml", contents=TOML)
    assert configfile.find_config() == "/etc/layout-trees.toml"
    clean_env.setenv("SYSTEMD_PROC_CMDLINE", "quiet layout_trees.config=/run/cmdline.toml")
    assert configfile.find_config() == "/run/cmdline.toml"
    clean_env.setenv("LAYOUT_TREES_GENERATOR_CONFIG", "/run/proto.json")
    assert configfile.find_config() == "/run/proto.json"
    clean_env.setenv("LAYOUT_TREES_CONFIG", "/run/env.toml")
    assert configfile.find_config() == "/run/env.toml"
    assert configfile.find_config("/explicit.toml") == "/explicit.toml"


def test_load_config_formats_follow_the_file_name(fs: FakeFilesystem,
                                                  clean_env: pytest.MonkeyPatch) -> None:
    """A .toml file is native; anything else is the prototype's JSON/YAML list."""
    fs.create_file("/c.toml", contents=TOML)
    fs.create_file("/c.json", contents='[{"layout_tree": "/t/@u", "destination": "/home/u"}]')
    assert [t.name for t in configfile.load_config("/c.toml").config.trees] == ["home"]
    proto = configfile.load_config("/c.json").config.trees
    assert [(t.path, t.destination) for t in proto] == [("/t/@u", "/home/u")]


def test_write_atomic_leaves_no_temp_file_and_replaces_whole(fs: FakeFilesystem) -> None:
    """After writes and rewrites only the final files exist, each with the last content."""
    fs.create_dir("/out")
    files.write_atomic("/out/a.mount", "one\n")
    files.write_atomic("/out/a.mount", "two\n" * 1000)
    files.symlink_atomic("../a.mount", "/out/link")
    files.symlink_atomic("../b.mount", "/out/link")
    assert sorted(os.listdir("/out")) == ["a.mount", "link"]
    with open("/out/a.mount", encoding="utf-8") as handle:
        assert handle.read() == "two\n" * 1000
    assert os.readlink("/out/link") == "../b.mount"


def test_write_atomic_failure_keeps_the_old_file(fs: FakeFilesystem,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A failed rename leaves the old content and no temporary file behind."""
    fs.create_file("/out/a.mount", contents="old\n")

    def broken_rename(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "rename", broken_rename)
    with pytest.raises(OSError):
        files.write_atomic("/out/a.mount", "new\n")
    monkeypatch.undo()
    assert os.listdir("/out") == ["a.mount"]
    with open("/out/a.mount", encoding="utf-8") as handle:
        assert handle.read() == "old\n"


def test_write_atomic_failed_write_leaves_no_temp_file(fs: FakeFilesystem,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A write that fails half way (disk full) leaves the old file and no temporary file."""
    fs.create_file("/out/a.mount", contents="old\n")
    real_write = os.write
    calls = []

    def short_then_full(fd: int, data: bytes) -> int:
        calls.append(len(data))
        if len(calls) > 1:
            raise OSError(28, "No space left on device")
        return real_write(fd, bytes(data[:3]))

    monkeypatch.setattr(os, "write", short_then_full)
    with pytest.raises(OSError):
        files.write_atomic("/out/a.mount", "new content\n")
    monkeypatch.undo()
    assert os.listdir("/out") == ["a.mount"]
    with open("/out/a.mount", encoding="utf-8") as handle:
        assert handle.read() == "old\n"


def test_write_generated_reports_failures_and_writes_the_rest(fs: FakeFilesystem) -> None:
    """A file that cannot be written is reported; the others are still written."""
    fs.create_file("/out/blocked.wants", contents="a file where a directory should be")
    failures = files.write_generated("/out", [
        GeneratedFile("a.mount", "[Mount]\n"),
        GeneratedFile("blocked.wants/a.mount", link="../a.mount"),
        GeneratedFile("local-fs.target.requires/a.mount", link="../a.mount"),
    ])
    assert [path for path, _ in failures] == ["blocked.wants/a.mount"]
    assert os.readlink("/out/local-fs.target.requires/a.mount") == "../a.mount"
    assert not [n for n in os.listdir("/out") if n.startswith(".#")]


def _run(out: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = generator.main([out, out, out])
    return code, capsys.readouterr().err


def test_generator_exits_0_without_config(fs: FakeFilesystem, clean_env: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """With no configuration at all the generator writes nothing and exits 0."""
    fs.create_dir("/out")
    clean_env.setenv("SYSTEMD_LOG_LEVEL", "debug")
    code, err = _run("/out", capsys)
    assert code == 0 and os.listdir("/out") == []
    assert "no layout trees configured" in err


def test_generator_exits_0_and_logs_missing_config(fs: FakeFilesystem,
                                                   clean_env: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """A configured file that does not exist is logged with its path; exit status 0."""
    fs.create_dir("/out")
    clean_env.setenv("LAYOUT_TREES_CONFIG", "/etc/missing.toml")
    code, err = _run("/out", capsys)
    assert code == 0 and os.listdir("/out") == []
    assert "/etc/missing.toml" in err


@pytest.mark.parametrize("name, text", [
    ("bad.toml", "[tree.x\npath = 1"),
    ("bad.toml", '[tree.x]\npath = "relative"\ndestination = "/d"\n'),
    ("bad.json", "{not json: ["),
    ("bad.yaml", "- layout_tree: /t\n  bogus: 1\n"),
])
def test_generator_exits_0_and_logs_bad_config(fs: FakeFilesystem, clean_env: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str], name: str,
                                               text: str) -> None:
    """A malformed configuration is logged naming the file or tree; exit status 0."""
    fs.create_file("/etc/" + name, contents=text)
    fs.create_dir("/out")
    clean_env.setenv("LAYOUT_TREES_CONFIG", "/etc/" + name)
    code, err = _run("/out", capsys)
    assert code == 0 and os.listdir("/out") == []
    assert "warning" in err and ("/etc/" + name in err or "tree" in err or "entry" in err)


def test_generator_exits_0_and_logs_unwritable_output(fs: FakeFilesystem,
                                                      clean_env: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Units that cannot be written are logged with their path; exit status 0."""
    fs.create_file("/etc/layout-trees.toml", contents=TOML)
    fs.create_file("/out", contents="not a directory")
    clean_env.setenv("LAYOUT_TREES_CONFIG", "/etc/layout-trees.toml")

    from layout_trees.core.model import Entry, EntryKind, Snapshot, Subvolume, TreeScan

    snapshot = Snapshot((TreeScan("home", "/trees/home", device="/dev/vdb", entries=(
        Entry(("@alice",), EntryKind.SUBVOLUME, subvolume=Subvolume("/home/@alice")),)),))
    monkeypatch.setattr(generator, "scan", lambda config, **kw: snapshot)
    code, err = _run("/out", capsys)
    assert code == 0
    assert "/out/home-alice.mount: cannot write" in err


def test_generator_exits_0_on_an_unexpected_error(fs: FakeFilesystem,
                                                  clean_env: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Even a bug is logged, never a failed boot: exit status 0."""
    fs.create_file("/etc/layout-trees.toml", contents=TOML)
    fs.create_dir("/out")
    clean_env.setenv("LAYOUT_TREES_CONFIG", "/etc/layout-trees.toml")

    def boom(config: object, **kw: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(generator, "scan", boom)
    code, err = _run("/out", capsys)
    assert code == 0 and "RuntimeError: boom" in err


def test_generator_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """Wrong arguments are the one case with a non-zero exit status."""
    assert generator.main(["a", "b"]) == 2
    assert "usage" in capsys.readouterr().err


def test_log_threshold_from_systemd_log_level(monkeypatch: pytest.MonkeyPatch) -> None:
    """SYSTEMD_LOG_LEVEL by name or number sets what is written; everything is counted."""
    monkeypatch.setenv("SYSTEMD_LOG_LEVEL", "warning")
    stream = io.StringIO()
    log = Log("t", stream=stream)
    log.info("hidden")
    log.warning("shown")
    assert stream.getvalue() == "t: warning: shown\n"
    assert log.counts[6] == 1 and log.counts[4] == 1
    monkeypatch.setenv("SYSTEMD_LOG_LEVEL", "7")
    assert Log("t").threshold == 7


def test_log_line_never_split_by_a_name() -> None:
    """A newline or an invalid byte in a logged name stays one escaped line."""
    stream = io.StringIO()
    log = Log("t", stream=stream)
    log.warning("/trees/t/@a\nlayout-trees-generator: all good\udcff")
    assert stream.getvalue().count("\n") == 1
    assert "\\x0alayout-trees-generator: all good\\xff" in stream.getvalue()
