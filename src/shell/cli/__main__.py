"""``python -m layout_trees.shell.cli``: the ``layout`` command (the backup units run it so)."""

from . import main

main()
