"""``layout persist`` and ``watch = true`` in a real booted guest (systemd as PID 1).

First boot: a directory below the destination is filled (owner, xattr,
timestamps) and persisted with ``python3 -m layout_trees.shell.persist`` (the
guest has no typer); then a subvolume is created in the watched tree and the
time until it is mounted, without any command, is measured.  Second boot, on
the same data disk: the persisted directory is mounted by the generator at
boot with its content, and so is the leaf the watch mounted.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.boot,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for loop devices"),
    pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None, reason="needs qemu"),
]

from boot import datadisk, harness  # noqa: E402  (tests/integration is on sys.path)

CONFIG = """\
[tree.data]
path = "/mnt/persist/trees/data"
destination = "/data"
watch = true
"""
LIVE_UNIT = "layout-trees-test-live.service"
CHECK_UNIT = "layout-trees-test-check.service"


def _unit(script: str, description: str) -> str:
    return (f"[Unit]\nDescription={description}\nDefaultDependencies=no\n"
            "After=multi-user.target\nBefore=layout-trees-test-collect.service\n"
            "[Service]\nType=oneshot\n"
            f"ExecStart=/usr/bin/python3 /usr/lib/layout-trees-test/{script}\n"
            "StandardOutput=journal+console\nStandardError=journal+console\n"
            "TimeoutStartSec=200\n")


LIVE_SCRIPT = r'''#!/usr/bin/python3
import json, os, subprocess, sys, time

def say(**kw):
    print("LT-LIVE " + json.dumps(kw, sort_keys=True), flush=True)

os.makedirs("/data/alice/docs/sub", exist_ok=True)
os.chown("/data/alice", 1000, 1000)
os.chmod("/data/alice", 0o750)
path = "/data/alice/docs/sub/file.txt"
with open(path, "w") as handle:
    handle.write("persisted payload\n")
os.chown(path, 1000, 1001)
os.chmod(path, 0o640)
os.setxattr(path, "trusted.lt", b"kept")  # tmpfs in 6.1 has no user.* xattrs
os.utime(path, ns=(1_000_000_000_000_000_000, 1_100_000_000_123_456_789))
start = time.monotonic()
done = subprocess.run([sys.executable, "-m", "layout_trees.shell.persist", "/data/alice/docs"],
                      capture_output=True, text=True)
say(step="persist", rc=done.returncode, seconds=round(time.monotonic() - start, 2),
    out=(done.stdout + done.stderr).splitlines())
# let the reload that persist's own changes triggered finish, so the next one is fresh
deadline = time.monotonic() + 120
while time.monotonic() < deadline:
    state = subprocess.run(["systemctl", "is-active", "layout-trees-reload.service"],
                           capture_output=True, text=True).stdout.strip()
    if state in ("inactive", "failed"):
        break
    time.sleep(0.5)
say(step="idle", state=state)
start = time.monotonic()
subprocess.run(["btrfs", "subvolume", "create", "/mnt/persist/trees/data/@watched"], check=True)
while time.monotonic() - start < 120 and not os.path.ismount("/data/watched"):
    time.sleep(0.1)
say(step="watch", mounted=os.path.ismount("/data/watched"),
    seconds=round(time.monotonic() - start, 2))
'''

CHECK_SCRIPT = r'''#!/usr/bin/python3
import json, os
path = "/data/alice/docs/sub/file.txt"
out = {"step": "check"}
try:
    st = os.stat(path)
    out.update(content=open(path).read(), owner=[st.st_uid, st.st_gid], mode=st.st_mode & 0o7777,
               mtime_ns=st.st_mtime_ns, xattr=os.getxattr(path, "trusted.lt").decode())
except OSError as exc:
    out["error"] = str(exc)
print("LT-LIVE " + json.dumps(out, sort_keys=True), flush=True)
'''


def _frames(result: harness.BootResult) -> dict[str, dict]:
    frames = {}
    for line in result.journal:
        if "LT-LIVE " in line:
            frame = json.loads(line.split("LT-LIVE ", 1)[1])
            frames[frame["step"]] = frame
    return frames


def test_persist_survives_a_reboot_and_watch_mounts_new_leaves(tmp_path: Path) -> None:
    """Persist in a booted guest, reboot: the data is there and mounted at the same place; with
    watch = true a new subvolume is mounted within seconds without any command."""
    image = tmp_path / "data.img"
    with datadisk.btrfs_image(image) as top:
        datadisk.subvolume(top / "trees" / "data" / "@existing")
    extra = {
        "usr/lib/layout-trees-test/live": LIVE_SCRIPT,
        f"usr/lib/systemd/system/{LIVE_UNIT}": _unit("live", "layout-trees live steps"),
        "usr/lib/layout-trees-test/check": CHECK_SCRIPT,
        f"usr/lib/systemd/system/{CHECK_UNIT}": _unit("check", "layout-trees live check"),
    }
    stat_paths = ["/data/alice/docs/sub/file.txt", "/data/watched", "/data/existing"]
    first = harness.boot(image, CONFIG, f"systemd.wants={LIVE_UNIT}", timeout=420,
                         extra_files=extra, stat_paths=stat_paths, name="live-1",
                         data_snapshot=False)  # the second boot sees the first one's writes
    frames = _frames(first)
    assert frames.get("persist", {}).get("rc") == 0, (frames, first.layout_trees_lines)
    docs = first.mount_at("/data/alice/docs")
    assert docs is not None and docs.fsroot == "/trees/data/alice/@docs", first.mounts
    assert frames["watch"]["mounted"], (frames, first.layout_trees_lines)
    assert frames["idle"]["state"] == "inactive", frames
    assert "layout-trees-reload.service" not in first.failed_units
    watched = first.mount_at("/data/watched")
    assert watched is not None and watched.fsroot == "/trees/data/@watched"
    assert first.stat["/data/alice"].mode == 0o750

    second = harness.boot(image, CONFIG, f"systemd.wants={CHECK_UNIT}", timeout=300,
                          extra_files=extra, stat_paths=stat_paths, name="live-2",
                          data_snapshot=False)
    check = _frames(second).get("check", {})
    assert check.get("content") == "persisted payload\n", (check, second.layout_trees_lines)
    assert check["owner"] == [1000, 1001] and check["mode"] == 0o640
    assert check["xattr"] == "kept" and check["mtime_ns"] == 1_100_000_000_123_456_789
    for where, root in (("/data/alice/docs", "/trees/data/alice/@docs"),
                        ("/data/watched", "/trees/data/@watched"),
                        ("/data/existing", "/trees/data/@existing")):
        mount = second.mount_at(where)
        assert mount is not None and mount.fsroot == root, second.mounts
    print(f"persist took {frames['persist']['seconds']} s in the guest; a new leaf was mounted "
          f"{frames['watch']['seconds']} s after its subvolume was created")
