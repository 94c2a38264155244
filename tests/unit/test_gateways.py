"""One gateway per effect: which shell modules may name which tool in an argv."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"

GATEWAYS = {
    "btrfs": {"shell/btrfs.py"},
    "mkfs.btrfs": {"shell/btrfs.py"},
    "systemctl": {"shell/mounts.py", "shell/watch.py"},
    "mount": {"shell/mounts.py"},
    "umount": {"shell/mounts.py"},
}
"""Tool -> the modules that may run it (the watch's default reload command is an argv
it runs with its own time-out, replaceable by the tests)."""

PENDING: dict[str, set[str]] = {}
"""Call sites not yet moved to their gateway (none)."""


def _argv_tools(tree: ast.AST) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.List, ast.Tuple)) and node.elts:
            first = node.elts[0]
            if isinstance(first, ast.Constant) and first.value in GATEWAYS:
                found.add(str(first.value))
    return found


def _uses_subprocess(tree: ast.AST) -> bool:
    return any(isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
               and node.value.id == "subprocess" and node.attr in {"run", "Popen", "call",
                                                                    "check_call", "check_output"}
               for node in ast.walk(tree))


def _modules() -> dict[str, ast.AST]:
    return {p.relative_to(SRC).as_posix(): ast.parse(p.read_text(encoding="utf-8"))
            for p in sorted(SRC.rglob("*.py"))}


def test_each_tool_is_run_by_its_gateway_only() -> None:
    """btrfs and mkfs.btrfs only in btrfs.py, systemctl only in mounts.py (and the watch's
    reload command), mount/umount only in mounts.py and the tools that mount what they made."""
    stray = sorted((module, tool) for module, tree in _modules().items()
                   for tool in _argv_tools(tree)
                   if module not in GATEWAYS[tool] | PENDING.get(tool, set()))
    assert stray == []


def test_only_run_py_starts_processes() -> None:
    """No module but shell/run.py calls subprocess itself."""
    assert [m for m, tree in _modules().items() if _uses_subprocess(tree)] == ["shell/run.py"]


INNER_HOMES = {
    "btrfsutil": {"shell/btrfs.py"},
    "require_btrfsutil": {"shell/btrfs.py"},
    "cli_argv": {"shell/btrfs.py", "shell/backup_target.py"},
    "parse_mountinfo": {"core/mountinfo.py", "shell/mounttable.py"},
    "flock": {"shell/lock.py"},
    "lockf": {"shell/lock.py"},
}
"""A gateway's insides -> the modules that may touch them: the btrfs library and the
btrfs command line stay in btrfs.py (a target builds the argv of the ``btrfs send`` it
runs on its own machine), the mountinfo parser is called by the one reader, file locks
are taken by lock.py."""


def _inner_uses(tree: ast.AST) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in INNER_HOMES:
            found.add(node.attr)
        elif isinstance(node, ast.Name) and node.id in INNER_HOMES:
            found.add(node.id)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name in INNER_HOMES}
        elif isinstance(node, ast.ImportFrom):
            found |= {a.name for a in node.names if a.name in INNER_HOMES}
            if node.module in INNER_HOMES:
                found.add(node.module)
    return found


def test_gateway_insides_stay_in_their_gateway() -> None:
    """No module outside its gateway calls btrfsutil, builds a btrfs argv, parses
    mountinfo or takes a file lock itself."""
    stray = sorted((module, name) for module, tree in _modules().items()
                   for name in _inner_uses(tree) if module not in INNER_HOMES[name])
    assert stray == []


def test_detector_sees_gateway_insides() -> None:
    """The checker finds a call through the gateway module, an import and a bare name."""
    code = ("import btrfsutil\nbtrfs.require_btrfsutil().x()\n"
            "from ..core.mountinfo import parse_mountinfo\nfcntl.flock(fd, 2)\n")
    assert _inner_uses(ast.parse(code)) == {"btrfsutil", "require_btrfsutil", "parse_mountinfo",
                                            "flock"}
    assert _inner_uses(ast.parse("btrfs.cli('x')")) == set()


def test_detector_sees_an_argv() -> None:
    """The checker finds a tool named as the first word of a list or tuple."""
    assert _argv_tools(ast.parse('run(["btrfs", "send"]); x = ("umount", "-l")')) == {
        "btrfs", "umount"}
    assert _uses_subprocess(ast.parse("subprocess.run(['x'])"))
