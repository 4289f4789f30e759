"""gunicorn configuration for the collector, driven by clearcount's settings.

``clearcount serve`` starts gunicorn with this file; a container can too
(``gunicorn -c python:service.gunicorn_conf service.wsgi:app``).
"""

from __future__ import annotations

import importlib
import os
from collections import Counter
from collections.abc import Iterable
from typing import Any, Final

from service import interrupt
from service.settings import Settings

_settings = Settings.from_env()

bind = _settings.bind
workers = _settings.workers
threads = _settings.threads
worker_class = "service.worker.BalancedThreadWorker"
keepalive = 5
timeout = 30
graceful_timeout = 20
accesslog = "-"
errorlog = "-"
loglevel = _settings.log_level
logger_class = "service.access_log.PrivacyAccessLogger"
control_socket_disable = True
proc_name = "clearcount"


def cpu_for_new_worker(cpus: Iterable[int], held: Iterable[int | None]) -> int | None:
    """The CPU fewest live workers hold (the lowest on a tie); None when there is nothing to spread.

    ``held`` lists the CPU of every live worker, so a worker that replaces a
    dead one takes the CPU it left free.
    """
    choices = sorted(cpus)
    if len(choices) < 2:
        return None
    counts = Counter(held)
    return min(choices, key=lambda cpu: (counts[cpu], cpu))


# What the master imports before it forks: the collect path and the libraries under the
# rest of the app, about 1.1 s of the 1.3 s a worker spent importing. Not DuckDB: a process
# forked from one that imported it aborts at exit once it has used it ("terminate called
# without an active exception"), so each worker imports DuckDB, and what reads with it,
# itself (tests/unit/test_user_agents.py holds the master to that).
PRELOADED: Final = (
    "service.http.collect",
    "flask_limiter",
    "prometheus_client",
    "pyarrow.dataset",
    "deltalake",
)


def on_starting(server: Any) -> None:
    """Import the app's libraries in the master, once, before it forks any worker.

    Each worker still creates its own app (``service.wsgi``), but starts with Flask,
    pyarrow, delta-rs and the collect path already in memory, shared copy-on-write, instead
    of importing them itself, again for every worker that replaces one. With warm-up on,
    device-detector's rule files are read here too, once for every worker rather than 1 to
    2 s of CPU in each.
    """
    for name in PRELOADED:
        importlib.import_module(name)
    from service.ingest.useragent import warm_up

    if _settings.warm_up:
        warm_up()


def when_ready(server: Any) -> None:
    """Under ``clearcount serve``, leave Ctrl-C to the supervisor (service.interrupt)."""
    interrupt.keep_ignoring()


def pre_fork(server: Any, worker: Any) -> None:
    """Choose, in the master, the CPU this worker will keep."""
    if _settings.pin_workers and hasattr(os, "sched_getaffinity"):
        worker.clearcount_cpu = cpu_for_new_worker(
            os.sched_getaffinity(0),
            (getattr(w, "clearcount_cpu", None) for w in server.WORKERS.values()),
        )


def post_fork(server: Any, worker: Any) -> None:
    """Pin the worker to its CPU.

    A worker's threads share one GIL. Left to float, they pass it between CPUs
    on every blocking call (socket, write, fdatasync), and each hand-off costs
    a cross-CPU wake-up and cold caches: a floating 8-thread worker spends
    about 1.5x the CPU per request of a pinned one on this 2-core machine.
    Pinned, the hand-offs stay on one CPU, and the workers share out the rest.
    """
    cpu = getattr(worker, "clearcount_cpu", None)
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})


def worker_exit(server: Any, worker: Any) -> None:
    """Hand this worker's open segment to the loader before the process goes."""
    app = getattr(worker, "wsgi", None)
    state = getattr(app, "extensions", {}).get("clearcount") if app is not None else None
    if state is not None:
        state.close()


def child_exit(server: Any, worker: Any) -> None:
    """Drop the dead worker's live gauges (multiprocess metrics, as `serve` sets them up)."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return  # started by hand without it: the metrics are per process, nothing to drop
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
