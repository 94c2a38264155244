"""``make install`` with the system Python into a DESTDIR, as a distribution package is built.

Every file lands where systemd, man, python and the shells look (each tool is
asked, not assumed); the installed generator, run in a private mount namespace
where the DESTDIR is laid over ``/usr`` (overlayfs) and ``/`` is read-only,
with ``env -i`` (no PATH, HOME or locale) and the system Python alone, writes
the mount units of a loopback btrfs tree; ``make uninstall`` then leaves the
DESTDIR empty, also after installing twice.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SYSTEM_PYTHON = "/usr/bin/python3"
PREFIX = "/usr"
pytestmark = pytest.mark.integration


def _need(ok: bool, what: str) -> None:
    if not ok:
        if os.environ.get("CI"):
            pytest.fail(f"{what} (scripts/setup installs it; in CI this test must run)")
        pytest.skip(what)


@pytest.fixture(scope="module")
def system_python() -> str:
    _need(os.path.exists(SYSTEM_PYTHON), f"{SYSTEM_PYTHON} is missing")
    done = subprocess.run([SYSTEM_PYTHON, "-c", "import setuptools, pip, wheel"],
                          capture_output=True, check=False)
    _need(done.returncode == 0, "the system Python lacks pip, setuptools or wheel")
    for tool in ("make", "pkg-config", "man", "zsh", "fish", "unshare"):
        _need(shutil.which(tool) is not None, f"{tool} is not installed")
    _need(os.geteuid() == 0, "installing into a mount namespace needs root")
    return SYSTEM_PYTHON


def make(target: str, destdir: Path, build: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["make", "-C", str(ROOT), target, f"PREFIX={PREFIX}",
                           f"DESTDIR={destdir}", f"BUILDDIR={build}",
                           f"PYTHON={SYSTEM_PYTHON}"],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def manifest(destdir: Path) -> list[str]:
    text = (destdir / PREFIX.lstrip("/") / "share/layout-trees/install-manifest").read_text()
    return [line for line in text.splitlines() if line and not line.endswith("/")]


def in_namespace(destdir: Path, etc: Path, out: Path,
                 script: str) -> subprocess.CompletedProcess[str]:
    """Run ``script`` (sh) where DESTDIR/usr lies over /usr, ``etc`` over /etc, and / is
    read-only but for ``out`` (as systemd runs generators: only their output is writable)."""
    setup = (f"mount -t overlay overlay -o lowerdir={shlex.quote(str(destdir / 'usr'))}:/usr /usr"
             f" && mount -t overlay overlay -o lowerdir={shlex.quote(str(etc))}:/etc /etc"
             f" && mount --bind {shlex.quote(str(out))} {shlex.quote(str(out))}"
             " && mount -o remount,bind,ro / && ")
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                           setup + script], capture_output=True, text=True, timeout=120,
                          check=False)


def _lines(*cmd: str) -> list[str]:
    return subprocess.run(list(cmd), capture_output=True, text=True,
                          check=True).stdout.split()


def test_install_lands_everywhere_runs_and_uninstalls(tmp_path: Path, system_python: str,
                                                      loop_btrfs: Any) -> None:
    """Install, find each file where its consumer looks, run the generator bare, uninstall."""
    destdir, build = tmp_path / "destdir", tmp_path / "build"  # make creates DESTDIR
    make("install", destdir, build)
    make("install", destdir, build)  # again, over itself: still one manifest's worth
    files = manifest(destdir)
    assert all((destdir / f.lstrip("/")).is_file() for f in files)

    def installed(name: str) -> str:
        found = [f for f in files if f.endswith("/" + name)]
        assert len(found) == 1, (name, found)
        return found[0]

    # systemd looks for generators here (merged /usr: compare real directories).
    generator = installed("layout-trees-generator")
    search = _lines("systemd-path", "systemd-search-system-generator")[0].split(":")
    assert os.path.realpath(os.path.dirname(generator)) in {os.path.realpath(d) for d in search}
    assert os.access(destdir / generator.lstrip("/"), os.X_OK)
    # man finds the pages in its path; the shells find the completions in theirs.
    manpath = _lines("manpath")[0].split(":")
    for page, section in (("layout.1", "1"), ("layout-trees-generator.8", "8"),
                          ("layout-trees.toml.5", "5")):
        path = installed(page)
        assert os.path.dirname(os.path.dirname(path)) in manpath
        assert os.path.basename(os.path.dirname(path)) == f"man{section}"
    bash_dir = _lines("pkg-config", "--variable=completionsdir", "bash-completion")[0]
    assert f"{bash_dir}/layout" in files and f"{PREFIX}/bin/layout" in files
    assert os.path.dirname(installed("_layout")) in _lines("zsh", "-fc", "print -l $fpath")
    fish_path = _lines("fish", "-c", "printf '%s\\n' $fish_complete_path")
    assert os.path.dirname(installed("layout.fish")) in fish_path
    # The package is where the system Python imports from, byte-compiled.
    site = _lines(system_python, "-I", "-c", "import sys; print(*sys.path)")
    init = installed("layout_trees/__init__.py")
    assert init.rsplit("/layout_trees/", 1)[0] in site
    sources = [f for f in files if f.endswith(".py")]
    compiled = {f.split("/__pycache__/")[0] + "/" + os.path.basename(f).split(".")[0] + ".py"
                for f in files if f.endswith(".pyc")}
    assert sources and set(sources) <= compiled

    # A tree on loop btrfs, configured in /etc, and the generator as systemd would run it.
    top = Path(loop_btrfs.mountpoint)
    tree, dest = top / "trees/srv", tmp_path / "dest"
    (tree / "x").mkdir(parents=True)
    for leaf in ("@a", "x/@b"):
        subprocess.run(["btrfs", "subvolume", "create", str(tree / leaf)], check=True,
                       capture_output=True)
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "layout-trees.toml").write_text(
        f'[tree.srv]\npath = "{tree}"\ndestination = "{dest}"\nwatch = true\n'
        f'[tree.srv.backup]\ntargets = ["{top}/backup"]\n')
    out = tmp_path / "out"
    out.mkdir()
    run = in_namespace(destdir, etc, out, (
        "touch /probe 2>/dev/null && echo root=rw || echo root=ro; "
        f"env -i {generator} {out} {out} {out}; echo generator=$?; "
        "env -i /usr/bin/layout --version; echo layout=$?; "
        "man -w layout; man -w 5 layout-trees.toml; man -w 8 layout-trees-generator; "
        "bash -c '. /usr/share/bash-completion/bash_completion; _completion_loader layout; "
        "complete -p layout'; "
        "fish -c 'complete -C\"layout ba\"'; "
        "env -i /usr/bin/python3 -c 'import importlib.util as u; "
        "print(\"spec\", u.find_spec(\"layout_trees.shell.cli\").origin, "
        "u.find_spec(\"layout_trees.shell.reload\").origin)'"))
    assert "root=ro" in run.stdout and "generator=0" in run.stdout, run.stdout + run.stderr
    assert "Traceback" not in run.stderr, run.stderr
    assert "Read-only" not in run.stderr and "err:" not in run.stderr, run.stderr
    for where, leaf in ((dest / "a", "@a"), (dest / "x/b", "x/@b")):
        name = _lines("systemd-escape", "--path", "--suffix=mount", str(where))[0]
        unit = (out / name).read_text()
        assert f"Where={where}\n" in unit
        assert re.search(rf"^Options=subvol=/trees/srv/{re.escape(leaf)},subvolid=[0-9]+$",
                         unit, re.M), unit
        assert f"What={loop_btrfs.device}\n" in unit
    assert (out / "layout-trees-directories.service").is_file()
    # The backup and watch units run the system interpreter, which finds the installed package.
    site_dir = init.rsplit("/layout_trees/", 1)[0]
    shell = f"{site_dir}/layout_trees/shell"
    assert f"spec {shell}/cli/__init__.py {shell}/reload.py\n" in run.stdout, run.stdout
    backup = (out / "layout-trees-backup-daily.service").read_text()
    assert f"ExecStart={system_python} -m layout_trees.shell.cli backup run" in backup
    reload = (out / "layout-trees-reload.service").read_text()
    assert f"ExecStart={system_python} -m layout_trees.shell.reload" in reload
    # `layout` needs typer: either it runs, or it says so in one line with exit 3.
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert (f"layout {version}\n" in run.stdout and "layout=0" in run.stdout) or (
        "layout=3" in run.stdout and "module typer is not installed" in run.stderr), run
    for page in ("/usr/share/man/man1/layout.1", "/usr/share/man/man5/layout-trees.toml.5",
                 "/usr/share/man/man8/layout-trees-generator.8"):
        assert page in run.stdout.split()
    assert "complete -F _layout layout" in run.stdout
    assert "backup\t" in run.stdout

    # The generator starts without the site directories (-I -S), yet reads the prototype's
    # YAML list with the distribution's PyYAML, found there when it needs it.
    launcher = (destdir / generator.lstrip("/")).read_text()
    assert launcher.startswith(f"#!{system_python} -IS\n"), launcher  # one shebang argument
    yaml_etc, yaml_out = tmp_path / "etc-yaml", tmp_path / "out-yaml"
    yaml_etc.mkdir()
    yaml_out.mkdir()
    (yaml_etc / "layout-trees.yaml").write_text(
        f"- layout_tree: {tree}\n  destination: {dest}\n  device_path: {loop_btrfs.device}\n")
    run = in_namespace(destdir, yaml_etc, yaml_out,
                       f"env -i {generator} {yaml_out} {yaml_out} {yaml_out}; echo generator=$?")
    assert "generator=0" in run.stdout and "Traceback" not in run.stderr, run
    assert "PyYAML" not in run.stderr and "err:" not in run.stderr, run.stderr
    name = _lines("systemd-escape", "--path", "--suffix=mount", str(dest / "a"))[0]
    assert f"Where={dest / 'a'}\n" in (yaml_out / name).read_text()

    make("uninstall", destdir, build)
    assert list(destdir.rglob("*")) == []


def test_uninstall_after_a_failed_install_removes_what_it_put(tmp_path: Path,
                                                              system_python: str) -> None:
    """An install that fails half-way (here: a completion directory that cannot be made)
    leaves a journal, and uninstall removes every file and directory it had put."""
    destdir, build = tmp_path / "destdir", tmp_path / "build"
    destdir.mkdir()
    (destdir / "blocker").write_text("a file where a directory should be\n")
    failed = subprocess.run(["make", "-C", str(ROOT), "install", f"PREFIX={PREFIX}",
                             f"DESTDIR={destdir}", f"BUILDDIR={build}", f"PYTHON={system_python}",
                             "ZSHCOMPDIR=/blocker/zsh"],
                            capture_output=True, text=True, timeout=300, check=False)
    assert failed.returncode != 0
    assert (destdir / "usr/bin/layout").is_file()  # it got that far
    assert not (destdir / PREFIX.lstrip("/") / "share/layout-trees/install-manifest").exists()
    make("uninstall", destdir, build)
    assert [p.name for p in destdir.iterdir()] == ["blocker"]
