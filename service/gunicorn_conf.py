"""gunicorn configuration for the collector, driven by clearcount's settings.

``clearcount serve`` starts gunicorn with this file; a container can too
(``gunicorn -c python:service.gunicorn_conf service.wsgi:app``).
"""

from __future__ import annotations

from typing import Any

from service.settings import Settings

_settings = Settings.from_env()

bind = _settings.bind
workers = _settings.workers
threads = _settings.threads
worker_class = "gthread"
keepalive = 5
timeout = 30
graceful_timeout = 20
accesslog = "-"
errorlog = "-"
loglevel = _settings.log_level
logger_class = "service.access_log.PrivacyAccessLogger"
control_socket_disable = True
proc_name = "clearcount"


def worker_exit(server: Any, worker: Any) -> None:
    """Hand this worker's open segment to the loader before the process goes."""
    app = getattr(worker, "wsgi", None)
    state = getattr(app, "extensions", {}).get("clearcount") if app is not None else None
    if state is not None:
        state.close()


def child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
