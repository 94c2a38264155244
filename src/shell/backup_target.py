"""Backup targets, local or ``ssh://``: the one place that reaches into them.

Every operation is a command run through the subprocess gateway, locally or
through ``ssh`` (as root, as btrbk does by default; host keys and identities
come from root's ssh configuration), so a local target and a remote one take
exactly the same path through the code.  The target URL is parsed once, by
:func:`layout_trees.core.backup.policy.parse_target`, as btrbk parses it (an IPv6
host is given to ssh bare, ``root@::1``).

What a target holds is read with one ``btrfs subvolume list`` of its
filesystem (restricted to the directory's subvolume), in one round trip
(:func:`layout_trees.core.backup.btrbk.parse_subvolume_list`); a directory holding a name
with a control character is refused, since btrfs prints names raw, one a line, and a
line break could forge a record.  A failure is one line
naming the target and what went wrong (for ssh, ssh's own complaint), never
the remote script.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from ..core.backup.btrbk import (
    ALL_READ_ONLY,
    LISTING_SEPARATOR,
    ListedSubvolume,
    parse_subvolume_list,
)
from ..core.backup.manifest import MANIFEST_FILE, ManifestError
from ..core.backup.policy import BackupTarget, parse_target
from ..core.errors import EnvironmentProblem
from . import btrfs
from .run import Background, error_detail, run

SSH_ERROR = 255
"""ssh's own exit status when it could not connect or authenticate."""
NOT_BTRFS = 4
CONTROL_NAME = ("a name below the directory holds a control character (such as a line "
                "break), which could forge entries in its listing; rename or delete it "
                "(LC_ALL=C find DIR -xdev -name '*[[:cntrl:]]*' finds it)")
_LIST_SCRIPT = (
    'd=$(realpath -e -- "$1") || exit 3\n'
    '[ -d "$d" ] || { echo "not a directory" >&2; exit 3; }\n'
    't=$(stat -f -c %T -- "$d") || exit 3\n'
    f'[ "$t" = btrfs ] || {{ echo "not on a btrfs filesystem ($t)" >&2; exit {NOT_BTRFS}; }}\n'
    # btrfs prints names raw, one subvolume a line: a line break in a name below the
    # directory (within its subvolume, where the listing looks) could forge records
    'b=$(LC_ALL=C find "$d" -xdev -name "*[[:cntrl:]]*" -print 2>/dev/null | head -c 1)\n'
    f'[ -z "$b" ] || {{ echo "{CONTROL_NAME}" >&2; exit 3; }}\n'
    'findmnt -n -r -o FSROOT,TARGET -T "$d" || exit 3\n'
    'printf "%s\\n" "$d"\n'
    '[ "$2" = complete ] && ro=-r || ro=\n'
    'btrfs subvolume list -o $ro -R -u -q "$d" || exit 3\n'
    f'echo {LISTING_SEPARATOR}\n'
    f'if [ -n "$ro" ]; then echo {ALL_READ_ONLY}; '
    'else btrfs subvolume list -o -r "$d" || exit 3; fi\n'
)
_PROBE_SCRIPT = (
    'd=$1; while [ ! -e "$d" ]; do d=$(dirname -- "$d"); done\n'
    't=$(stat -f -c %T -- "$d") || exit 3\n'
    f'[ "$t" = btrfs ] || {{ echo "$d: not on a btrfs filesystem ($t)" >&2; exit {NOT_BTRFS}; }}\n'
    'f=$(mktemp -p "$d" .layout-trees-probe.XXXXXX 2>/dev/null) || '
    '{ echo "$d: not writable" >&2; exit 3; }\n'
    'rm -f -- "$f"\n'
)
_WRITE_SCRIPT = 'mkdir -p -- "$(dirname -- "$1")" && cat > "$1.tmp" && mv -f -- "$1.tmp" "$1"'


class Target:
    """A backup target as written in a policy."""

    def __init__(self, url: str | BackupTarget) -> None:
        if isinstance(url, BackupTarget):
            self.parsed = url
        elif url.startswith("ssh://"):
            self.parsed = parse_target(url)
        else:  # a configured target (validated with its policy) or a directory of ours
            self.parsed = BackupTarget(url, url.rstrip("/") or "/")
        self.url = self.parsed.url
        self.host = self.parsed.host
        self.port = self.parsed.port
        self.path = self.parsed.path

    @property
    def remote(self) -> bool:
        return self.parsed.remote

    def argv(self, cmd: Sequence[str]) -> list[str]:
        """``cmd`` as run on the target's machine."""
        if not self.parsed.remote:
            return list(cmd)
        ssh = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=20"]
        if self.port is not None:
            ssh += ["-p", str(self.port)]
        return [*ssh, self.parsed.ssh_destination, shlex.join(cmd)]

    def join(self, name: str) -> str:
        return f"{self.path}/{name}"

    def run(self, cmd: Sequence[str], *, what: str, input: bytes | None = None,
            timeout: float | None = 600) -> bytes:
        """Run ``cmd`` there; a failure is one line: the target, ``what`` failed, and why."""
        result = run(self.argv(cmd), input=input, check=False, timeout=timeout)
        if result.returncode != 0:
            raise self._failure(result.returncode, result.stderr, what)
        return result.stdout or b""

    def _failure(self, returncode: int, stderr: bytes | None, what: str) -> EnvironmentProblem:
        detail = error_detail(stderr) or f": exit status {returncode}"
        if self.remote and returncode == SSH_ERROR:
            return EnvironmentProblem(f"{self.url}: cannot reach {self.host} over ssh{detail}",
                                      "check the host, root's ssh key and known_hosts")
        return EnvironmentProblem(f"{self.url}: {what} failed{detail}",
                                  f"is the backup target {self.url} reachable and writable?")

    def ensure_dir(self) -> None:
        self.run(["mkdir", "-p", "--", self.path], what="creating the directory")

    def probe(self) -> str | None:
        """Why nothing could be backed up to this target now (None: it looks usable):
        unreachable, not on btrfs, not writable.  The directory may not exist yet (a run
        creates it), but its nearest existing parent must do."""
        result = run(self.argv(["sh", "-c", _PROBE_SCRIPT, "sh", self.path]), check=False,
                     timeout=60)
        if result.returncode == 0:
            return None
        detail = error_detail(result.stderr)[2:] or f"exit status {result.returncode}"
        if self.remote and result.returncode == SSH_ERROR:
            return f"cannot reach {self.host} over ssh: {detail}"
        return detail

    def listing(self, *, complete: bool = False) -> tuple[ListedSubvolume, ...]:
        """The subvolumes in the target directory, with UUIDs and read-only flags; only the
        read-only ones with ``complete`` (all that status, verify and drop count: one
        ``btrfs subvolume list`` instead of two)."""
        return self.start_listing(complete=complete).result()

    def start_listing(self, *, complete: bool = False) -> PendingListing:
        """Start :meth:`listing` in the background (into a temporary file, so that it runs
        to its end while the caller scans); :meth:`PendingListing.result` waits."""
        return PendingListing(self, complete)

    def read_manifest(self) -> str:
        """The manifest's text; a target without one is exit 3, one that is not UTF-8 is
        a bad document (exit 2)."""
        try:
            data = self.run(["cat", "--", self.join(MANIFEST_FILE)], what="reading the manifest")
        except EnvironmentProblem as exc:
            raise EnvironmentProblem(
                f"{self.url}: no readable backup manifest ({MANIFEST_FILE})",
                "is this a layout-trees backup target? every 'layout backup run' writes one"
                f" [{exc.message}]") from None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise ManifestError(f"{self.join(MANIFEST_FILE)}: not UTF-8 text",
                                "the manifest on the target is damaged or not ours; "
                                "nothing was changed") from None

    def write_manifest(self, text: str) -> None:
        self.run(["sh", "-c", _WRITE_SCRIPT, "sh", self.join(MANIFEST_FILE)],
                 what="writing the manifest", input=text.encode("utf-8"))

    def send_argv(self, name: str, parent: str | None) -> list[str]:
        cmd = btrfs.cli_argv("send", "-q")
        if parent is not None:
            cmd += ["-p", self.join(parent)]
        return self.argv([*cmd, self.join(name)])


class PendingListing:
    """A listing running in the background (see :meth:`Target.start_listing`)."""

    def __init__(self, target: Target, complete: bool) -> None:
        self.target = target
        self._job = Background(target.argv(["sh", "-c", _LIST_SCRIPT, "sh", target.path,
                                            "complete" if complete else "all"]))

    def result(self, timeout: float = 600) -> tuple[ListedSubvolume, ...]:
        try:
            done = self._job.wait(timeout)
        except FileNotFoundError:
            raise EnvironmentProblem(f"{self.target.url}: ssh: command not found",
                                     "install openssh-client") from None
        except TimeoutError:
            raise EnvironmentProblem(f"{self.target.url}: listing the backups timed out "
                                     f"after {timeout} s") from None
        if done.returncode != 0:
            raise self.target._failure(done.returncode, done.stderr, "listing the backups")
        text = done.stdout.decode("utf-8", "surrogateescape")
        try:
            return parse_subvolume_list(text)
        except EnvironmentProblem as exc:
            raise EnvironmentProblem(f"{self.target.url}: {exc.message}", exc.hint) from None
