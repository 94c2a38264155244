# A NixOS VM test (flake output checks.<system>.nixos): a machine with a
# tmpfs root and a btrfs disk, mounted in stage 1, holding a layout tree.
# The first boot formats the disk; the test creates leaves, reboots, and
# checks that the generator mounted them, that the backup unit it wrote runs
# the package's own interpreter, and that `layout` works.
#
#   nix build .#checks.x86_64-linux.nixos -L
{ pkgs, module, package }:

pkgs.testers.runNixOSTest {
  name = "layout-trees";

  nodes.machine = { ... }: {
    imports = [ module ];

    virtualisation.diskImage = null; # the root is a tmpfs
    virtualisation.emptyDiskImages = [{
      size = 512;
      driveConfig.deviceExtraOpts.serial = "persist";
    }];
    virtualisation.fileSystems."/mnt/persist" = {
      device = "/dev/disk/by-id/virtio-persist";
      fsType = "btrfs";
      autoFormat = true;
      neededForBoot = true;
    };

    users.users.alice = { isNormalUser = true; uid = 1000; group = "users"; };

    services.layout-trees = {
      enable = true;
      inherit package;
      trees.home = {
        path = "/mnt/persist/trees/home";
        destination = "/home";
        backup = {
          targets = [ "/mnt/persist/backup" ];
          schedule = "daily";
        };
      };
    };
  };

  testScript = ''
    machine.wait_for_unit("multi-user.target")
    machine.succeed("findmnt -n -o FSTYPE / | grep -qx tmpfs")
    machine.succeed("test -f /etc/layout-trees.json")
    machine.succeed("layout --version")

    # The disk is the configuration: give the tree leaves, then reboot.
    machine.succeed(
        "mkdir -p /mnt/persist/trees/home/alice /mnt/persist/backup",
        "chown 1000:100 /mnt/persist/trees/home/alice",
        "btrfs subvolume create /mnt/persist/trees/home/alice/@projects",
        "btrfs subvolume create /mnt/persist/trees/home/@bob",
        "echo kept > /mnt/persist/trees/home/@bob/marker",
    )
    machine.shutdown()
    machine.start()
    machine.wait_for_unit("multi-user.target")

    machine.succeed("findmnt -n -o FSTYPE / | grep -qx tmpfs")
    machine.succeed("findmnt -n -o FSROOT /home/bob | grep -qx /trees/home/@bob")
    machine.succeed("grep -qx kept /home/bob/marker")
    machine.succeed("findmnt -n -o FSROOT /home/alice/projects | grep -qx /trees/home/alice/@projects")
    machine.succeed("test \"$(stat -c %u:%g /home/alice)\" = 1000:100")
    machine.succeed("test -x /etc/systemd/system-generators/layout-trees-generator")

    # The backup units the generator wrote call the package's interpreter, which finds the package.
    machine.succeed("systemctl cat layout-trees-backup-daily.service | grep -q ${package}/libexec/layout-trees/python3")
    machine.succeed("systemctl list-timers --all | grep -q layout-trees-backup-daily.timer")
    machine.succeed("systemctl start layout-trees-backup-daily.service")
    machine.succeed("layout backup verify")
    machine.succeed("layout check")
  '';
}
