# NixOS module of layout-trees: services.layout-trees.
#
# The configuration is rendered in pure Nix (builtins.toJSON of the same schema
# as /etc/layout-trees.toml, see layout-trees.toml(5)) into
# /etc/layout-trees.json, which the generator reads by default.  The generator
# itself runs at every boot and daemon-reload: it derives the mount units, the
# directories service and, for trees that ask for them, the watch and backup
# units from the disk.  Nothing here needs more than nixpkgs' lib to evaluate.
{ config, lib, pkgs, ... }:

let
  inherit (lib) mkOption mkEnableOption types;

  cfg = config.services.layout-trees;

  backupModule = {
    options = {
      targets = mkOption {
        type = types.nonEmptyListOf types.str;
        example = [ "/mnt/backup/layout" "ssh://nas.example:2222/srv/backup/laptop" ];
        description = ''
          Where the leaves are backed up: absolute directories on btrfs, or
          `ssh://host[:port]/path` (reached as root with root's ssh configuration).
        '';
      };
      schedule = mkOption {
        type = types.str;
        default = "daily";
        description = "When backups run, as a systemd `OnCalendar=` expression (systemd.time(7)).";
      };
      snapshot_dir = mkOption {
        type = types.str;
        default = ".snapshots";
        description = "Where the source snapshots live, relative to the filesystem's top level.";
      };
      snapshot_preserve_min = mkOption {
        type = types.str;
        default = "2d";
        description = "btrbk retention: how long source snapshots are kept at least (btrbk.conf(5)).";
      };
      snapshot_preserve = mkOption {
        type = types.str;
        default = "14d";
        description = "btrbk retention of the source snapshots (btrbk.conf(5)).";
      };
      target_preserve_min = mkOption {
        type = types.str;
        default = "latest";
        description = ''
          btrbk retention on the targets; `"latest"` sends every run's snapshot,
          `"no"` only those the retention keeps.
        '';
      };
      target_preserve = mkOption {
        type = types.str;
        default = "20d 10w *m";
        description = "btrbk retention of the backups on the targets (btrbk.conf(5)).";
      };
    };
  };

  treeModule = { name, ... }: {
    options = {
      path = mkOption {
        type = types.str;
        example = "/mnt/persist/trees/home";
        description = ''
          The layout tree: an absolute path to a directory on btrfs, on a
          filesystem that stage 1 mounts (`neededForBoot`).  `TREE/a/b/@c`
          is mounted at `DESTINATION/a/b/c`.
        '';
      };
      destination = mkOption {
        type = types.str;
        example = "/home";
        description = "Where the tree mounts (an absolute path).";
      };
      device = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "/dev/disk/by-label/persist";
        description = "`What=` of the mount units; by default the source of the mount that holds the tree.";
      };
      options = mkOption {
        type = types.listOf types.str;
        default = [ ];
        example = [ "compress=zstd" "nofail" ];
        description = "Extra mount options, fstab syntax (`x-systemd.*` too), one per string.";
      };
      tree_prefix = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = ''
          Where the filesystem's top level is mounted; when set, `subvol=` is the
          leaf's path below it (the prototype's rule) instead of being asked from btrfs.
        '';
      };
      watch = mkOption {
        type = types.bool;
        default = false;
        description = "Mount and unmount leaves as they appear and disappear, without a reboot.";
      };
      ignore = mkOption {
        type = types.attrsOf types.str;
        default = { };
        example = { LT060 = "scratch space is never backed up"; };
        description = "Rules of `layout check` silenced for this tree, each with its reason.";
      };
      backup = mkOption {
        type = types.nullOr (types.submodule backupModule);
        default = null;
        description = "The tree's backup policy (btrbk); null for none.";
      };
    };
  };

  # The same schema as the TOML file: { tree = { NAME = { path; destination; ... }; }; }.
  renderBackup = b: {
    inherit (b) targets schedule snapshot_dir snapshot_preserve_min snapshot_preserve
      target_preserve_min target_preserve;
  };
  renderTree = t: lib.filterAttrs (_: v: v != null) {
    inherit (t) path destination device options tree_prefix watch ignore;
    backup = if t.backup == null then null else renderBackup t.backup;
  };
  rendered = builtins.toJSON { tree = lib.mapAttrs (_: renderTree) cfg.trees; };

  # Paths NixOS mounts in stage 1 whatever their neededForBoot (utils.fsNeededForBoot).
  pathsNeededForBoot = [ "/" "/nix" "/nix/store" "/var" "/var/log" "/var/lib" "/var/lib/nixos" "/etc" "/usr" ];
  neededForBoot = fs: (fs.neededForBoot or false) || builtins.elem fs.mountPoint pathsNeededForBoot;

  stripSlash = p: if p != "/" && lib.hasSuffix "/" p then stripSlash (lib.removeSuffix "/" p) else p;
  below = mp: p: mp == "/" || p == mp || lib.hasPrefix (mp + "/") p;
  # The fileSystems entry that holds `p`: the one with the longest mount point above it.
  holder = p:
    let
      candidates = builtins.filter (fs: below (stripSlash fs.mountPoint) p) (lib.attrValues config.fileSystems);
      longest = a: b: if builtins.stringLength (stripSlash b.mountPoint) > builtins.stringLength (stripSlash a.mountPoint) then b else a;
    in
    if candidates == [ ] then null else builtins.foldl' longest (builtins.head candidates) candidates;

  treeAssertions = name: t:
    let
      opt = "services.layout-trees.trees.${name}";
      fs = holder (stripSlash t.path);
    in
    [
      {
        assertion = lib.hasPrefix "/" t.destination;
        message = "${opt}.destination = \"${t.destination}\" is not an absolute path.";
      }
      {
        assertion = lib.hasPrefix "/" t.path;
        message = "${opt}.path = \"${t.path}\" is not an absolute path.";
      }
      {
        assertion = !(lib.hasPrefix "/" t.path) || (fs != null && neededForBoot fs);
        message =
          if fs == null then
            "${opt}.path = \"${t.path}\" is on no filesystem in fileSystems: the layout-trees generator runs before any mount of the booted system, so the tree must be on a filesystem with neededForBoot = true."
          else
            "${opt}.path = \"${t.path}\" is on fileSystems.\"${fs.mountPoint}\", which is not mounted in stage 1: set fileSystems.\"${fs.mountPoint}\".neededForBoot = true (the layout-trees generator runs before any mount of the booted system).";
      }
    ];

  byDestination = lib.groupBy (name: stripSlash cfg.trees.${name}.destination) (lib.attrNames cfg.trees);
  clashes = lib.filterAttrs (_: names: builtins.length names > 1) byDestination;

  prototypeMounts = lib.attrByPath [ "roos" "layout-trees" "mounts" ] { } config;
in
{
  options.services.layout-trees = {
    enable = mkEnableOption "layout-trees: mount units for btrfs layout trees, derived from the disk at every boot";

    package = mkOption {
      type = types.package;
      default = pkgs.layout-trees or (pkgs.callPackage ./package.nix { });
      defaultText = lib.literalExpression "pkgs.layout-trees";
      description = "The layout-trees package (its generator, the `layout` command and the units' interpreter).";
    };

    trees = mkOption {
      type = types.attrsOf (types.submodule treeModule);
      default = { };
      example = lib.literalExpression ''
        {
          home = {
            path = "/mnt/persist/trees/home";
            destination = "/home";
            backup.targets = [ "/mnt/backup/layout" ];
          };
        }
      '';
      description = "The layout trees, by name: the keys of `[tree.NAME]` in layout-trees.toml(5).";
    };
  };

  config = lib.mkIf cfg.enable {
    # A copy, not a symlink into the store: readers may refuse to follow symlinks.
    environment.etc."layout-trees.json" = {
      text = rendered;
      mode = "0444";
    };

    systemd.generators.layout-trees = "${cfg.package}/lib/systemd/system-generators/layout-trees-generator";

    environment.systemPackages = [ cfg.package ];

    assertions =
      lib.concatLists (lib.mapAttrsToList treeAssertions cfg.trees)
      ++ lib.mapAttrsToList
        (dest: names: {
          assertion = false;
          message = "services.layout-trees.trees: ${lib.concatStringsSep " and " (map (n: "\"${n}\"") names)} have the same destination ${dest}; give each tree its own.";
        })
        clashes
      ++ [{
        assertion = prototypeMounts == { };
        message = "services.layout-trees and the prototype's roos.layout-trees.mounts are both set: move the mounts to services.layout-trees.trees (see docs/nixos.md) and remove the prototype's module.";
      }];
  };
}
