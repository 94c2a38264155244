"""Writing a generator's fresh output directory in place: the same files as the atomic
writer, no temporary names, and never through a symlink."""

from __future__ import annotations

import os
from pathlib import Path

from layout_trees.core.units import GeneratedFile
from layout_trees.shell.files import write_generated

FILES = [GeneratedFile("a.mount", "[Mount]\nWhat=/dev/x\n"),
         GeneratedFile("local-fs.target.requires/a.mount", link="../a.mount"),
         GeneratedFile("x\u00e9.service", "Description=\u00e9\n")]


def _contents(directory: Path) -> dict[str, str]:
    out = {}
    for root, _dirs, names in os.walk(directory):
        for name in names:
            path = Path(root, name)
            rel = str(path.relative_to(directory))
            out[rel] = os.readlink(path) if path.is_symlink() else path.read_text("utf-8")
    return out


def test_in_place_writes_what_the_atomic_writer_writes(tmp_path: Path) -> None:
    """atomic=False gives byte-identical files and links, and nothing else."""
    atomic, plain = tmp_path / "atomic", tmp_path / "plain"
    atomic.mkdir()
    plain.mkdir()
    assert write_generated(str(atomic), FILES) == []
    assert write_generated(str(plain), FILES, atomic=False) == []
    assert _contents(plain) == _contents(atomic)
    assert set(_contents(plain)) == {f.path for f in FILES}


def test_in_place_never_writes_through_a_symlink(tmp_path: Path) -> None:
    """A symlink planted at a unit's name is reported as a failure, its target untouched."""
    victim = tmp_path / "victim"
    victim.write_text("keep")
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.mount").symlink_to(victim)
    failures = write_generated(str(out), FILES[:1], atomic=False)
    assert [path for path, _ in failures] == ["a.mount"]
    assert victim.read_text() == "keep"
