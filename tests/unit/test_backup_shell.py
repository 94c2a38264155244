"""Unit tests of the backup shell: how targets are reached, and the CLI's wiring."""

from __future__ import annotations

import shlex

from layout_trees.shell.backup_target import Target
from layout_trees.shell.cli import app
from typer.testing import CliRunner


def test_local_target_runs_commands_as_given() -> None:
    """A local target runs argv unchanged and sends from its own directory."""
    target = Target("/mnt/backup/")
    assert not target.remote and target.path == "/mnt/backup"
    assert target.argv(["btrfs", "receive", "/x"]) == ["btrfs", "receive", "/x"]
    assert target.send_argv("main.@a.20261125T000000+0000", "main.@a.20261124T000000+0000") == [
        "btrfs", "send", "-q", "-p", "/mnt/backup/main.@a.20261124T000000+0000",
        "/mnt/backup/main.@a.20261125T000000+0000"]


def test_ssh_target_quotes_the_remote_command() -> None:
    """An ssh:// target runs one ssh as root on its port; the remote shell sees exactly argv."""
    target = Target("ssh://nas.example:2222/srv/backup")
    argv = target.argv(["sh", "-c", "cd -- \"$1\" && ls", "sh", "/srv/it's here"])
    assert argv[:7] == ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=20", "-p", "2222"]
    assert argv[7] == "root@nas.example"
    assert shlex.split(argv[8]) == ["sh", "-c", "cd -- \"$1\" && ls", "sh", "/srv/it's here"]
    assert Target("ssh://nas/b").argv(["true"])[-2:] == ["root@nas", "true"]


def test_ipv6_target_is_given_to_ssh_bare() -> None:
    """ssh://[::1]:22722/path: ssh gets root@::1 and -p 22722 (root@[::1] does not resolve)."""
    target = Target("ssh://[::1]:22722/srv/backup")
    argv = target.argv(["true"])
    assert argv[-2:] == ["root@::1", "true"] and argv[argv.index("-p") + 1] == "22722"
    assert target.path == "/srv/backup" and target.remote


def test_cli_registers_backup_restore_and_drop() -> None:
    """'layout' has the backup group with its commands, and restore and drop."""
    runner = CliRunner()
    top = runner.invoke(app, ["--help"])
    assert top.exit_code == 0
    for command in ("backup", "restore", "drop"):
        assert command in top.output
    group = runner.invoke(app, ["backup", "--help"])
    for command in ("plan", "run", "status", "verify", "exclude", "include"):
        assert command in group.output
