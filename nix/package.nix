# layout-trees as a Nix package: the `layout` command, the systemd generator
# at $out/lib/systemd/system-generators/layout-trees-generator, man pages and
# bash/zsh/fish completions.
#
# The generator writes units that run "python -m layout_trees..." with the
# interpreter it runs under (sys.executable): the backup service runs
# `layout backup run`, the watch service `layout_trees.shell.reload`.  A bare
# Nix python would not find this package, so the generator runs under
# $out/libexec/layout-trees/python3, a wrapper that gives the interpreter this
# package and its dependencies (NIX_PYTHONPATH), names itself as
# sys.executable (NIX_PYTHONEXECUTABLE), and puts the tools the commands call
# on PATH.  The units it writes therefore call that same wrapper.
{ lib
, python3Packages
, makeWrapper
, installShellFiles
, btrfs-progs
, btrbk
, util-linux
, coreutils
}:

let
  pyproject = builtins.fromTOML (builtins.readFile ../pyproject.toml);
  python = python3Packages.python;
  tools = [ btrfs-progs btrbk util-linux coreutils ];
in
python3Packages.buildPythonApplication {
  pname = "layout-trees";
  inherit (pyproject.project) version;
  pyproject = true;

  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions [
      ../pyproject.toml
      ../README.md
      ../src
      ../man
      ../completions
    ];
  };

  build-system = [ python3Packages.setuptools ];
  dependencies = with python3Packages; [ typer pyyaml btrfsutil ];
  nativeBuildInputs = [ makeWrapper installShellFiles ];

  makeWrapperArgs = [
    "--prefix" "PATH" ":" (lib.makeBinPath tools)
    # systemctl, mount helpers and setuid wrappers of the running system
    "--suffix" "PATH" ":" "/run/wrappers/bin:/run/current-system/sw/bin"
  ];

  postInstall = ''
    installManPage man/layout.1 man/layout-trees-generator.8 man/layout-trees.toml.5
    installShellCompletion --cmd layout \
      --bash completions/layout.bash \
      --zsh completions/_layout \
      --fish completions/layout.fish
  '';

  # After wrapPythonPrograms (which buildPythonApplication runs first in postFixup).
  postFixup = ''
    buildPythonPath "$out $pythonPath"
    makeWrapper ${python.interpreter} $out/libexec/layout-trees/python3 \
      --set NIX_PYTHONPATH "$program_PYTHONPATH" \
      --set NIX_PYTHONEXECUTABLE "$out/libexec/layout-trees/python3" \
      --prefix PATH : ${lib.makeBinPath tools} \
      --suffix PATH : /run/wrappers/bin:/run/current-system/sw/bin
    mkdir -p $out/lib/systemd/system-generators
    makeWrapper $out/libexec/layout-trees/python3 \
      $out/lib/systemd/system-generators/layout-trees-generator \
      --add-flags "-m layout_trees.shell.generator"
    rm -f $out/bin/layout-trees-generator $out/bin/.layout-trees-generator-wrapped
    ln -s ../lib/systemd/system-generators/layout-trees-generator $out/bin/layout-trees-generator
  '';

  # The test suite needs root, loop devices and btrfs; the flake's checks boot a VM instead.
  doCheck = false;
  pythonImportsCheck = [ "layout_trees.core.plan" "layout_trees.shell.generator" ];

  meta = {
    description = pyproject.project.description;
    license = lib.licenses.mit;
    platforms = lib.platforms.linux;
    mainProgram = "layout";
  };
}
