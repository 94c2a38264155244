"""The backup policy record and its target parser pinned exactly: every refusal of
``BackupPolicy`` built directly (not through the TOML reader) with its whole message and
hint, the rules for ``snapshot_dir`` one clause at a time, and every refusal and result of
``parse_target`` (local and ssh://) with the port and path boundaries."""

from __future__ import annotations

from typing import Any

import pytest
from layout_trees.core.backup.policy import BackupPolicy, BackupTarget, parse_target
from layout_trees.core.errors import ConfigError

RETENTION_HINT = "e.g. '14d 4w *m' or 'no' (see btrbk.conf(5))"
MIN_HINT = "e.g. '2d', 'latest', 'all' or 'no'"
SNAPSHOT_DIR_HINT = "write e.g. '.snapshots' or 'snapshots/layout'"


def _refusal(**fields: Any) -> tuple[str, str | None]:
    targets = fields.pop("targets", ("/b",))
    with pytest.raises(ConfigError) as info:
        BackupPolicy(targets, **fields)
    return info.value.message, info.value.hint


def _target_refusal(target: str) -> tuple[str, str | None]:
    with pytest.raises(ConfigError) as info:
        parse_target(target)
    return info.value.message, info.value.hint


def test_policy_needs_a_target() -> None:
    """A policy without targets is refused with this message and no hint."""
    assert _refusal(targets=()) == ("a backup policy needs at least one target", None)


def test_policy_refuses_a_target_twice() -> None:
    """The same target listed twice is refused with this message and no hint."""
    assert _refusal(targets=("/b", "/c", "/b")) == ("a backup target is listed twice", None)


@pytest.mark.parametrize("snapshot_dir", [
    "", "/snap", "snap/", "a//b", "a/./b", ".", "..", "a/../b", "snap shots", "sn*p"])
def test_snapshot_dir_refusal(snapshot_dir: str) -> None:
    """A snapshot_dir that is empty, absolute, has an empty, '.' or '..' component or an
    unsafe character is refused naming it, with an example as the hint."""
    assert _refusal(snapshot_dir=snapshot_dir) == (
        f"snapshot_dir {snapshot_dir!r} must be relative to the filesystem's top level",
        SNAPSHOT_DIR_HINT)


@pytest.mark.parametrize("snapshot_dir", [
    "Snapshots", ".snapshots", "snap/Layout-1", "a.b/@c+d_e", "..x/.y", "A"])
def test_snapshot_dir_accepted(snapshot_dir: str) -> None:
    """Relative paths of safe characters, capitals and dotted (not '.'/'..') names
    included, are kept as written."""
    assert BackupPolicy(("/b",), snapshot_dir=snapshot_dir).snapshot_dir == snapshot_dir


@pytest.mark.parametrize(("key", "value", "hint"), [
    ("snapshot_preserve", "14x", RETENTION_HINT),
    ("target_preserve", "20d 10q", RETENTION_HINT),
    ("snapshot_preserve_min", "latest 2d", MIN_HINT),
    ("target_preserve_min", "*d", MIN_HINT),
])
def test_retention_refusal_of_the_record(key: str, value: str, hint: str) -> None:
    """Retention given to the record directly (no blanks folded) is refused naming the key
    and the value, with the example of its kind as the hint."""
    assert _refusal(**{key: value}) == (
        f"{key} = {value!r} is not btrbk retention syntax", hint)


@pytest.mark.parametrize(("target", "message", "hint"), [
    ("/a b", "backup target '/a b' contains characters btrbk does not accept safely",
     "use letters, digits and _ @ + . - / in target paths"),
    ("ssh://host", "backup target 'ssh://host' is not a valid ssh:// URL",
     "write ssh://host[:port]/absolute/path (an IPv6 address in brackets)"),
    ("ssh://[1:2]/p", "backup target 'ssh://[1:2]/p': '1:2' is not an IPv6 address",
     "write ssh://[2001:db8::1]:22/path"),
    ("ssh://-h/p", "backup target 'ssh://-h/p': '-h' is not a host name",
     "a host name is letters, digits, '-' and '.', not starting with '-'"),
    ("ssh://h:0/p", "backup target 'ssh://h:0/p': port 0 is not 1..65535", None),
    ("ssh://h:65536/p", "backup target 'ssh://h:65536/p': port 65536 is not 1..65535", None),
    ("b/c", "backup target 'b/c' is neither an absolute path nor ssh://",
     "write /path/to/dir or ssh://host[:port]/path"),
    ("/a/../b", "backup target '/a/../b' contains '.' or '..'", None),
    ("/a/..", "backup target '/a/..' contains '.' or '..'", None),
    ("/a/./b", "backup target '/a/./b' contains '.' or '..'", None),
    ("/a/.", "backup target '/a/.' contains '.' or '..'", None),
    ("ssh://h/a/../b", "backup target 'ssh://h/a/../b' contains '.' or '..'", None),
    ("/a:b", "backup target '/a:b': ':', '[' and ']' are not allowed in the path", None),
    ("/a[b", "backup target '/a[b': ':', '[' and ']' are not allowed in the path", None),
    ("/a]b", "backup target '/a]b': ':', '[' and ']' are not allowed in the path", None),
    ("ssh://h:22/a:b",
     "backup target 'ssh://h:22/a:b': ':', '[' and ']' are not allowed in the path", None),
])
def test_target_refusal(target: str, message: str, hint: str | None) -> None:
    """Each kind of bad target is refused with this exact message and hint."""
    assert _target_refusal(target) == (message, hint)


def test_policy_refuses_a_bad_target() -> None:
    """A policy refuses a bad target with the parser's own message."""
    assert _refusal(targets=("/b", "/a/../c")) == (
        "backup target '/a/../c' contains '.' or '..'", None)


@pytest.mark.parametrize(("target", "parsed"), [
    ("/", BackupTarget("/", "/")),
    ("//", BackupTarget("//", "/")),
    ("/b/", BackupTarget("/b/", "/b")),
    ("/backupX/", BackupTarget("/backupX/", "/backupX")),
    ("/a/...b/..c", BackupTarget("/a/...b/..c", "/a/...b/..c")),
    ("ssh://h:1/p", BackupTarget("ssh://h:1/p", "/p", "h", 1)),
    ("ssh://h:65535/p/", BackupTarget("ssh://h:65535/p/", "/p", "h", 65535)),
    ("ssh://[2001:db8::1]/", BackupTarget("ssh://[2001:db8::1]/", "/", "2001:db8::1")),
])
def test_target_parsed(target: str, parsed: BackupTarget) -> None:
    """Valid targets parse to their URL as written, the path without trailing slashes (the
    root stays '/'), the host and the port, ports 1 and 65535 included."""
    assert parse_target(target) == parsed
