"""Ctrl-C reaches every process of the terminal's group; only the supervisor acts on it.

A terminal sends SIGINT to the whole foreground process group: ``clearcount serve``,
gunicorn's master, its workers and the loader, all at once. gunicorn treats SIGINT as a
quick shutdown (workers exit mid-request, without handing their segments over in order)
and the loader would stop before the workers' last segments reach it. So
``clearcount serve`` starts its children with SIGINT ignored (``ignore_interrupts``, from
the moment they exist) and ``SUPERVISED`` in their environment, and stops them itself, in
order. gunicorn installs its own SIGINT handlers in the master and in every worker;
``keep_ignoring`` puts the ignore back after it, under a supervisor only: a gunicorn
started by hand (a container, a script) keeps gunicorn's own Ctrl-C.
"""

from __future__ import annotations

import os
import signal
from typing import Final

SUPERVISED: Final = "CLEARCOUNT_SUPERVISED"  # set by `clearcount serve` for its children


def ignore_interrupts() -> None:
    """In a child of ``clearcount serve``, before it runs anything: SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def ignore_stop_signals() -> None:
    """In the loader ``clearcount serve`` starts: SIGINT and SIGTERM ignored, from the start
    (it stops when its standard input closes)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def keep_ignoring() -> None:
    """Ignore SIGINT again in a process ``clearcount serve`` started (gunicorn replaced the
    disposition it was started with)."""
    if os.environ.get(SUPERVISED) == "1":
        signal.signal(signal.SIGINT, signal.SIG_IGN)
