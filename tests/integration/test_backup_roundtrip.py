"""Round trip: back up two trees with real btrbk (to a local and to an ssh:// target),
destroy the source, restore onto a fresh filesystem from the target alone, compare."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from layout_trees.core.plan import make_plan
from layout_trees.core.units import render
from layout_trees.shell.configfile import load_config
from layout_trees.shell.scan import scan
from test_backup_support import (
    EXCLUDED,
    base_env,
    checksums,
    images,  # noqa: F401  (fixture)
    layout,
    populate,
    sshd,  # noqa: F401  (fixture)
    write_config,
)

pytestmark = pytest.mark.integration


def units(config_path: Path) -> dict[str, str | None]:
    """The units for the configuration, without the subvolume ids (a restored
    subvolume is a new subvolume with its own id, on another filesystem)."""
    config = load_config(str(config_path), required=True).config
    files = render(make_plan(config, scan(config)), "layout-trees.toml")
    return {f.path: re.sub(r",subvolid=\d+", "", f.content) if f.content else f.link
            for f in files}


@pytest.mark.parametrize("kind", ["local", "ssh"])
def test_round_trip(kind: str, images, tmp_path: Path, request: pytest.FixtureRequest) -> None:  # noqa: F811
    """Every file's bytes and metadata, the structure and the mount units survive backup,
    loss of the source and restore; the excluded leaf is not sent and stays excluded."""
    src, dst = images("src", "600M"), images("dst", "600M")
    roots = populate(Path(src.mountpoint))
    (Path(dst.mountpoint) / "backups").mkdir()
    if kind == "ssh":
        port, bindir = request.getfixturevalue("sshd")
        target = f"ssh://127.0.0.1:{port}{dst.mountpoint}/backups"
        env = base_env(tmp_path, bindir)
    else:
        target = f"{dst.mountpoint}/backups"
        env = base_env(tmp_path)
    trees = {"main": (roots["main"], "/srv/main"), "other": (roots["other"], "/srv/other")}
    config = write_config(tmp_path / "layout-trees.toml", trees, [target])

    layout("backup", "exclude", str(roots["main"].joinpath(*EXCLUDED)), env=env)
    plan = layout("backup", "plan", "-c", str(config), env=env).stdout
    assert "- svc/@cache" in plan and "[excluded:" in plan
    assert "5 of 6 leaves covered" in plan
    red = layout("backup", "verify", "-c", str(config), env=env, check=1).stdout
    assert red.count("no backup yet") == 5

    layout("backup", "run", "-c", str(config), env=env)
    layout("backup", "verify", "-c", str(config), "--max-age", "1h", env=env)
    btrbk_conf = tmp_path / "run" / "btrbk.conf"
    for args in (["config", "print"], ["dryrun"], ["list", "backups"]):
        oracle = subprocess.run(["btrbk", "-c", str(btrbk_conf), *args], capture_output=True,
                                text=True, env=env)
        assert oracle.returncode == 0, oracle.stderr
    held = os.listdir(Path(dst.mountpoint) / "backups")
    assert "layout-trees-manifest.json" in held
    assert not [n for n in held if n.startswith("main.svc.@cache.")]
    assert len([n for n in held if n.startswith(("main.", "other."))]) == 5

    expected = {name: checksums(root, (EXCLUDED,) if name == "main" else ())
                for name, root in roots.items()}
    expected_units = units(config)
    assert any(".mount" in p for p in expected_units)

    src.close()
    os.unlink(src.image)

    new = images("new", "600M")
    new_trees = Path(new.mountpoint) / "trees"
    new_trees.mkdir()
    for name in roots:
        out = layout("restore", "--from", target, "--into", str(new_trees / name),
                     "--tree", name, env=env).stdout
        assert "FAILED" not in out
    restored = {name: checksums(new_trees / name, (EXCLUDED,) if name == "main" else ())
                for name in roots}
    for name in roots:
        assert restored[name] == expected[name], name
    cache = new_trees / "main" / Path(*EXCLUDED)
    assert os.listdir(cache) == []
    assert os.getxattr(cache, "user.layout-trees.backup") == b"skip"
    assert os.stat(cache).st_ino == 256

    new_config = write_config(tmp_path / "restored.toml",
                              {"main": (new_trees / "main", "/srv/main"),
                               "other": (new_trees / "other", "/srv/other")}, [target])
    assert units(new_config) == expected_units

    again = layout("restore", "--from", target, "--into", str(new_trees / "main"),
                   "--tree", "main", env=env).stdout
    assert again.count("up to date") == 3, again


def test_tree_reached_through_a_subvolume_mount(images, tmp_path: Path) -> None:  # noqa: F811
    """When the tree is reached through a mount of a subvolume (not the top level), the run
    mounts the top level privately for btrbk, backs up, and unmounts it again."""
    from test_backup_support import base_env, subvol, tree_below_subvolume_mount

    src, dst = images("src", "300M"), images("dst", "300M")
    with tree_below_subvolume_mount(src, tmp_path / "data-mount") as tree:
        (subvol(tree / "@a") / "f").write_text("a\n")
        config = write_config(tmp_path / "layout-trees.toml", {"main": (tree, "/srv/main")},
                              [f"{dst.mountpoint}/backups"])
        env = base_env(tmp_path)
        layout("backup", "run", "-c", str(config), env=env)
        layout("backup", "verify", "-c", str(config), env=env)
        assert os.listdir(Path(src.mountpoint) / ".snapshots")
        with open("/proc/self/mountinfo") as handle:
            assert str(tmp_path / "run") not in handle.read()
