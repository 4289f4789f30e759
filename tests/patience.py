"""How long tests wait, from one setting: ``CLEARCOUNT_TEST_PATIENCE`` (a factor, default 1).

Every wait in the suite is one of the budgets below times that factor, never
a bare constant, so a suite run on a loaded machine can be given more time in
one place (``make test-busy`` doubles it). The budgets are generous at 1:
a wait ends as soon as its condition holds, so a long budget costs nothing
when things go well and saves a false failure when the machine is busy.
"""

from __future__ import annotations

import os

FACTOR = float(os.environ.get("CLEARCOUNT_TEST_PATIENCE", "1"))


def seconds(base: float) -> float:
    """``base`` seconds, stretched by the patience factor."""
    return base * FACTOR


HTTP_S = seconds(30)  # one request to a running server
START_S = seconds(120)  # a fresh `clearcount serve` to answer /healthz
STOP_S = seconds(90)  # SIGTERM to exit, gunicorn's drain and the loader's included
LOADED_S = seconds(60)  # acknowledged events to show in the views
COMMAND_S = seconds(300)  # a one-shot `clearcount` command (demo traffic, report, erase)
