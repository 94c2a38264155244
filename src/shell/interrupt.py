"""Interruption: SIGINT, SIGTERM and SIGHUP handled alike, and undo that cannot be cut short.

Theory of operation.  A command that changes something (``persist``,
``restore``, ``drop``, ``backup run``, ``reload``) runs inside
:func:`interruptible`.  There the three signals a person or a service
manager sends to stop a program (Ctrl-C, ``systemctl stop``/``timeout``, an
ssh session that drops) all raise :class:`Interrupted`, a
``KeyboardInterrupt``, at whatever Python statement runs at the time, so
the command's ``except BaseException`` undo path runs for each of them.
Child processes started through :mod:`layout_trees.shell.run` are put in a
process group of their own and killed with it when the exception passes
through the gateway (they die with us on SIGKILL too: ``PR_SET_PDEATHSIG``).

An :class:`Undo` registers how to undo a step *before* the step is taken
(``undo.add`` then act), and while it runs the three signals are blocked:
a second Ctrl-C waits until everything is undone, then the command ends as
interrupted.  SIGKILL cannot be handled; commands build what they make
where no scan can take it for finished work and move it into place last,
so that a kill leaves at most an inert leftover that the next run removes.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType

from ..core.errors import LayoutError

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(KeyboardInterrupt):
    """A stop signal arrived; ``signum`` says which."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise(signum: int, _frame: FrameType | None) -> None:
    raise Interrupted(signum)


@contextmanager
def interruptible() -> Iterator[None]:
    """Within: SIGINT, SIGTERM and SIGHUP raise :class:`Interrupted`.

    Only in the main thread (Python delivers signals there); elsewhere a no-op."""
    try:
        previous = {sig: signal.signal(sig, _raise) for sig in STOP_SIGNALS}
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def signals_blocked() -> Iterator[list[int]]:
    """Block the stop signals; yields a list that receives those that arrived meanwhile."""
    arrived: list[int] = []
    old = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield arrived
    finally:
        pending = signal.sigpending() & set(STOP_SIGNALS)
        for sig in pending:
            # Consume it while blocked, so it is not delivered at the unblock below.
            signal.sigtimedwait([sig], 0)
            arrived.append(int(sig))
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


@dataclass
class Undo:
    """How to undo what was done, newest first; ``last`` runs after everything else.

    Register a step's undo before taking the step: each undo action must cope
    with the step not having happened (or having half happened)."""

    steps: list[tuple[str, Callable[[], None]]] = field(default_factory=list)
    last: list[tuple[str, Callable[[], None]]] = field(default_factory=list)
    interrupted_by: list[int] = field(default_factory=list)

    def add(self, what: str, action: Callable[[], None]) -> None:
        self.steps.append((what, action))

    def add_last(self, what: str, action: Callable[[], None]) -> None:
        self.last.append((what, action))

    def forget(self) -> None:
        """Everything succeeded: nothing to undo."""
        self.steps.clear()
        self.last.clear()

    def run(self, say: Callable[[str], None]) -> list[str]:
        """Undo everything with the stop signals blocked; return what could not be undone."""
        left: list[str] = []
        with signals_blocked() as arrived:
            for what, action in [*reversed(self.steps), *self.last]:
                try:
                    action()
                    say(f"undone: {what}")
                except (OSError, LayoutError) as exc:
                    left.append(f"{what}: {exc}")
            self.forget()
        self.interrupted_by.extend(arrived)
        return left
