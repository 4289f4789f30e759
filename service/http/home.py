"""GET /: what a person who opens the collector's address should see.

A short page saying what this collector is, links to what it serves (the
demo shop when ``--demo`` is on, and any other page the app has, such as the
dashboard or the API description, once registered) and the beacon tag for
each configured site, ready to paste. Served under the demo's strict
Content-Security-Policy: no script at all, styles from /static only.
"""

from __future__ import annotations

import html

from flask import Blueprint, Response, current_app, request

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


def _page() -> str:
    base = request.host_url.rstrip("/")
    links = "\n".join(
        f'<li><a href="{path}">{label}</a>: {html.escape(about)}</li>'
        for path, label, about in PAGES
        if _served(path)
    )
    snippets = "\n".join(
        f"<h3>{html.escape(site_id)}</h3>\n<pre><code>"
        + html.escape(f'<script defer src="{base}/beacon.js" data-site="{site_id}"></script>')
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
{snippets}
</main>
</body>
</html>
"""


@bp.get("/")
def home() -> Response:
    return Response(_page(), mimetype="text/html", headers={"Content-Security-Policy": CSP})
