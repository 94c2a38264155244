"""Man pages and completions: generated from the typer app and the configuration schema,
committed up to date, complete (every command, option and key), and working in each shell."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from layout_trees.core.backup.policy import POLICY_KEYS
from layout_trees.core.config import PROTOTYPE_KEYS, TREE_KEYS
from layout_trees.shell.cli import manpages
from layout_trees.shell.cli.manpages import command_tree, roff

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = command_tree()


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{tool} is needed (scripts/setup installs it)")
        pytest.skip(f"{tool} is not installed (scripts/setup installs it)")
    return path


def test_committed_files_are_current() -> None:
    """The man pages and completions in the repository are what the generator writes now."""
    stale = [rel for rel, text in manpages.render_all().items()
             if not (ROOT / rel).is_file() or (ROOT / rel).read_text(encoding="utf-8") != text]
    assert stale == [], f"run scripts/manpages to regenerate {stale}"


def test_every_command_and_option_is_in_layout_1() -> None:
    """layout(1) has a section for every command and names every one of its options."""
    page = (ROOT / "man/layout.1").read_text(encoding="utf-8")
    assert len(COMMANDS) > 10
    for cmd in COMMANDS[1:]:
        section = page.split(f'.SS "{roff(cmd.name)} [OPTIONS]', 1)
        assert len(section) == 2, f"{cmd.name} has no section"
        body = section[1].split(".SS ", 1)[0]
        for param in cmd.params:
            for opt in (*param.opts, *param.secondary):
                assert roff(opt) in body, f"{cmd.name} {opt} is not documented"
    for opt in ("--version", "--debug"):
        assert roff(opt) in page.split(".SH COMMANDS")[0]


def test_every_configuration_key_is_in_layout_trees_toml_5() -> None:
    """layout-trees.toml(5) documents every tree key, backup key and prototype key."""
    page = (ROOT / "man/layout-trees.toml.5").read_text(encoding="utf-8")
    for key in (*TREE_KEYS, *POLICY_KEYS, *PROTOTYPE_KEYS):
        assert f"\\fB{roff(key)}\\fR" in page, key


def test_a_missing_command_fails_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """The completeness check notices a page that lacks a command (the check can fail)."""
    first = f'.SS "{roff(COMMANDS[1].name)} [OPTIONS]'
    assert first in manpages.page_layout(COMMANDS, "0")
    assert first not in manpages.page_layout((COMMANDS[0], *COMMANDS[2:]), "0")


@pytest.mark.parametrize("page", manpages.PAGES)
def test_man_renders_each_page_without_warnings(page: str) -> None:
    """man(1) renders each page with all warnings on and prints none."""
    man = _need("man")
    done = subprocess.run([man, "--warnings=all", "-l", str(ROOT / "man" / page)],
                          capture_output=True, text=True, env={**os.environ, "MANWIDTH": "80",
                                                               "MANPAGER": "cat", "PAGER": "cat"})
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert len(done.stdout.splitlines()) > 20


def _bash(*words: str) -> list[str]:
    script = ('source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _layout; '
              'printf "%s\\n" "${COMPREPLY[@]}"')
    done = subprocess.run([_need("bash"), "-c", script, "bash",
                           str(ROOT / "completions/layout.bash"), *words],
                          capture_output=True, text=True, check=True)
    return done.stdout.split()


def _zsh(*words: str) -> list[str]:
    # compadd/_describe/_files stand in for the completion system: they print what is offered.
    script = ('compadd() { shift; local w; '
              'for w; do [[ $w == $PREFIX* ]] && print -r -- $w; done; }; '
              '_describe() { print -rl -- ${(P)2%%:*} }; '
              '_files() { print FILES }; _message() { }; '
              'words=("${@:2}"); CURRENT=${#words}; PREFIX=${words[CURRENT]}; source "$1"; true')
    done = subprocess.run([_need("zsh"), "-f", "-c", script, "zsh",
                           str(ROOT / "completions/_layout"), *words],
                          capture_output=True, text=True, check=True)
    return done.stdout.split()


def _fish(*words: str) -> list[str]:
    line = " ".join(words)
    done = subprocess.run([_need("fish"), "--no-config", "-c",
                           f'source {ROOT / "completions/layout.fish"}; complete -C"{line}"'],
                          capture_output=True, text=True, check=True)
    return [entry.split("\t")[0] for entry in done.stdout.splitlines()]


@pytest.mark.parametrize("complete", [_bash, _zsh, _fish], ids=["bash", "zsh", "fish"])
def test_completion_offers_commands_options_and_choices(complete: object) -> None:
    """In each shell: every top-level command, nested subcommands, options, enum choices."""
    assert callable(complete)
    top = [c.path[0] for c in COMMANDS if len(c.path) == 1]
    offered = complete("layout", "")
    assert set(top) <= set(offered), set(top) - set(offered)
    assert "run" in complete("layout", "backup", "")
    assert "plan" not in complete("layout", "backup", "run", "")  # not the top-level command
    assert {"--config", "--schedule"} <= set(complete("layout", "backup", "run", "--"))
    assert set(complete("layout", "check", "--format", "")) == {"text", "json", "sarif",
                                                                 "github"}
    assert complete("layout", "check", "--format", "sa") in (["sarif"], ["sarif", "FILES"])
