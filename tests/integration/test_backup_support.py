"""Shared parts of the backup integration tests: loop images, a real sshd, a data set,
a checksum manifest of a tree, and running ``layout`` as a user would."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from layout_trees.shell.loopdev import LoopBtrfs

pytestmark = pytest.mark.integration

LAYOUT = str(Path(sys.executable).parent / "layout")
DEVICE = "/dev/disk/by-label/layout-backup-test"


def need_root_and_tools() -> None:
    """Skip on a developer's machine without root or tools; in CI (``CI`` set), fail."""
    missing = [] if os.geteuid() == 0 else ["root"]
    missing += [tool for tool in ("btrbk", "btrfs", "losetup", "mkfs.btrfs", "setfacl")
                if shutil.which(tool) is None]
    if missing:
        message = f"backup integration tests need {', '.join(missing)}"
        if os.environ.get("CI"):
            pytest.fail(message + " (in CI they must run, not skip)")
        pytest.skip(message)


@pytest.fixture
def images(tmp_path: Path) -> Iterator[callable]:  # type: ignore[valid-type]
    """A factory of fresh btrfs loop images, all detached at the end, even on failure."""
    need_root_and_tools()
    opened: list[LoopBtrfs] = []

    def make(name: str, size: str = "400M") -> LoopBtrfs:
        loop = LoopBtrfs(str(tmp_path / f"{name}.img"), size, label=f"lt-{name}",
                         mountpoint=str(tmp_path / f"mnt-{name}"))
        opened.append(loop)
        return loop.open()

    try:
        yield make
    finally:
        for loop in reversed(opened):
            loop.close()


def layout(*args: str, env: dict[str, str] | None = None, check: int | None = 0,
           timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run the ``layout`` command; assert its exit status unless ``check`` is None."""
    result = subprocess.run([LAYOUT, *args], capture_output=True, text=True, env=env,
                            timeout=timeout, stdin=subprocess.DEVNULL)
    if check is not None:
        assert result.returncode == check, (
            f"layout {' '.join(args)} exited {result.returncode}, expected {check}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}")
    return result


def base_env(tmp_path: Path, path_prefix: str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["LAYOUT_TREES_BACKUP_RUN_DIR"] = str(tmp_path / "run")
    env.pop("LAYOUT_TREES_CONFIG", None)
    if path_prefix:
        env["PATH"] = path_prefix + ":" + env.get("PATH", "/usr/bin:/bin")
    return env


def subvol(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["btrfs", "subvolume", "create", str(path)], check=True,
                   capture_output=True)
    return path


@contextlib.contextmanager
def tree_below_subvolume_mount(image: LoopBtrfs, where: Path) -> Iterator[Path]:
    """A tree reached through a mount of the subvolume ``data`` (not the top level) at
    ``where``, as on systems that mount subvolumes; yields the tree's path, unmounts."""
    subvol(Path(str(image.mountpoint)) / "data")
    (Path(str(image.mountpoint)) / "data" / "trees" / "main").mkdir(parents=True)
    where.mkdir()
    subprocess.run(["mount", "-o", "subvol=/data", str(image.device), str(where)], check=True)
    try:
        yield where / "trees" / "main"
    finally:
        subprocess.run(["umount", str(where)], check=False)


def write_config(path: Path, trees: dict[str, tuple[Path, str]], targets: list[str],
                 extra: str = "") -> Path:
    """A TOML configuration: tree name -> (tree path, destination), all with one policy."""
    lines = []
    quoted = ", ".join(f'"{t}"' for t in targets)
    for name, (tree, destination) in trees.items():
        lines += [f"[tree.{name}]", f'path = "{tree}"', f'destination = "{destination}"',
                  f'device = "{DEVICE}"', "",
                  f"[tree.{name}.backup]", f"targets = [{quoted}]",
                  'snapshot_preserve_min = "all"', 'target_preserve_min = "all"', extra, ""]
    path.write_text("\n".join(lines))
    return path


def populate(top: Path) -> dict[str, Path]:
    """Two trees with nested structure, odd names, sparse/large files, hard links, xattrs,
    ACLs, owners and modes, and one excluded leaf.  Returns the tree roots."""
    main, other = top / "trees" / "main", top / "trees" / "other"
    structure = ((main, 0o755, (0, 0)), (main / "a b", 0o711, (0, 0)),
                 (main / "a b" / "ü", 0o2775, (0, 100)), (main / "svc", 0o750, (1000, 1000)),
                 (other, 0o700, (1000, 1000)), (other / "x" / "y", 0o755, (0, 0)))
    for d, mode, owner in structure:
        d.mkdir(parents=True, exist_ok=True)
        os.chown(d, *owner)
        os.chmod(d, mode)
    root = subvol(main / "@root")
    (root / "etc").mkdir()
    (root / "etc" / "conf").write_text("key = value\n")
    os.chmod(root / "etc" / "conf", 0o640)
    os.chown(root / "etc" / "conf", 1000, 100)
    with open(root / "sparse.img", "wb") as handle:
        handle.truncate(64 << 20)
        handle.seek(10 << 20)
        handle.write(b"middle" * 1000)
        handle.seek((64 << 20) - 5)
        handle.write(b"tail!")
    (root / "large.bin").write_bytes(os.urandom(12 << 20))
    (root / "hard1").write_text("linked\n")
    os.link(root / "hard1", root / "hard2")
    os.link(root / "hard1", root / "etc" / "hard3")
    os.setxattr(root / "etc" / "conf", "user.comment", b"from the test")
    subprocess.run(["setfacl", "-m", "u:1000:rwx,g:100:r-x", str(root / "etc")], check=True)
    subprocess.run(["setfacl", "-d", "-m", "u:1000:rw", str(root / "etc")], check=True)
    os.symlink("../hard1", root / "etc" / "link")
    os.chmod(root, 0o755)
    weird = subvol(main / "a b" / "ü" / "@c d")
    (weird / "naïve file ☃.txt").write_text("snow\n")
    (weird / "sub dir").mkdir(mode=0o1777)
    (weird / "sub dir" / "x").write_bytes(b"\0" * 4096)
    os.chown(weird, 1000, 1000)
    os.chmod(weird, 0o700)
    os.setxattr(weird, "user.on-the-leaf", b"travels")
    cache = subvol(main / "svc" / "@cache")
    (cache / "junk").write_bytes(os.urandom(1 << 20))
    db = subvol(main / "svc" / "@db")
    (db / "data").write_bytes(os.urandom(3 << 20))
    os.chown(db, 1000, 1000)
    home = subvol(other / "@home")
    (home / "alice").mkdir()
    (home / "alice" / "notes").write_text("hello\n")
    os.chown(home / "alice", 1000, 1000)
    os.chown(home / "alice" / "notes", 1000, 1000)
    subprocess.run(["setfacl", "-m", "u:65534:r", str(home / "alice" / "notes")], check=True)
    deep = subvol(other / "x" / "y" / "@deep")
    (deep / "file").write_text("deep\n")
    return {"main": main, "other": other}


EXCLUDED = ("svc", "@cache")


def _xattrs(path: str) -> tuple[tuple[str, str], ...]:
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return ()
    return tuple(sorted((n, os.getxattr(path, n, follow_symlinks=False).hex()) for n in names))


def checksums(root: Path, skip_content_of: tuple[tuple[str, ...], ...] = ()) -> dict[str, tuple]:
    """Path -> (type, mode, uid, gid, size, content hash or link target, xattrs incl. ACLs,
    mtime of files and links, sparse or not, hard-link group) for every entry below root."""
    top = os.lstat(root)
    result: dict[str, tuple] = {".": (stat.S_IMODE(top.st_mode), top.st_uid, top.st_gid)}
    links: dict[tuple[int, int], str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, root)
        parts = () if rel_dir == "." else tuple(rel_dir.split("/"))
        if parts in skip_content_of:
            dirnames[:] = []
            filenames = []
        for name in sorted(dirnames + filenames):
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            st = os.lstat(path)
            kind = stat.S_IFMT(st.st_mode)
            content: str | None = None
            mtime = None
            sparse = None
            group = None
            if stat.S_ISREG(st.st_mode):
                digest = hashlib.sha256()
                with open(path, "rb") as handle:
                    for block in iter(lambda: handle.read(1 << 20), b""):
                        digest.update(block)
                content = digest.hexdigest()
                mtime = st.st_mtime_ns
                sparse = st.st_blocks * 512 < st.st_size // 2
                if st.st_nlink > 1:
                    group = links.setdefault((st.st_dev, st.st_ino), rel)
            elif stat.S_ISLNK(st.st_mode):
                content = os.readlink(path)
                mtime = st.st_mtime_ns
            result[rel] = (kind, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid,
                           st.st_size if not stat.S_ISDIR(st.st_mode) else None, content,
                           _xattrs(path), mtime, sparse, group)
    return result


# --- a real sshd on 127.0.0.1 -------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def ssh_server(d: Path) -> Iterator[tuple[int, str]]:
    """sshd on 127.0.0.1:PORT and [::1]:PORT with a fresh host key and a key for root,
    in directory ``d`` (created).  Yields (port, directory to put first in PATH): an
    ``ssh`` there uses this identity and known_hosts, for btrbk and layout alike."""
    d.mkdir()
    control = tempfile.mkdtemp(prefix="lt-cm-", dir="/tmp")  # a socket path must be short
    os.chmod(d, 0o700)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / "host")],
                   check=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / "id")],
                   check=True)
    shutil.copy(d / "id.pub", d / "authorized_keys")
    port = _free_port()
    (d / "sshd_config").write_text("\n".join([
        f"ListenAddress 127.0.0.1:{port}", f"ListenAddress [::1]:{port}",
        f"HostKey {d / 'host'}",
        f"AuthorizedKeysFile {d / 'authorized_keys'}", "PermitRootLogin prohibit-password",
        "PasswordAuthentication no", "KbdInteractiveAuthentication no", "UsePAM no",
        "StrictModes no", f"PidFile {d / 'sshd.pid'}", "LogLevel ERROR", ""]))
    host_pub = (d / "host.pub").read_text().split()
    (d / "known_hosts").write_text(
        f"[127.0.0.1]:{port},[::1]:{port} {host_pub[0]} {host_pub[1]}\n")
    (d / "ssh_config").write_text("\n".join([
        "Host 127.0.0.1 ::1", f"  IdentityFile {d / 'id'}",
        f"  UserKnownHostsFile {d / 'known_hosts'}",
        "  StrictHostKeyChecking yes", "  IdentitiesOnly yes", "  BatchMode yes",
        # one connection for the many short commands btrbk and layout run (a slow,
        # shared machine spends most of a run in key exchanges otherwise)
        "  ControlMaster auto", f"  ControlPath {control}/%C", "  ControlPersist 120", ""]))
    bindir = d / "bin"
    bindir.mkdir()
    real_ssh = shutil.which("ssh") or "/usr/bin/ssh"
    (bindir / "ssh").write_text(f'#!/bin/sh\nexec {real_ssh} -F {d / "ssh_config"} "$@"\n')
    os.chmod(bindir / "ssh", 0o755)
    os.makedirs("/run/sshd", exist_ok=True)
    proc = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(d / "sshd_config")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"sshd did not start: {proc.stderr.read()!r}")  # type: ignore[union-attr]
            time.sleep(0.05)
        check = subprocess.run([str(bindir / "ssh"), "-p", str(port), "root@127.0.0.1", "true"],
                               capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, check.stderr
        yield port, str(bindir)
    finally:
        for host in ("127.0.0.1", "::1"):
            subprocess.run([str(bindir / "ssh"), "-O", "exit", "-p", str(port), f"root@{host}"],
                           capture_output=True, timeout=30)
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(control, ignore_errors=True)


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[tuple[int, str]]:
    """A real sshd for the test (see :func:`ssh_server`), stopped at the end."""
    need_root_and_tools()
    if shutil.which("sshd") is None and not os.path.exists("/usr/sbin/sshd"):
        pytest.skip("needs openssh-server")
    with ssh_server(tmp_path / "ssh") as server:
        yield server


def test_checksums_see_a_change(tmp_path: Path) -> None:
    """The checksum manifest differs when a byte, a mode or an xattr changes (it can fail)."""
    (tmp_path / "f").write_bytes(b"abc")
    before = checksums(tmp_path)
    (tmp_path / "f").write_bytes(b"abd")
    assert checksums(tmp_path) != before
    after = checksums(tmp_path)
    os.chmod(tmp_path / "f", 0o600)
    assert checksums(tmp_path) != after


@dataclasses.dataclass
class OneTree:
    """A source image with one tree ``main`` (at /srv/main), a target image and a config."""

    source: object
    tree: Path
    target: Path
    config: Path
    env: dict[str, str]


def one_tree(images, tmp_path: Path, src_size: str = "400M",  # type: ignore[no-untyped-def]
             dst_size: str = "400M") -> OneTree:
    """Make the :class:`OneTree` lab on two fresh images from the ``images`` fixture."""
    src, dst = images("src", src_size), images("dst", dst_size)
    tree = Path(src.mountpoint) / "trees" / "main"
    tree.mkdir(parents=True)
    target = Path(dst.mountpoint) / "backups"
    target.mkdir()
    config = write_config(tmp_path / "layout-trees.toml", {"main": (tree, "/srv/main")},
                          [str(target)])
    return OneTree(src, tree, target, config, base_env(tmp_path))
