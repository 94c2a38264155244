{
  description = "layout-trees: mount, back up and check btrfs layout trees on machines with an ephemeral root";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs = { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" ];
      forAllSystems = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in
    {
      overlays.default = final: _prev: {
        layout-trees = final.callPackage ./nix/package.nix { };
      };

      packages = forAllSystems (pkgs: rec {
        layout-trees = pkgs.callPackage ./nix/package.nix { };
        default = layout-trees;
      });

      # Its `package` defaults to pkgs.layout-trees (with the overlay) or builds ./nix/package.nix.
      nixosModules.default = ./nix/module.nix;

      checks = forAllSystems (pkgs: {
        package = self.packages.${pkgs.stdenv.hostPlatform.system}.default;
        nixos = import ./nix/test.nix {
          inherit pkgs;
          module = self.nixosModules.default;
          package = self.packages.${pkgs.stdenv.hostPlatform.system}.default;
        };
      });
    };
}
