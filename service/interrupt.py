"""Ctrl-C reaches every process of the terminal's group; only the supervisor acts on it.

A terminal sends SIGINT to the whole foreground process group: ``clearcount serve``,
gunicorn's master, its workers and the loader, all at once. gunicorn treats SIGINT as a
quick shutdown (workers exit mid-request, without handing their segments over in order)
and the loader would stop before the workers' last segments reach it. So
``clearcount serve`` starts its children with SIGINT ignored, as a shell does for a
background job, and stops them itself, in order. gunicorn installs its own SIGINT
handlers in the master and in every worker; ``keep_ignoring`` puts the inherited
disposition back after it. A gunicorn started by hand (a container) has SIGINT as usual.

This module must be imported before gunicorn installs its handlers: the gunicorn
configuration imports it, and workers, forked from the master, inherit what it saw.
"""

from __future__ import annotations

import signal
from typing import Final

IGNORED_AT_START: Final = signal.getsignal(signal.SIGINT) is signal.SIG_IGN


def keep_ignoring() -> None:
    """Ignore SIGINT again if this process started with it ignored."""
    if IGNORED_AT_START:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
