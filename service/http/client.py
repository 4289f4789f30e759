"""What the request tells about its sender; the raw values stay in memory."""

from __future__ import annotations

import datetime as dt

from flask import Request

from service.ingest.event import Client


def client_from_request(request: Request, now: dt.datetime) -> Client:
    """The client as seen after ProxyFix applied the trusted X-Forwarded-For entries.

    Read from the WSGI environ, where ``request.remote_addr`` and
    ``request.headers`` read them too, without a proxy lookup and a header-name
    conversion for every value: this runs once for every ingest request.
    """
    environ = request.environ
    return Client(
        ip=environ.get("REMOTE_ADDR") or "",
        user_agent=environ.get("HTTP_USER_AGENT", ""),
        received_at=now,
        dnt=environ.get("HTTP_DNT", "").strip() == "1",
        gpc=environ.get("HTTP_SEC_GPC", "").strip() == "1",
        origin=environ.get("HTTP_ORIGIN"),
    )
