"""``layout persist`` interrupted at every step, on real btrfs: SIGINT, SIGTERM, SIGHUP and
SIGKILL after each step and while ``cp``/``mount`` run, and a ``mount`` that fails.

After each fault the invariant holds: the original directory is byte-identical and
reachable at its path, nothing a scan would take for a leaf is half-made (an ``@``
subvolume exists only complete), nothing stray is mounted, and a rerun completes (a
leftover staging subvolume of a killed run is removed by it).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from layout_trees.shell.persist import PAUSE_ENV
from loopdev_fixtures import Lab, kill_tree, lab_on_loop, mount_at, mounts_below
from test_persist_btrfs import make_source, manifest

pytestmark = pytest.mark.integration

SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGKILL]
STEPS = ["make-directory", "create-subvolume", "copy", "rename", "mount"]


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    with lab_on_loop(tmp_path, "lt-faults") as made:
        yield made


def _persist(lab: Lab, path: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "layout_trees.shell.persist", "--config", str(lab.config),
         str(path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **(env or {})})


def _wait_for_line(proc: subprocess.Popen[str], text: str) -> None:
    assert proc.stdout is not None
    while True:
        line = proc.stdout.readline()
        assert line, f"persist ended before {text!r}: {proc.communicate()}"
        if text in line:
            return


def _wait_for_file(proc: subprocess.Popen[str], path: Path) -> None:
    deadline = time.monotonic() + 60
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)


def _stop(proc: subprocess.Popen[str], sig: int) -> str:
    """Send ``sig`` (SIGKILL: to the whole process tree); the standard error that follows."""
    if sig == signal.SIGKILL:
        kill_tree(proc.pid)
    else:
        os.kill(proc.pid, sig)
    return proc.communicate(timeout=60)[1]


def _leaves(lab: Lab) -> list[str]:
    return [s for s in lab.subvolumes() if s.rsplit("/", 1)[-1].startswith("@")]


def _check_and_rerun(lab: Lab, ws: Path, before: dict) -> None:
    """The invariant after a fault, then a rerun that completes."""
    assert manifest(ws) == before
    leaves = _leaves(lab)
    assert leaves in ([], ["trees/home/alice/@ws"])
    if leaves:  # renamed into place: complete, only not mounted yet
        assert manifest(lab.tree / "alice" / "@ws") == before
    stray = [m for m in mounts_below(str(lab.dest)) if m != str(ws)]
    assert stray == []
    if mount_at(str(ws)) is None:
        done = lab.layout("reload") if leaves else lab.layout("persist", str(ws))
        assert done.returncode == 0, done
    entry = mount_at(str(ws))
    assert entry is not None and entry.root == "/trees/home/alice/@ws"
    assert manifest(ws) == before
    assert lab.subvolumes() == ["trees/home/alice/@ws"]  # no staging leftover either


@pytest.mark.parametrize("step", STEPS)
@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_stopped_after_each_step(lab: Lab, step: str, sig: int) -> None:
    """A stop signal (or SIGKILL) right after any step: undone (or, killed, left inert), the
    original intact, and a rerun completes."""
    ws = make_source(lab)
    before = manifest(ws)
    proc = _persist(lab, ws, {PAUSE_ENV: step})
    _wait_for_line(proc, f"paused after {step}")
    err = _stop(proc, sig)
    if sig != signal.SIGKILL:
        assert proc.returncode == 128 + sig, err
        assert "Traceback" not in err and "interrupted by" in err, err
        assert _leaves(lab) == [] and mount_at(str(ws)) is None
        assert not (lab.tree / "alice").exists()  # the structure directory was undone
    _check_and_rerun(lab, ws, before)


def _wrapper(tmp_path: Path, name: str, body: str) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / name
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(0o755)
    return {"PATH": f"{bin_dir}:{os.environ['PATH']}"}


@pytest.mark.parametrize("tool", ["cp", "mount"])
@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_stopped_while_a_tool_runs(lab: Lab, tmp_path: Path, tool: str, sig: int) -> None:
    """A stop signal while cp or mount runs (after it did its work): the tool's process group
    is killed, a mount that happened is unmounted (the undo was registered before mount ran),
    the original is intact, and a rerun completes."""
    ws = make_source(lab)
    before = manifest(ws)
    marker = tmp_path / "running"
    real = subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True,
                          text=True, check=True).stdout.strip()
    env = _wrapper(tmp_path, tool, f'{real} "$@" || exit $?\ntouch {marker}\nsleep 60\n')
    proc = _persist(lab, ws, env)
    _wait_for_file(proc, marker)
    if tool == "mount":
        assert mount_at(str(ws)) is not None  # the mount really happened under our feet
    _stop(proc, sig)
    if sig != signal.SIGKILL:
        assert proc.returncode != 0
        assert mount_at(str(ws)) is None and _leaves(lab) == []
    _check_and_rerun(lab, ws, before)


def test_failing_mount_keeps_its_message_and_undoes(lab: Lab, tmp_path: Path) -> None:
    """A mount that fails: the error is one line holding mount's own complaint, everything is
    undone, and a rerun completes."""
    ws = make_source(lab)
    before = manifest(ws)
    env = _wrapper(tmp_path, "mount",
                   'echo "mount: $0: /x already mounted on /y." >&2\n'
                   'echo "       dmesg(1) may have more information after failed mount '
                   'system call." >&2\nexit 32\n')
    proc = _persist(lab, ws, env)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, (out, err)
    message = [line for line in err.splitlines() if line.startswith("layout: error:")]
    assert len(message) == 1 and "already mounted on /y" in message[0], err
    assert "exit status 32" in message[0]
    _check_and_rerun(lab, ws, before)


def test_leftover_that_is_not_ours_is_refused(lab: Lab) -> None:
    """A directory a user put at the reserved staging name is never removed: persist refuses
    with a hint and changes nothing."""
    ws = make_source(lab)
    (lab.tree / "alice").mkdir()
    (lab.tree / "alice" / ".layout-trees-persist").mkdir()
    (lab.tree / "alice" / ".layout-trees-persist" / "mine").write_text("x")
    done = lab.layout("persist", str(ws))
    assert done.returncode == 3 and "reserved for persist" in done.stderr, done
    assert (lab.tree / "alice" / ".layout-trees-persist" / "mine").read_text() == "x"
    assert mount_at(str(ws)) is None


def test_repeated_ctrl_c_does_not_cut_the_undo_short(lab: Lab,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C during the mount, then Ctrl-C again three times while the undo runs: every undo
    step still runs (signals are blocked meanwhile), then persist ends as interrupted."""
    from layout_trees.shell import persist as persist_mod

    ws = make_source(lab)
    before = manifest(ws)
    real_mount, real_unmount = persist_mod.mount_btrfs, persist_mod.unmount_exact

    def mount_then_ctrl_c(*args, **kwargs):
        real_mount(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)  # the handler raises here

    def impatient_unmount(entry):
        for _ in range(3):
            os.kill(os.getpid(), signal.SIGINT)
        real_unmount(entry)

    monkeypatch.setattr(persist_mod, "mount_btrfs", mount_then_ctrl_c)
    monkeypatch.setattr(persist_mod, "unmount_exact", impatient_unmount)
    lines: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        persist_mod.persist(str(ws), str(lab.config), say=lines.append)
    assert [line for line in lines if line.startswith("undone:")] == [
        f"undone: unmount {ws}",
        f"undone: delete subvolume {lab.tree / 'alice' / '.layout-trees-persist'}",
        f"undone: remove directory {lab.tree / 'alice'}"]
    assert mount_at(str(ws)) is None and lab.subvolumes() == []
    assert not (lab.tree / "alice").exists()
    assert manifest(ws) == before
