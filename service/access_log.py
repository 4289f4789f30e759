"""gunicorn's access and error logs, as JSON lines without what identifies a visitor.

The stock access format writes the client address, the query string (the pixel's
``url=``), the Referer and the User-Agent. This logger writes a JSON line with
the method, a known route (never a raw unknown path: it could carry an
e-mail), the status and the duration. gunicorn's own messages (starting,
booting a worker, signals, shutting down) are JSON lines too, in the format of
clearcount's other logs (service.logs), with the process id; an exception is
named by its type only, never its message or traceback, which may quote a request.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import orjson
from gunicorn.glogging import Logger

from service.logs import JsonFormatter

KNOWN_ROUTES = frozenset(
    {
        "/api/event",
        "/api/pixel.gif",
        "/r",
        "/api/consent",
        "/api/forget",
        "/api/export",
        "/beacon.js",
        "/healthz",
        "/readyz",
        "/metrics",
        "/demo",
        "/",
    }
)


class GunicornJsonFormatter(JsonFormatter):
    """service.logs' JSON line, with the process that wrote it (master or which worker).

    gunicorn's debug messages quote requests (their method and path, a parser's bytes):
    below INFO only the message's template is written, never its arguments."""

    def format(self, record: logging.LogRecord) -> str:
        record.pid = record.process
        if record.levelno < logging.INFO and record.args:
            record = logging.makeLogRecord({**record.__dict__, "args": None})
        return super().format(record)


class PrivacyAccessLogger(Logger):  # type: ignore[misc]
    def setup(self, cfg: Any) -> None:
        """gunicorn's handlers, with its error log's lines written as JSON."""
        super().setup(cfg)
        for handler in self.error_log.handlers:
            handler.setFormatter(GunicornJsonFormatter())

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if not self.access_log_enabled:
            return
        path = environ.get("PATH_INFO", "")
        if path.startswith("/api/stats/"):
            route = "/api/stats/*"
        elif path.startswith("/dashboard"):  # never the site or the query (a share token)
            route = "/dashboard/*"
        elif path.startswith("/static/"):
            route = "/static/*"
        else:
            route = path if path in KNOWN_ROUTES else "other"
        status = resp.status.split(None, 1)[0] if isinstance(resp.status, str) else resp.status
        line = {
            "ts": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
            "event": "http_request",
            "method": environ.get("REQUEST_METHOD", ""),
            "route": route,
            "status": int(status),
            "duration_ms": round(request_time.total_seconds() * 1000, 2),
        }
        self.access_log.info(orjson.dumps(line).decode())
