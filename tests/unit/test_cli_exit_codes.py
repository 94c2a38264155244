"""``layout`` turns every expected error into the exit code ``exits.exit_code`` gives."""

from __future__ import annotations

import pytest
from layout_trees.core.errors import (
    ConfigError,
    EnvironmentProblem,
    LayoutError,
    SnapshotError,
    UnsafeNameError,
    UserError,
)
from layout_trees.shell import cli
from layout_trees.shell.cli import report as cli_report
from layout_trees.shell.exits import EXIT_ENVIRONMENT, EXIT_USAGE, exit_code


class _Failing:
    """A command tree whose every invocation raises ``error``."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def main(self, **_: object) -> None:
        raise self.error


class _NewProblem(EnvironmentProblem):
    """A subclass the CLI has never heard of."""


@pytest.mark.parametrize("error", [ConfigError, SnapshotError, UnsafeNameError, UserError,
                                   EnvironmentProblem, LayoutError, _NewProblem])
def test_main_exit_code_is_exits_exit_code(error: type[LayoutError],
                                           monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """Every LayoutError ends ``layout`` with exit_code(error) and one error line plus hint."""
    monkeypatch.setattr(cli, "command", lambda: _Failing(error("something is wrong", "do this")))
    monkeypatch.setattr(cli_report.STATE, "debug", False)
    with pytest.raises(SystemExit) as done:
        cli.main()
    expected = exit_code(error("x"))
    assert done.value.code == expected
    assert expected == (EXIT_USAGE if issubclass(error, UserError) else EXIT_ENVIRONMENT)
    assert capsys.readouterr().err == ("layout: error: something is wrong\n"
                                       "layout: hint: do this\n")


def test_permission_error_is_an_environment_problem(monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """A PermissionError from the shell is exit 3 with a hint to run as root."""
    monkeypatch.setattr(cli, "command",
                        lambda: _Failing(PermissionError(13, "Permission denied", "/trees")))
    monkeypatch.setattr(cli_report.STATE, "debug", False)
    with pytest.raises(SystemExit) as done:
        cli.main()
    assert done.value.code == EXIT_ENVIRONMENT
    assert "/trees: permission denied" in capsys.readouterr().err
