# Evaluates nix/module.nix the way NixOS would, with nixpkgs' lib alone (no
# nixpkgs, no NixOS modules): the NixOS options the module sets are declared
# here with the types NixOS gives them, `package` is a stub derivation, and
# failed assertions abort the evaluation with NixOS's message format.
#
#   nix-instantiate --eval --strict --json --readonly-mode tests/nix/eval.nix \
#     --arg lib 'import /path/to/nixpkgs-lib/lib' --arg configuration ./machine.nix
{ lib, configuration, system ? "x86_64-linux" }:

let
  inherit (lib) mkOption types;

  nixosOptions = {
    options = {
      assertions = mkOption { type = types.listOf types.unspecified; default = [ ]; internal = true; };
      warnings = mkOption { type = types.listOf types.str; default = [ ]; internal = true; };

      environment.etc = mkOption {
        default = { };
        type = types.attrsOf (types.submodule ({ name, ... }: {
          options = {
            enable = mkOption { type = types.bool; default = true; };
            target = mkOption { type = types.str; default = name; };
            text = mkOption { type = types.nullOr types.lines; default = null; };
            source = mkOption { type = types.nullOr types.path; default = null; };
            mode = mkOption { type = types.str; default = "symlink"; };
            user = mkOption { type = types.str; default = "+0"; };
            group = mkOption { type = types.str; default = "+0"; };
          };
        }));
      };
      environment.systemPackages = mkOption { type = types.listOf types.package; default = [ ]; };

      systemd.generators = mkOption { type = types.attrsOf types.path; default = { }; };
      systemd.services = mkOption {
        type = types.attrsOf (types.submodule { freeformType = types.attrsOf types.anything; });
        default = { };
      };
      systemd.timers = mkOption {
        type = types.attrsOf (types.submodule { freeformType = types.attrsOf types.anything; });
        default = { };
      };

      fileSystems = mkOption {
        default = { };
        type = types.attrsOf (types.submodule ({ name, ... }: {
          options = {
            mountPoint = mkOption { type = types.str; default = name; };
            device = mkOption { type = types.nullOr types.str; default = null; };
            label = mkOption { type = types.nullOr types.str; default = null; };
            fsType = mkOption { type = types.str; default = "auto"; };
            options = mkOption { type = types.nonEmptyListOf types.str; default = [ "defaults" ]; };
            depends = mkOption { type = types.listOf types.str; default = [ ]; };
            neededForBoot = mkOption { type = types.bool; default = false; };
          };
        }));
      };
    };
  };

  stubPackage = derivation {
    name = "layout-trees-stub";
    inherit system;
    builder = "/bin/sh";
  };

  eval = lib.evalModules {
    modules = [
      nixosOptions
      ../../nix/module.nix
      configuration
      {
        _module.args.pkgs = throw "pkgs is not available when evaluating with lib alone";
        services.layout-trees.package = lib.mkDefault stubPackage;
      }
    ];
  };
  cfg = eval.config;
  failed = map (a: a.message) (builtins.filter (a: !a.assertion) cfg.assertions);
  subOptionNames = opt: builtins.filter (n: !(lib.hasPrefix "_" n))
    (builtins.attrNames (opt.type.getSubOptions [ ]));
  treeOptions = eval.options.services.layout-trees.trees.type.nestedTypes.elemType.getSubOptions [ ];
in
if failed != [ ] then
  throw "\nFailed assertions:\n${lib.concatMapStrings (m: "- ${m}\n") failed}"
else {
  etc = lib.mapAttrs (_: e: { inherit (e) enable target text mode; }) cfg.environment.etc;
  generators = lib.mapAttrs (_: toString) cfg.systemd.generators;
  systemPackages = map toString cfg.environment.systemPackages;
  services = builtins.attrNames cfg.systemd.services;
  timers = builtins.attrNames cfg.systemd.timers;
  inherit (cfg) warnings;
  stub = toString stubPackage;
  treeKeys = builtins.filter (n: !(lib.hasPrefix "_" n)) (builtins.attrNames treeOptions);
  backupKeys = subOptionNames treeOptions.backup;
}
