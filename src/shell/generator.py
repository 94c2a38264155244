"""``layout-trees-generator NORMAL EARLY LATE``: the systemd generator.

Runs at every boot and every ``daemon-reload``, so it stays lean: no typer,
no rich, no PyYAML unless the configuration really is YAML.  Units go to the
LATE directory so that an explicit unit or fstab entry for the same mount
point wins.  It never fails the boot: every problem is logged with the path
it concerns and everything valid is still generated; the exit status is 0
unless the arguments themselves are wrong.
"""

from __future__ import annotations

import gc
import os
import sys

from ..core.config import Config
from ..core.errors import LayoutError
from ..core.model import Snapshot
from ..core.plan import Plan, SkipReason, make_plan
from ..core.units import GeneratedFile, render
from ..core.wording import count
from .configfile import load_config
from .files import write_generated
from .log import LEVELS, Log
from .scan import scan

NAME = "layout-trees-generator"
_QUIET = {SkipReason.TREE_MISSING: LEVELS["notice"]}


def unit_files(config: Config, snapshot: Snapshot,
               log: Log) -> tuple[Plan, tuple[GeneratedFile, ...]]:
    """The plan and every file the generator writes for it (mount, automount, directory,
    watch and backup units, links and drop-ins): the one answer for the boot-time
    generator and ``layout generate``.  Problems are logged; raises
    :class:`LayoutError` only when rendering refuses a value the plan let through."""
    plan = make_plan(config, snapshot)
    for skip in plan.skips:
        log.log(_QUIET.get(skip.reason, LEVELS["warning"]), f"{skip.detail} [{skip.reason.value}]")
    for note in plan.resolved:
        log.notice(f"tree {note.tree!r}: destination {note.configured} is reached through a "
                   f"symlink; mounting below {note.resolved}")
    files = render(plan, config.source)
    # Watch and backup units only for trees that ask for them: their modules
    # are not imported at all on machines that use neither.
    if any(tree.watch for tree in config.trees):
        from ..core.watch import watch_files

        files += watch_files(config, snapshot, sys.executable)
    if any(tree.backup is not None for tree in config.trees):
        from ..core.backup.units import backup_units, invalid_schedules

        for name, schedule, why in invalid_schedules(config):
            log.error(f"tree {name!r}: backup schedule {schedule!r} is not a valid OnCalendar= "
                      f"expression ({why}); no backup timer for it")
        files += backup_units(config, f"{sys.executable} -m layout_trees.shell.cli")
    return plan, files


def generate(out_dir: str, log: Log, config_path: str | None = None) -> int:
    """Scan, plan and write units into ``out_dir``; return the number of mounts.

    ``out_dir`` is one of the fresh, private directories systemd hands a generator,
    read by nobody before the generator exits: files are written in place there."""
    try:
        parsed = load_config(config_path)
    except LayoutError as exc:
        log.warning(str(exc))
        return 0
    for problem in parsed.problems:
        log.warning(f"{problem.message}" + (f" (hint: {problem.hint})" if problem.hint else ""))
    config = parsed.config
    if not config.trees:
        log.debug("no layout trees configured")
        return 0
    snapshot = scan(config, full=False)
    try:
        plan, files = unit_files(config, snapshot, log)
    except LayoutError as exc:  # the plan refuses unsafe values first: a bug if reached
        log.error(f"refusing to write units: {exc}")
        return 0
    failures = write_generated(out_dir, files, atomic=False)
    for path, exc in failures:
        log.error(f"{os.path.join(out_dir, path)}: cannot write: {exc.strerror or exc}")
    for tree in config.trees:
        mounted = sum(1 for m in plan.mounts if m.tree == tree.name)
        skipped = sum(1 for k in plan.skips if k.tree == tree.name)
        log.info(f"tree {tree.name!r} ({tree.path} -> {tree.destination}): "
                 f"{count(mounted, 'mount')}, {skipped} skipped")
    return len(plan.mounts)


USAGE = f"usage: {NAME} NORMAL_DIR [EARLY_DIR LATE_DIR]"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (1, 3) or any(arg.startswith("-") for arg in args):
        # No options: "--help" must not become an output directory of that name.
        print(f"{USAGE}\n\nsystemd runs this generator at boot and at every daemon-reload;\n"
              "'layout generate DIR' writes the same units for inspection.", file=sys.stderr)
        return 2
    out_dir = args[-1]
    # The run makes no reference cycles worth collecting: the cyclic collector would only
    # walk the snapshot, the plan and the units again and again (about 4 % of the run on
    # 10,000 leaves).  Reference counting still frees memory; the collector is restored
    # for a caller in the same process.
    collecting = gc.isenabled()
    gc.disable()
    as_generator = "SYSTEMD_SCOPE" in os.environ or os.getppid() == 1
    log = Log(NAME, kmsg=as_generator)
    try:
        generate(out_dir, log)
    except Exception as exc:  # never fail the boot, even on a bug
        log.error(f"unexpected error, nothing more generated: {type(exc).__name__}: {exc}")
    finally:
        log.close()
        if collecting:
            gc.enable()
    return 0


def run() -> None:
    """The installed entry point: :func:`main`, then the process ends at once.

    By then every unit is written and closed (``os.write``) and every log line sent;
    what is left is the interpreter freeing its objects one by one and unloading its
    modules, which takes longer than writing a hundred units (about 5 ms here, 18 ms
    with 10,000 leaves).  Output buffered by ``print`` is flushed first."""
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
