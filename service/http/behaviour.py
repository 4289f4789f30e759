"""GET /api/behaviour.js?site=<id>: the second script, behaviour maps and web vitals (§9).

``beacon.js`` loads it unless the visitor opted out, so the base beacon does
not grow for what only some sites turn on. For a site with ``heatmaps`` or
``vitals`` on, the answer is ``static/behaviour.js`` wrapped with the site's
settings (which of the two, its default consent, whether it requires opt-in)
and, for vitals, Google's ``web-vitals`` library as vendored from npm; for
any other known site an empty script. A site's switch takes effect within
the five minutes browsers may keep the answer.
"""

from __future__ import annotations

import functools

import orjson
from flask import Blueprint, Response, request

from service.http.beacon import STATIC, Asset, gzip9, minified, serve
from service.http.state import state

bp = Blueprint("behaviour", __name__)

SOURCE = STATIC / "behaviour.js"
WEB_VITALS = STATIC / "vendor" / "web-vitals" / "web-vitals.iife.js"
MAX_AGE_S = 300
OFF = b"/* clearcount: behaviour maps and web vitals are off for this site */\n"


def web_vitals() -> str:
    """The library as published, less its source-map comment (the map is not served)."""
    text = WEB_VITALS.read_text(encoding="utf-8")
    return "\n".join(
        line for line in text.splitlines() if not line.startswith("//# sourceMappingURL=")
    )


@functools.cache
def behaviour_asset(heatmaps: bool, vitals: bool, consent: str, opt_in: bool) -> Asset:
    """The script for one combination of site settings. The library declares its one
    global, ``webVitals``, inside the wrapper, so the host page gains no global name."""
    if not (heatmaps or vitals):
        return Asset.of(OFF, gzip9)
    settings = orjson.dumps(
        {"heatmaps": heatmaps, "vitals": vitals, "consent": consent, "optIn": opt_in}
    ).decode()
    library = f"{web_vitals()}\nvar WEB_VITALS=webVitals;\n" if vitals else "var WEB_VITALS=0;\n"
    body = f"(function(SETTINGS){{{library}{minified(SOURCE).decode()}\n}})({settings});\n"
    return Asset.of(body.encode(), gzip9)


@bp.get("/api/behaviour.js")
def behaviour() -> Response:
    site = state().ctx.sites.get(request.args.get("site", ""))
    if site is None:
        return serve(Asset.of(OFF, gzip9), MAX_AGE_S, status=404, stale_s=0)
    return serve(
        behaviour_asset(site.heatmaps, site.vitals, site.default_consent, site.require_opt_in),
        MAX_AGE_S,
        stale_s=0,  # a site's switch reaches its visitors within MAX_AGE_S
    )
