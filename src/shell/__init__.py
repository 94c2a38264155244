"""The imperative shell: btrfs, files, processes, logging and the CLI.

One module per effect: ``btrfs`` talks to btrfs, ``run`` runs programs,
``files`` writes files atomically, ``log`` writes log lines, ``cli`` turns
errors into exit codes.  The boot-time ``generator`` imports only what it
needs.
"""
