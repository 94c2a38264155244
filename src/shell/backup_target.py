"""Backup targets, local or ``ssh://``: the one place that reaches into them.

Every operation is a command run through the subprocess gateway, locally or
through ``ssh`` (as root, as btrbk does by default; host keys and identities
come from root's ssh configuration), so a local target and a remote one take
exactly the same path through the code.  What a target holds is read with
``btrfs subvolume show`` for each entry of its directory, in one round trip.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from ..core.backup import MANIFEST_FILE
from ..core.btrbk import LISTING_MARK, ListedSubvolume, parse_listing
from ..core.errors import EnvironmentProblem
from ..core.policy import parse_ssh_target
from .run import run

_LIST_SCRIPT = (
    'cd -- "$1" || exit 3\n'
    'for f in *; do\n'
    '  case "$f" in *.[0-9]*T[0-9]*) ;; *) continue ;; esac\n'
    '  [ -d "$f" ] || continue\n'
    f'  printf "{LISTING_MARK}%s\\n" "$f"\n'
    '  btrfs subvolume show -- "$f" 2>/dev/null\n'
    'done\n'
)
_WRITE_SCRIPT = 'mkdir -p -- "$(dirname -- "$1")" && cat > "$1.tmp" && mv -f -- "$1.tmp" "$1"'


class Target:
    """A backup target as written in a policy."""

    def __init__(self, url: str) -> None:
        self.url = url
        ssh = parse_ssh_target(url)
        if ssh is None:
            self.host: str | None = None
            self.port: int | None = None
            self.path = url.rstrip("/") or "/"
        else:
            self.host, self.port, path = ssh
            self.path = path.rstrip("/") or "/"

    @property
    def remote(self) -> bool:
        return self.host is not None

    def argv(self, cmd: Sequence[str]) -> list[str]:
        """``cmd`` as run on the target's machine."""
        if self.host is None:
            return list(cmd)
        ssh = ["ssh", "-o", "BatchMode=yes"]
        if self.port is not None:
            ssh += ["-p", str(self.port)]
        return [*ssh, f"root@{self.host}", shlex.join(cmd)]

    def join(self, name: str) -> str:
        return f"{self.path}/{name}"

    def run(self, cmd: Sequence[str], *, input: bytes | None = None, check: bool = True,
            timeout: float | None = 600) -> bytes:
        result = run(self.argv(cmd), input=input, check=check, timeout=timeout,
                     hint=f"is the backup target {self.url} reachable and writable?")
        return result.stdout or b""

    def ensure_dir(self) -> None:
        self.run(["mkdir", "-p", "--", self.path])

    def listing(self) -> tuple[ListedSubvolume, ...]:
        """The subvolumes in the target directory whose names look like backups."""
        out = self.run(["sh", "-c", _LIST_SCRIPT, "sh", self.path])
        return parse_listing(out.decode("utf-8", "surrogateescape"))

    def read_manifest(self) -> str:
        try:
            return self.run(["cat", "--", self.join(MANIFEST_FILE)]).decode("utf-8")
        except EnvironmentProblem as exc:
            raise EnvironmentProblem(
                f"{self.url}: no readable backup manifest ({MANIFEST_FILE})",
                "is this a layout-trees backup target? every 'layout backup run' writes one"
                f" [{exc.message}]") from None

    def write_manifest(self, text: str) -> None:
        self.run(["sh", "-c", _WRITE_SCRIPT, "sh", self.join(MANIFEST_FILE)],
                 input=text.encode("utf-8"))

    def send_argv(self, name: str, parent: str | None) -> list[str]:
        cmd = ["btrfs", "send", "-q"]
        if parent is not None:
            cmd += ["-p", self.join(parent)]
        return self.argv([*cmd, self.join(name)])
