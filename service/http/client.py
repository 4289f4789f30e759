"""What the request tells about its sender; the raw values stay in memory."""

from __future__ import annotations

import datetime as dt

from flask import Request

from service.ingest.event import Client


def client_from_request(request: Request, now: dt.datetime) -> Client:
    """The client as seen after ProxyFix applied the trusted X-Forwarded-For entries."""
    return Client(
        ip=request.remote_addr or "",
        user_agent=request.headers.get("User-Agent", ""),
        received_at=now,
        dnt=request.headers.get("DNT", "").strip() == "1",
        gpc=request.headers.get("Sec-GPC", "").strip() == "1",
        origin=request.headers.get("Origin"),
    )
