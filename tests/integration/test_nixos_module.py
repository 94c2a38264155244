"""The flake and the NixOS module, with Nix itself and nixpkgs' lib (no nixpkgs needed).

Every ``.nix`` file parses; ``nix/module.nix`` evaluates with ``lib.evalModules``
(``tests/nix/eval.nix`` declares the NixOS options it sets, with NixOS's types,
and a stub package); its rendered ``/etc/layout-trees.json`` is read by the
project's loader as the same configuration as the equivalent TOML, each
assertion fails the evaluation with its message, and the rendered file given to
the real generator on a loopback btrfs image gives the same units as the TOML.

nixpkgs' lib is found as ``$NIXPKGS_LIB``, else ``../shared/nixpkgs-lib/lib``
or ``../../shared/nixpkgs-lib/lib`` beside the checkout.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from layout_trees.shell.configfile import parse_text

ROOT = Path(__file__).resolve().parents[2]
EVAL = ROOT / "tests/nix/eval.nix"
GENERATOR = str(Path(sys.executable).with_name("layout-trees-generator"))
LAYOUT = str(Path(sys.executable).with_name("layout"))


def _nixpkgs_lib() -> Path | None:
    env = os.environ.get("NIXPKGS_LIB")
    candidates = [Path(env)] if env else []
    candidates += [base / "shared/nixpkgs-lib/lib" for base in (ROOT.parent, ROOT.parent.parent)]
    return next((c for c in candidates if (c / "default.nix").is_file()), None)


NIX = shutil.which("nix-instantiate")
LIB = _nixpkgs_lib()


@pytest.fixture(scope="module", autouse=True)
def need_nix() -> None:
    missing = [what for what, ok in (("nix-instantiate (apt-get install nix-bin)", NIX),
                                     ("nixpkgs' lib (../shared/nixpkgs-lib or $NIXPKGS_LIB)", LIB))
               if not ok]
    if missing:
        message = f"the Nix tests need {' and '.join(missing)}"
        if os.environ.get("CI"):
            pytest.fail(message + " (in CI they must run)")
        pytest.skip(message)


def _nix(*args: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    state = tmp / "nix-state"
    state.mkdir(exist_ok=True)
    env = {**os.environ, "NIX_STATE_DIR": str(state), "HOME": str(tmp)}
    assert NIX is not None
    return subprocess.run([NIX, "--readonly-mode", *args], capture_output=True, text=True,
                          env=env, timeout=120)


def evaluate(tmp: Path, machine: str) -> subprocess.CompletedProcess[str]:
    """Evaluate the module with ``machine`` (a NixOS module's text) as the configuration."""
    case = tmp / "machine.nix"
    case.write_text(machine, encoding="utf-8")
    return _nix("--eval", "--strict", "--json", str(EVAL), "--arg", "lib", f"import {LIB}",
                "--arg", "configuration", str(case), tmp=tmp)


def evaluated(tmp: Path, machine: str) -> dict[str, Any]:
    done = evaluate(tmp, machine)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


PERSIST = """
  fileSystems."/" = { device = "none"; fsType = "tmpfs"; };
  fileSystems."/mnt/persist" = {
    device = "/dev/disk/by-label/persist"; fsType = "btrfs"; neededForBoot = true;
  };
"""

FULL = "{" + PERSIST + """
  services.layout-trees = {
    enable = true;
    trees.home = {
      path = "/mnt/persist/trees/home";
      destination = "/home";
      device = "/dev/disk/by-label/persist";
      options = [ "compress=zstd" "nofail" ];
      ignore.LT012 = "shared";
      watch = true;
      backup = {
        targets = [ "/mnt/backup" "ssh://nas:2222/srv/b" ];
        schedule = "hourly";
        snapshot_preserve = "7d";
      };
    };
    trees.old = {
      path = "/mnt/persist/subvolumes/old";
      destination = "/srv/old";
      tree_prefix = "/mnt/persist";
    };
  };
}"""

FULL_TOML = """
[tree.home]
path = "/mnt/persist/trees/home"
destination = "/home"
device = "/dev/disk/by-label/persist"
options = ["compress=zstd", "nofail"]
ignore = { LT012 = "shared" }
watch = true

[tree.home.backup]
targets = ["/mnt/backup", "ssh://nas:2222/srv/b"]
schedule = "hourly"
snapshot_preserve = "7d"

[tree.old]
path = "/mnt/persist/subvolumes/old"
destination = "/srv/old"
tree_prefix = "/mnt/persist"
"""


def test_every_nix_file_parses(tmp_path: Path) -> None:
    """nix-instantiate --parse accepts every .nix file of the repository."""
    files = sorted(p for p in ROOT.rglob("*.nix") if ".venv" not in p.parts)
    assert ROOT / "flake.nix" in files and ROOT / "nix/module.nix" in files
    for path in files:
        done = _nix("--parse", str(path), tmp=tmp_path)
        assert done.returncode == 0, f"{path}: {done.stderr}"


def test_module_renders_the_toml_schema_as_json(tmp_path: Path) -> None:
    """The rendered /etc/layout-trees.json is read as exactly the configuration of the TOML."""
    result = evaluated(tmp_path, FULL)
    text = result["etc"]["layout-trees.json"]["text"]
    parsed = parse_text(text, "/etc/layout-trees.json")
    assert parsed.problems == ()
    assert parsed.config.trees == parse_text(FULL_TOML, "/etc/layout-trees.toml").config.trees
    assert result["etc"]["layout-trees.json"]["target"] == "layout-trees.json"
    assert result["etc"]["layout-trees.json"]["mode"] == "0444"  # copied: a file, no symlink


def test_module_sets_the_generator_and_the_package(tmp_path: Path) -> None:
    """systemd.generators names the package's generator; the package is in systemPackages."""
    result = evaluated(tmp_path, FULL)
    stub = result["stub"]
    assert stub.startswith("/nix/store/")
    assert result["generators"] == {
        "layout-trees": f"{stub}/lib/systemd/system-generators/layout-trees-generator"}
    assert result["systemPackages"] == [stub]
    assert result["warnings"] == []


def test_module_options_cover_every_key_of_the_schema(tmp_path: Path) -> None:
    """trees.<name> has an option for every tree key, and backup for every policy key."""
    from layout_trees.core.backup.policy import POLICY_KEYS
    from layout_trees.core.config import TREE_KEYS

    result = evaluated(tmp_path, FULL)
    assert sorted(result["treeKeys"]) == sorted(TREE_KEYS)
    assert sorted(result["backupKeys"]) == sorted(POLICY_KEYS)


def test_disabled_module_sets_nothing(tmp_path: Path) -> None:
    """Without enable, no file, no generator, no package."""
    result = evaluated(tmp_path, "{ services.layout-trees.trees.a = { path = \"/x\"; "
                                 "destination = \"/y\"; }; }")
    assert (result["etc"], result["generators"], result["systemPackages"]) == ({}, {}, [])


def _machine(trees: str, filesystems: str = PERSIST) -> str:
    return f"{{ {filesystems} services.layout-trees = {{ enable = true; {trees} }}; }}"


@pytest.mark.parametrize(("machine", "message"), [
    (_machine('trees.a = { path = "/mnt/data/t"; destination = "/a"; };',
              PERSIST + 'fileSystems."/mnt/data" = { device = "/dev/vdc"; fsType = "btrfs"; };'),
     'services.layout-trees.trees.a.path = "/mnt/data/t" is on fileSystems."/mnt/data", which is '
     'not mounted in stage 1: set fileSystems."/mnt/data".neededForBoot = true'),
    (_machine('trees.a = { path = "/mnt/t"; destination = "/a"; };', filesystems=""),
     'services.layout-trees.trees.a.path = "/mnt/t" is on no filesystem in fileSystems'),
    (_machine('trees.a = { path = "/mnt/persist/t"; destination = "home"; };'),
     'services.layout-trees.trees.a.destination = "home" is not an absolute path.'),
    (_machine('trees.a = { path = "mnt/persist/t"; destination = "/a"; };'),
     'services.layout-trees.trees.a.path = "mnt/persist/t" is not an absolute path.'),
    (_machine('trees.a = { path = "/mnt/persist/a"; destination = "/home"; }; '
              'trees.b = { path = "/mnt/persist/b"; destination = "/home/"; };'),
     'services.layout-trees.trees: "a" and "b" have the same destination /home'),
    ("{ lib, ... }: { options.roos.layout-trees.mounts = lib.mkOption { default = { }; "
     "type = lib.types.attrsOf lib.types.anything; }; config = {" + PERSIST +
     'services.layout-trees = { enable = true; trees.a = { path = "/mnt/persist/a"; '
     'destination = "/a"; }; }; roos.layout-trees.mounts."/home".layout_tree = "/x"; }; }',
     "the prototype's roos.layout-trees.mounts are both set"),
])
def test_each_assertion_fails_the_evaluation_with_its_message(tmp_path: Path, machine: str,
                                                              message: str) -> None:
    """Each misconfiguration stops the evaluation with its own clear message."""
    done = evaluate(tmp_path, machine)
    assert done.returncode != 0, done.stdout
    assert "Failed assertions:" in done.stderr, done.stderr
    assert message in " ".join(done.stderr.split()), done.stderr


def test_a_tree_on_a_needed_for_boot_filesystem_passes(tmp_path: Path) -> None:
    """A tree below a neededForBoot filesystem nested in a plain one evaluates (longest match)."""
    machine = _machine('trees.a = { path = "/mnt/persist/t"; destination = "/a"; };',
                       'fileSystems."/mnt" = { device = "/dev/vdc"; fsType = "ext4"; };' + PERSIST)
    assert "layout-trees.json" in evaluated(tmp_path, machine)["etc"]


def _units(out: Path, source: str) -> dict[str, str]:
    """Every file the generator wrote (links as their targets), with the config path neutral."""
    found = {}
    for path in sorted(out.rglob("*")):
        rel = str(path.relative_to(out))
        if path.is_symlink():
            found[rel] = "-> " + os.readlink(path)
        elif path.is_file():
            found[rel] = path.read_text(encoding="utf-8").replace(source, "CONFIG")
    return found


def _generate(config: Path, out: Path) -> dict[str, str]:
    out.mkdir()
    env = {"PATH": "/usr/bin:/bin", "LAYOUT_TREES_CONFIG": str(config), "SYSTEMD_PROC_CMDLINE": ""}
    done = subprocess.run([GENERATOR, str(out), str(out), str(out)], env=env, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=60)
    assert done.returncode == 0, done.stderr
    return _units(out, str(config))


@pytest.mark.integration
def test_rendered_config_drives_the_real_generator(tmp_path: Path, loop_btrfs: Any) -> None:
    """The JSON the module renders, given to the real generator on loop btrfs, gives the
    expected mount, backup and watch units: the same files as the equivalent TOML."""
    top = Path(loop_btrfs.mountpoint)
    tree, dest = top / "trees/home", tmp_path / "dest"
    (tree / "x").mkdir(parents=True)
    for leaf in ("@a", "x/@b"):
        subprocess.run(["btrfs", "subvolume", "create", str(tree / leaf)], check=True,
                       capture_output=True)
    machine = f"""{{
      fileSystems."{top}" = {{ device = "{loop_btrfs.device}"; fsType = "btrfs";
                               neededForBoot = true; }};
      services.layout-trees = {{
        enable = true;
        trees.home = {{
          path = "{tree}"; destination = "{dest}"; options = [ "compress=zstd" ]; watch = true;
          backup.targets = [ "{top}/backup" ];
        }};
      }};
    }}"""
    rendered = tmp_path / "layout-trees.json"
    rendered.write_text(evaluated(tmp_path, machine)["etc"]["layout-trees.json"]["text"])
    toml = tmp_path / "layout-trees.toml"
    toml.write_text(f'[tree.home]\npath = "{tree}"\ndestination = "{dest}"\n'
                    f'options = ["compress=zstd"]\nwatch = true\n'
                    f'[tree.home.backup]\ntargets = ["{top}/backup"]\n')
    from_nix = _generate(rendered, tmp_path / "out-nix")
    assert from_nix == _generate(toml, tmp_path / "out-toml")

    for leaf, where in (("@a", dest / "a"), ("x/@b", dest / "x/b")):
        name = subprocess.run(["systemd-escape", "--path", "--suffix=mount", str(where)],
                              capture_output=True, text=True, check=True).stdout.strip()
        unit = from_nix[name]
        assert f"What={loop_btrfs.device}\n" in unit
        assert f"Where={where}\n" in unit
        assert re.search(rf"^Options=subvol=/trees/home/{re.escape(leaf)},subvolid=[0-9]+,"
                         r"compress=zstd$", unit, re.M), unit
    assert {"layout-trees-backup-daily.service", "layout-trees-backup-daily.timer",
            "layout-trees-reload.service"} <= set(from_nix)
    assert "layout-trees-watch.service" in from_nix
