"""gunicorn's access log, without the parts that identify a visitor.

The stock format writes the client address, the query string (the pixel's
``url=``), the Referer and the User-Agent. This logger writes a JSON line with
the method, a known route (never a raw unknown path: it could carry an
e-mail), the status and the duration.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
from gunicorn.glogging import Logger

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


class PrivacyAccessLogger(Logger):  # type: ignore[misc]
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
