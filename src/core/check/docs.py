"""What each rule of ``layout check`` means, with a tree that triggers it and one that
does not: the text ``layout check --explain LTxxx`` prints and the rule sections of
``docs/rules.md`` are made of (``scripts/doctables`` writes them there; a test keeps
the two the same).

Markdown, one entry per rule id, without the heading (the registry adds the id, name
and severity).
"""

from __future__ import annotations

RULE_DOCS: dict[str, str] = {
    "LT001": r"""
A part of the configuration cannot be used: TOML syntax, an unknown key (with a
"did you mean" hint), a value of the wrong type, a missing `path` or
`destination`, an invalid backup table, a prototype entry that is not a mapping.
The rest of the configuration is still checked; the broken tree is ignored,
exactly as the boot-time generator ignores it.

Triggers:
```toml
[tree.t]
pth = "/trees/t"          # unknown key 'pth' (hint: did you mean 'path'?)
destination = "/srv/t"
```
Does not trigger:
```toml
[tree.t]
path = "/trees/t"
destination = "/srv/t"
```
""",
    "LT002": r"""
The configuration is the earlier prototype's list (`layout_tree`, `destination`,
...). It still works; trees are named after their escaped destination
(`srv-t`) and cannot set `ignore`, `watch` or `backup`.

Triggers:
```yaml
- layout_tree: /trees/t
  destination: /srv/t
```
Does not trigger: the same tree written as `[tree.t]` in TOML.
""",
    "LT003": r"""
A tree's `ignore` names a rule id that does not exist (a typo silences nothing).

Triggers:
```toml
ignore = ["LT999"]
```
Does not trigger:
```toml
ignore = ["LT060"]
```
""",
    "LT010": r"""
The tree's `path` does not exist, is not a directory, cannot be read, or (when
checking a snapshot with `--config`) is not in the snapshot. The generator
only warns about this at boot (a tree on a removable disk may be absent);
`check` treats it as an error.

Triggers:
```
/trees/t            (does not exist)
```
Does not trigger:
```
/trees/t/           (an empty directory on btrfs)
```
""",
    "LT011": r"""
The tree is on another filesystem (ext4, tmpfs, ...): there is nothing to mount.

Triggers:
```
/trees/t/           on ext4
```
Does not trigger:
```
/trees/t/           on btrfs
```
""",
    "LT012": r"""
The configured `device` (a path, or `UUID=`/`LABEL=`/`PARTUUID=`/`PARTLABEL=`)
does not exist on the machine that was scanned, or no device is configured and
the scan could not tell which device holds the tree.

Triggers:
```toml
device = "/dev/disk/by-label/gone"      # no such device
```
Does not trigger:
```toml
device = "/dev/disk/by-label/data"      # exists
```
""",
    "LT013": r"""
A mount option has a value systemd would refuse; no leaf of the tree is mounted.

Triggers:
```toml
options = ["x-systemd.mount-timeout=soon"]
```
Does not trigger:
```toml
options = ["x-systemd.mount-timeout=30s"]
```
""",
    "LT014": r"""
`subvol=` or `subvolid=` in `options` would override the subvolume of each
leaf; the generator drops them.

Triggers:
```toml
options = ["subvol=/x", "noatime"]
```
Does not trigger:
```toml
options = ["noatime"]
```
""",
    "LT015": r"""
An `x-systemd.*` option systemd does not know (usually a typo, silently
ignored by systemd), or one that has no effect on a leaf
(`x-systemd.makefs`, `x-systemd.growfs`, `x-systemd.pcrfs`, `x-initrd.mount`).

Triggers:
```toml
options = ["x-systemd.automont"]
```
Does not trigger:
```toml
options = ["x-systemd.automount"]
```
""",
    "LT020": r"""
An entry named `@...` is a plain directory or file, so it is not mounted.

Triggers:
```
/trees/t/
└── @data/          directory
```
Does not trigger:
```
/trees/t/
└── @data/          subvolume
```
""",
    "LT021": r"""
A subvolume in the structure has no `@` name. Its own files are mounted
nowhere: `/srv/t/data` is an empty directory on the root filesystem, not this
subvolume. (`@` leaves below it are still mounted.)

Triggers:
```
/trees/t/
└── data/           subvolume
```
Does not trigger:
```
/trees/t/
└── @data/          subvolume
```
""",
    "LT022": r"""
An `@` subvolume lies inside a leaf. The scan never descends into leaves, so it
is not mounted on its own; it is only visible inside its parent's mount. Found
by listing the subvolumes below each leaf (one btrfs tree search per leaf,
needs root; without btrfsutil this rule and LT023 cannot see anything).

Triggers:
```
/trees/t/
└── @home/          subvolume
    └── x/
        └── @y/     subvolume
```
Does not trigger:
```
/trees/t/
├── @home/          subvolume
└── x/
    └── @y/         subvolume (mounted at /srv/t/x/y)
```
""",
    "LT023": r"""
A leaf contains subvolumes without `@`. They are visible in the leaf's mount,
but a snapshot (and so a backup) of the leaf shows them as empty directories.

Triggers:
```
/trees/t/
└── @vm/            subvolume
    └── images/     subvolume
```
Does not trigger:
```
/trees/t/
├── @vm/            subvolume
└── @vm-images/     subvolume
```
""",
    "LT024": r"""
An `@` subvolume is read-only (usually a snapshot left in the tree) and is not
mounted.

Triggers:
```
/trees/t/
└── @data/          subvolume, read-only
```
Does not trigger:
```
/trees/t/
└── @data/          subvolume
```
""",
    "LT025": r"""
A symlink in the structure is never followed: leaves behind it are not mounted.

Triggers:
```
/trees/t/
└── www -> /trees/other/www
```
Does not trigger:
```
/trees/t/
└── www/            directory
```
""",
    "LT026": r"""
Something is mounted inside the tree, e.g. a subvolume of another filesystem
bind-mounted into it. The scan does not cross mount points, so it is not
mounted at boot, and neither is anything below it.

Triggers:
```
/trees/t/
└── extra/          (mount --bind /mnt/other/@extra /trees/t/extra)
```
Does not trigger:
```
/trees/t/
└── extra/          directory
```
""",
    "LT027": r"""
An entry could not be read (permissions, I/O error); nothing at or below it is
mounted.

Triggers:
```
/trees/t/
└── private/        mode 0000, checked by a non-root user
```
Does not trigger:
```
/trees/t/
└── private/        mode 0700, checked by root
```
""",
    "LT030": r"""
A leaf's path contains a name that cannot be written safely into a unit file:
a comma (it would inject mount options), a control character such as a newline
(it would inject unit lines), bytes that are not UTF-8, surrounding blanks, a
trailing backslash, or a mount point whose unit name is longer than 255
characters. The leaf is not mounted; names are never "fixed" silently.

Triggers:
```
/trees/t/
└── @a,uid=0/       subvolume
```
Does not trigger:
```
/trees/t/
└── @a_uid_0/       subvolume
```
""",
    "LT031": r"""
The unit name of a leaf's mount point holds an escape one would not guess from
the path. Everyone who uses systemd knows two rules: `/` becomes `-` and `-`
becomes `\x2d` (`/srv/t/5-VMs` is `srv-t-5\x2dVMs.mount`). Anything else that
`systemd-escape --path` escapes in the names the tree adds below the
destination is noted: a blank (`\x20`), a letter that is not ASCII (one `\xNN`
per UTF-8 byte), other punctuation such as `+` or `@`, a backslash, or a dot
that starts the whole name (a leaf at `/.cache` is `\x2ecache.mount`; a dot
anywhere else stays a dot). Nothing is wrong; the note gives the unit name to
use with `systemctl`.

Triggers:
```
/trees/t/
└── @my data/       subvolume   (unit srv-t-my\x20data.mount)
```
Does not trigger:
```
/trees/t/
├── @my-data/       subvolume   (unit srv-t-my\x2ddata.mount)
└── @.local/        subvolume   (unit srv-t-.local.mount)
```
""",
    "LT040": r"""
Several leaves, in one tree or in different trees, map to the same mount point.
None of them is mounted.

Triggers:
```
/trees/t/
├── @a/             subvolume   -> /srv/t/a
└── a/
    └── @/          subvolume   -> /srv/t/a
```
Does not trigger:
```
/trees/t/
├── @b/             subvolume   -> /srv/t/b
└── a/
    └── @/          subvolume   -> /srv/t/a
```
""",
    "LT041": r"""
A leaf of one tree is mounted inside a leaf of another tree, so it hides part
of that leaf's files. (Leaves nested inside leaves of the *same* tree are an
intended layout and not reported.)

Triggers: tree `t` with destination `/srv`, tree `u` with destination `/`:
```
/trees/t/                        /trees/u/
└── @www/   -> /srv/www          └── srv/www/@img/  -> /srv/www/img
```
Does not trigger: `u` holds `srv/static/@img` instead. (A tree whose
destination or structure directories lie *inside* another tree's leaf mount,
e.g. `u` with destination `/srv/www/static`, would set owners on that leaf's
content and is refused instead: `LT044`.)
""",
    "LT042": r"""
`/etc/fstab` already mounts a leaf's mount point. The fstab line wins and the
leaf is not mounted.

Triggers: `/etc/fstab` has a line for `/srv/t/a`, and
```
/trees/t/
└── @a/             subvolume
```
Does not trigger: `/etc/fstab` mounts `/srv/t` (a parent) only.
""",
    "LT043": r"""
A leaf would be mounted where no leaf may go: `/` itself (a unit `-.mount`
would claim the root filesystem), `/proc`, `/sys`, `/dev`, `/run` or below
(systemd mounts those itself), over a tree's own directory or one of its
parents, over the mount point of the filesystem holding a tree, or inside a
tree's directory. The leaf is not mounted; the other leaves are, and none of
them is reported as hidden by it (`LT041`).

Triggers: destination `/` and
```
/trees/t/
├── @/              subvolume (would be mounted at /)
└── @b/             subvolume
```
Does not trigger: the same tree with destination `/srv/t` (`@` mounts at `/srv/t`).
""",
    "LT044": r"""
Two configured trees overlap: one lies inside the other (in its structure or
inside one of its leaves, by path or by subvolume on the same filesystem), they
are the same directory, or they share a destination (one would silently drop
the other's owners and modes). The inner tree (of two equal ones, the one whose
name sorts last) is not mounted at all, so that every subvolume belongs to one
tree, is mounted once and backed up once.

The same holds for a tree whose directories would drop another tree's owners:
a directory both trees own with different owners or modes (the tree whose
name sorts last is refused), or a destination or structure directory inside
another tree's leaf mount (it would change the owners of that leaf's content).

Triggers: trees `t` and `u` both with destination `/srv/x`.
Does not trigger: `t` at `/srv/x`, `u` at `/srv/y`.
""",
    "LT045": r"""
A tree's destination crosses a symlink that a non-root user can change (a
symlink not owned by root, or in a directory others can write). Following it
would let that user choose where root mounts the tree, so the tree is not
mounted. Symlinks that only root controls are resolved instead (`LT046`).

Triggers: destination `/srv/t` where `/srv` is a symlink owned by uid 1000.
Does not trigger: `/srv` a real directory.
""",
    "LT046": r"""
A tree's destination is reached through a symlink that only root controls
(`/home` -> `/var/home`, as on Fedora Silverblue). The scan resolves it once,
as systemd-fstab-generator resolves mount points, and every unit, `reload` and
`persist` use the resolved path (systemd refuses a `Where=` that crosses a
symlink). `layout plan` says so.

Triggers: destination `/srv/t` where `/srv` -> `/var/srv`.
Does not trigger: `/srv` a real directory.
""",
    "LT047": r"""
A leaf's mount point is reached through a symlink (or something that is not a
directory) below the tree's destination, e.g. `/srv/t/a` is a symlink and
the leaf `a/@b` would mount at `/srv/t/a/b`. `layout reload` and
`layout persist` never follow it (the leaf is skipped and reported), and
systemd refuses a `Where=` containing a symlink. Found by `layout check` on
the live system (an `lstat` of each path from the destination down to each
mount point); a check of a snapshot file does not see it.

Triggers: `/srv/t/a -> /elsewhere` (a symlink), and
```
/trees/t/
└── a/
    └── @b/         subvolume
```
Does not trigger: `/srv/t` itself a symlink (the destination is the
configuration's; see the destination rules).
""",
    "LT050": r"""
**Security.** A directory of the structure (the tree root, or a directory or
non-`@` subvolume between the root and the leaves) can be written by a
non-root user, and the mount points under it lie outside that user's home
directory. That user can create a subvolume named `@anything` there (btrfs
lets any user create subvolumes) and at the next boot it is mounted over the
matching path, e.g. over `/srv/t/etc` or, with destination `/`, over `/etc`.

"Can be written" is the effective permission to create, delete or rename
entries (write *and* search), decided as the kernel decides it:

- the **owner** counts whatever the mode says, since an owner can always `chmod`;
- an **access ACL** (`system.posix_acl_access`, as `setfacl` sets it): a named
  user entry, the owning group or a named group entry, each limited by the
  ACL mask, and the other entry;
- without an ACL, the **group** bits for the owning group's members and the
  **other** bits for everyone else.

A group counts through its members, as `/etc/group` lists them (with the users
whose primary group it is in `/etc/passwd`): a group whose only members are
root, or whose members all have the mount points in their home, is not
reported; a group that `/etc/group` does not list (from a network directory)
counts as a writer, except root's group. Search permission on the directories
above is not required (a directory can be reached through an open descriptor
or a bind mount). Home directories come from the password database; `layout
snapshot` records homes, group members and ACLs. Leaves themselves may belong
to users: their contents are not structure. One finding per directory and
writer; directories below one already reported for the same writer are not
reported again.

Triggers: destination `/srv`,
```
/trees/t/
└── alice/          directory, owner alice (home /home/alice)
    └── @data/      subvolume
```
and, with the same destination,
```
/trees/t/           directory 0775 root:root, setfacl -m u:1000:rwx
└── etc/            directory 0755 root:root
```
Does not trigger: the first tree with destination `/home` (alice's directory
maps to her own home `/home/alice`); the second with the ACL entry `u:1000:r-x`
(or the mask `m::r-x`).
""",
    "LT051": r"""
**Security.** A directory *above* the tree root (from `/` down to the tree
root's parent, of the configured path and of the path its symlinks resolve
to) can be written by a non-root user, with the same meaning of "written" as
in LT050. That user can rename the tree directory away and put a directory of
their own, full of `@` subvolumes, in its place: every leaf of that directory
is mounted below the destination at the next boot or reload. In a sticky
directory (mode `+t`, like `/tmp`) only the directory's owner can do that to a
tree directory they do not own (a tree directory they own is reported by
LT050). A directory whose next component on the way is a mount point (the
filesystem holding the tree, say) is not reported: a mount point cannot be
renamed. A writer whose home holds the whole destination is not reported.
One finding per writer, at the highest directory it can write.

Triggers:
```
/trees/             directory 0775 root:root, setfacl -m u:1000:rwx
└── t/              the tree, 0755 root:root
```
Does not trigger:
```
/trees/             directory 0755 root:root
└── t/              the tree, 0755 root:root
```
""",
    "LT060": r"""
A leaf is not covered by a backup policy: its tree has no `backup` table, or
the leaf's `user.layout-trees.backup` attribute holds a value other than `skip`
(not understood, so `backup verify` counts the leaf as not covered either).
A leaf that is not to be backed up is excluded with
`layout backup exclude PATH`; `layout backup include PATH` removes the
attribute again.

Triggers:
```toml
[tree.t]
path = "/trees/t"
destination = "/srv/t"
```
with a leaf `@a`. Does not trigger: the same tree with
`backup = { targets = ["/mnt/backup"] }`.
""",
    "LT061": r"""
A leaf is explicitly excluded from backups with `layout backup exclude PATH`
(the attribute `user.layout-trees.backup=skip` on the subvolume, which travels
with the data).

Triggers:
```
/trees/t/
└── @cache/         subvolume, user.layout-trees.backup=skip
```
Does not trigger:
```
/trees/t/
└── @cache/         subvolume, no attribute
```
""",
    "LT062": r"""
A backup policy's `schedule` is not a calendar expression systemd accepts
(validated as `systemd-analyze calendar` does). The generator writes no timer
for it (with a log line) and every `layout backup` command exits 2 until it is
fixed; the tree's mounts are not affected.

Triggers:
```toml
[tree.t.backup]
targets = ["/mnt/backup"]
schedule = "dayly"
```
Does not trigger: `schedule = "daily"`, `"Mon..Fri 02:30"`, `"*-*-* 00/6:00:00 UTC"`.
""",
    "LT063": r"""
A backup target cannot take backups now: the `ssh://` host cannot be reached
(the message carries ssh's error), or the directory (or its nearest existing
parent) is not on btrfs or not writable. `layout check` probes each target once
when it scans the machine (not for `--snapshot`); `layout backup run` does the
same before it starts, leaves such a target out and reports it.

Triggers:
```toml
[tree.t.backup]
targets = ["/tmp/backup"]        # /tmp is a tmpfs
```
Does not trigger: a target directory on a mounted, writable btrfs filesystem.
""",
    "LT070": r"""
The trees with `watch = true` together have more structure directories (tree
roots, and directories and non-`@` subvolumes not inside a leaf) than the
watch service follows on the scanned machine (8192, and never more than a
quarter of its `fs.inotify.max_user_watches`, which `layout snapshot` records;
see [live.md](live.md#the-watch)).
The same holds for structure more than 200 levels deep, which the watch does
not descend into. The watch then follows what it can and rescans all the
trees every minute, so a leaf created in a directory it does not follow is
mounted up to a minute later. The service says so in its log.

Triggers: a tree with `watch = true` and 8,192 directories in its structure
(8,193 with the tree root).
Does not trigger: the same tree with 8,191 directories, or with `watch = false`.
""",
}
