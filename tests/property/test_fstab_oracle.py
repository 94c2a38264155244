"""Differential tests: our units against systemd-fstab-generator and systemd-analyze.

For a generated world we write the fstab that says the same as the plan
(``WHAT WHERE btrfs subvol=SUBVOL,OPTIONS 0 0``, one line per mount), run the
real generator on it, and compare its output with ``render(plan)`` after
dropping what is allowed to differ: comments, ``Documentation=``,
``Description=``, ``SourcePath=``, our ``layout-trees-directories*`` units
and their links, and its ``systemd-remount-fs.service`` link.

Destinations live below a path that does not exist here, because the real
generator resolves symlinks in mount points that exist on the machine it runs
on.
"""

from __future__ import annotations

import os
import subprocess
import tempfile

import pytest
from hypothesis import example, given
from layout_trees.core.config import Config, TreeConfig
from layout_trees.core.model import Entry, EntryKind, Snapshot, Subvolume, TreeScan
from layout_trees.core.options import conflicting_options
from layout_trees.core.plan import Plan, make_plan
from layout_trees.core.units import DIRECTORIES_UNIT, GeneratedFile, render
from strategies import World, absolute_paths, mount_options, worlds

FSTAB_GENERATOR = "/usr/lib/systemd/system-generators/systemd-fstab-generator"
ORACLE_ROOT = "/lt-oracle-absent"
IGNORED_KEYS = ("Documentation=", "Description=", "SourcePath=")
STUB_UNITS = ("lt-test-a.service", "lt-test-b.target", "lt-test-c.service")

pytestmark = pytest.mark.skipif(not os.path.exists(FSTAB_GENERATOR),
                                reason="systemd-fstab-generator is not installed")

oracle_worlds = worlds(
    destinations=absolute_paths(max_depth=2).map(lambda p: ORACLE_ROOT + p),
    options=mount_options(),
)


def fstab_field(value: str) -> str:
    """A value as an fstab field: white space and backslash as octal escapes."""
    return "".join(f"\\{ord(c):03o}" if c in " \t\n\\" else c for c in value)


def fstab_options(options: list[str]) -> str:
    """The options field: systemd splits it with backslash escapes, so '\\' stands for '\'."""
    return fstab_field(",".join(o.replace("\\", "\\\\") for o in options))


def fstab_for(world: World, plan: Plan) -> str:
    lines = []
    for mount in plan.mounts:
        tree = world.config.tree(mount.tree)
        assert tree is not None
        options = [o for o in tree.options if o not in conflicting_options(tree.options)]
        ours = [f"subvol={mount.subvol}"]
        if mount.subvol_id is not None:
            ours.append(f"subvolid={mount.subvol_id}")
        field = fstab_options([*ours, *options])
        lines.append(" ".join([fstab_field(mount.what), fstab_field(mount.where), "btrfs",
                               field, "0", "0"]))
    return "\n".join(lines) + "\n"


def normalise(content: str) -> str:
    lines = [line for line in content.splitlines()
             if not line.startswith("#") and not line.startswith(IGNORED_KEYS)]
    return "\n".join(lines).strip("\n")


def is_ours_only(item: GeneratedFile) -> bool:
    base = os.path.basename(item.path)
    return base.startswith(DIRECTORIES_UNIT.split(".")[0])


def theirs(world: World, plan: Plan) -> dict[str, tuple[str, str]]:
    """What systemd-fstab-generator writes for the plan's equivalent fstab."""
    with tempfile.TemporaryDirectory(prefix="lt-oracle-") as tmp:
        fstab = os.path.join(tmp, "fstab")
        with open(fstab, "w", encoding="utf-8") as handle:
            handle.write(fstab_for(world, plan))
        dirs = [os.path.join(tmp, d) for d in ("normal", "early", "late")]
        for d in dirs:
            os.mkdir(d)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "SYSTEMD_FSTAB": fstab,
               "SYSTEMD_PROC_CMDLINE": "", "SYSTEMD_LOG_LEVEL": "err"}
        done = subprocess.run([FSTAB_GENERATOR, *dirs], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert done.stderr == "", done.stderr
        found: dict[str, tuple[str, str]] = {}
        for d in dirs:
            for parent, subdirs, files in os.walk(d):
                for name in files + [s for s in subdirs
                                     if os.path.islink(os.path.join(parent, s))]:
                    full = os.path.join(parent, name)
                    rel = os.path.relpath(full, d)
                    if rel == "local-fs.target.wants/systemd-remount-fs.service":
                        continue
                    if os.path.islink(full):
                        found[rel] = ("link", os.readlink(full))
                    else:
                        with open(full, encoding="utf-8", errors="surrogateescape") as handle:
                            found[rel] = ("file", normalise(handle.read()))
        return found


def ours(plan: Plan) -> dict[str, tuple[str, str]]:
    found: dict[str, tuple[str, str]] = {}
    for item in render(plan, "/etc/layout-trees.toml"):
        if is_ours_only(item):
            continue
        if item.link is not None:
            found[item.path] = ("link", item.link)
        else:
            assert item.content is not None
            found[item.path] = ("file", normalise(item.content))
    return found


def _one_tree(options: tuple[str, ...], leaves: tuple[str, ...] = ("@ws",),
              device: str = "/dev/mapper/Mimir") -> World:
    tree = TreeConfig("t", "/mnt/top/t", ORACLE_ROOT + "/home/alice", device, options)
    entries = tuple(Entry((leaf,), EntryKind.SUBVOLUME, subvolume=Subvolume("/t/" + leaf))
                    for leaf in leaves)
    return World(Config((tree,)), Snapshot((TreeScan("t", "/mnt/top/t", entries=entries),)))


@given(oracle_worlds)
@example(_one_tree(("x-systemd.automount",)))
@example(_one_tree(("x-systemd.automount", "nofail", "x-systemd.idle-timeout=90")))
@example(_one_tree(("noauto", "x-systemd.wanted-by=multi-user.target")))
@example(_one_tree(("_netdev", "x-systemd.device-timeout=5", "x-systemd.mount-timeout=61")))
@example(_one_tree(("x-systemd.requires=/dev/vdc", "x-systemd.before=/srv/lt-a",
                    "x-systemd.after=lt-test-a.service", "x-systemd.rw-only")))
@example(_one_tree(("x-systemd.requires-mounts-for=/var/lib/lt",), ("@a b", "@%n", "@é")))
@example(_one_tree((), ("@.a\\\\a", "@x\\y", "@:", "@-")))
@example(_one_tree(("x-systemd.after=foo%x.service", "x-systemd.before=b%r",
                    "x-systemd.requires=a b", "x-systemd.after=é.service",
                    "x-systemd.after=a*b.service", "x-systemd.before=.foo",
                    "x-systemd.after=a\\b.service", "x-systemd.requires=x/y%i")))
def test_render_reference_model_systemd_fstab_generator(world: World) -> None:
    """Our mount/automount units, links and drop-ins equal systemd-fstab-generator's."""
    plan = make_plan(world.config, world.snapshot)
    assert ours(plan) == theirs(world, plan)


def _write_units(directory: str, plan: Plan) -> list[str]:
    units = []
    for item in render(plan, "/etc/layout-trees.toml"):
        path = os.path.join(directory, item.path)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if item.link is not None:
            os.symlink(item.link, path)
        else:
            assert item.content is not None
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(item.content)
            if "/" not in item.path:  # drop-ins are read with their unit, not given alone
                units.append(path)
    for stub in STUB_UNITS:
        with open(os.path.join(directory, stub), "w", encoding="utf-8") as handle:
            handle.write("[Unit]\nDescription=stub\nDefaultDependencies=no\n" + (
                "[Service]\nType=oneshot\nExecStart=/bin/true\n" if stub.endswith("service")
                else ""))
    return units


@given(worlds(options=mount_options(verifiable=True)))
@example(_one_tree(("x-systemd.automount", "x-systemd.idle-timeout=1h"), ("@a b", "@%n", "@x\\y")))
def test_render_invariant_systemd_analyze_verify(world: World) -> None:
    """Every generated unit passes systemd-analyze verify without a complaint."""
    plan = make_plan(world.config, world.snapshot)
    with tempfile.TemporaryDirectory(prefix="lt-verify-") as tmp:
        units = _write_units(tmp, plan)
        # systemd-analyze 252 cannot load a unit by a path holding ':' ("Couldn't process
        # aliases"); those alone are left out.
        checked = [u for u in units if ":" not in os.path.basename(u)]
        if not checked:
            return
        done = subprocess.run(["systemd-analyze", "verify", "--man=no", *checked],
                              capture_output=True, text=True, cwd=tmp,
                              env={**os.environ, "SYSTEMD_LOG_LEVEL": "notice"})
        assert (done.returncode, done.stderr.strip(), done.stdout.strip()) == (0, "", "")
