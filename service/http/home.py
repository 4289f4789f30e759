"""GET /: what a person who opens the collector's address should see.

A short page saying what this collector is, links to what it serves (the
demo shop when ``--demo`` is on, and any other page the app has, such as the
dashboard or the API description, once registered) and the beacon tag for
each configured site, ready to paste. Served under the demo's strict
Content-Security-Policy: no script at all, styles from /static only.

The tag's address is the collector's public URL (``--public-url``, else the bind),
never the request's ``Host``: a client picks that header, and a page showing it would
hand whoever reads it a tag that loads a script from the client's host. A collector on
this machine's loopback address is being tried out with pages on ``localhost``, which
the beacon ignores unless the tag says ``data-allow-local``: its tag says so.
"""

from __future__ import annotations

import html

from flask import Blueprint, Response, current_app

from service.demo_sites import is_local_url, public_url
from service.http.demo import CSP
from service.http.state import state

bp = Blueprint("home", __name__)

# (path, label, what it is): listed only when the app serves the path.
PAGES = (
    ("/dashboard", "Dashboard", "each site's numbers, for its owner"),
    ("/demo", "Demo shop", "a small site that uses the beacon: browse it and watch events arrive"),
    ("/api/openapi.json", "API description", "OpenAPI 3.1 document of every endpoint"),
    ("/healthz", "Health", "liveness; /readyz says whether the collector can take events"),
)


def _served(path: str) -> bool:
    adapter = current_app.url_map.bind("localhost")
    return bool(adapter.test(path, method="GET"))


def beacon_tag(base: str, site_id: str) -> str:
    """The tag to paste for ``site_id``, loading the beacon from ``base``."""
    local = " data-allow-local" if is_local_url(base) else ""
    return f'<script defer src="{base}/beacon.js" data-site="{site_id}"{local}></script>'


def _page() -> str:
    settings = state().ctx.settings
    base = public_url(settings.public_url, settings.bind)
    links = "\n".join(
        f'<li><a href="{path}">{label}</a>: {html.escape(about)}</li>'
        for path, label, about in PAGES
        if _served(path)
    )
    local = (
        "<p>This collector is on this machine's own address, so each tag carries "
        "<code>data-allow-local</code>: the beacon then counts pages on "
        "<code>localhost</code> too, which it otherwise ignores (saying so in the "
        "console). Serve the collector at its public address (<code>--public-url</code>) "
        "for tags to put on a live site.</p>"
        if is_local_url(base)
        else ""
    )
    snippets = "\n".join(
        f"<h3>{html.escape(site_id)}</h3>\n<pre><code>"
        + html.escape(beacon_tag(base, site_id))
        + "</code></pre>"
        for site_id in state().ctx.sites
    )
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>clearcount collector</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/home.css">
</head>
<body>
<main>
<h1>clearcount</h1>
<p>This is a <strong>clearcount</strong> collector: first-party web analytics that respects
consent. Pages that carry its beacon send page views, clicks, scroll depth and engagement
time here; the collector applies each visitor's consent, drops or pseudonymizes the IP
address and every identifier in memory, and only then stores the event.</p>
<h2>Pages</h2>
<ul>
{links}
</ul>
<h2>Add the beacon to a site</h2>
<p>One tag per page, in the <code>&lt;head&gt;</code>. The page's Origin must be listed in
the site's <code>origins</code> in the sites file.</p>
{local}
{snippets}
</main>
</body>
</html>
"""


@bp.get("/")
def home() -> Response:
    return Response(_page(), mimetype="text/html", headers={"Content-Security-Policy": CSP})
