"""GET /demo: a small shop that uses the beacon, so a new user sees events arrive.

Registered only with ``--demo``; served under a strict Content-Security-Policy,
which the beacon works under (no inline code, no eval).
"""

from __future__ import annotations

import html
from pathlib import Path

from flask import Blueprint, Response

from service.http.state import state

bp = Blueprint("demo", __name__)

PAGE = Path(__file__).resolve().parents[1] / "static" / "demo.html"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def _site_id() -> str:
    sites = state().ctx.sites
    return "demo" if "demo" in sites else next(iter(sites))


@bp.get("/demo")
@bp.get("/demo/<path:route>")
def demo(route: str = "") -> Response:
    page = PAGE.read_text(encoding="utf-8").replace("{{site}}", html.escape(_site_id()))
    return Response(page, mimetype="text/html", headers={"Content-Security-Policy": CSP})
