"""The dashboard's HTML, rendered on the server from a ``View``.

Everything a person needs works without script: the period picker and every
filter are links (a filtered view is a URL to share or reload), the custom
range is a GET form, each panel's CSV is a link. ``dashboard.js`` adds the
chart (uPlot, vendored), the realtime count's refresh and the theme switch.
Every value from the lake is escaped; the page carries no inline script or
style, so it runs under the same strict Content-Security-Policy as the demo.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import urlencode

import orjson

from pipelines.analysis.metrics import METRICS
from pipelines.analysis.metrics.behaviour import VITALS, Vital, rating
from pipelines.analysis.metrics.query import BUCKET_COLUMN
from service.dashboard.panels import SERIES_METRICS, TOP_METRICS, Panel, View
from service.sites import Site

WITHHELD: Final = "withheld"
# The picker's periods: label → the Stats API's parameters (relative to today).
PERIODS: Final = (
    ("Today", "day"),
    ("Yesterday", "yesterday"),
    ("7 days", "7d"),
    ("30 days", "30d"),
    ("Month to date", "month"),
    ("Last month", "last_month"),
)
# The URL parameters a view keeps when it moves (the period's, the filters, a share token).
VIEW_PARAMS: Final = ("period", "date", "from", "to", "filters", "auth")
LABELS: Final = {
    "value": "",
    "visitors": "Visitors",
    "visits": "Visits",
    "pageviews": "Page views",
    "views_per_visit": "Views per visit",
    "bounce_rate": "Bounce rate",
    "visit_duration": "Visit duration",
    **{name: name.upper() for name in VITALS},
}


def e(text: object) -> str:
    return html.escape(str(text), quote=True)


def period_args(choice: str, today: dt.date) -> dict[str, str]:
    """The Stats API parameters of a picker entry."""
    if choice == "yesterday":
        return {"period": "day", "date": (today - dt.timedelta(days=1)).isoformat()}
    if choice == "last_month":
        last = today.replace(day=1) - dt.timedelta(days=1)
        return {"from": last.replace(day=1).isoformat(), "to": last.isoformat()}
    return {"period": choice}


def view_url(site: Site, args: Mapping[str, str], **changes: str | None) -> str:
    """This view's URL with some parameters changed (None removes one); the period's
    parameters are replaced together."""
    return page_url(site, args, "", VIEW_PARAMS, changes)


def page_url(
    site: Site,
    args: Mapping[str, str],
    where: str,
    keep: tuple[str, ...],
    changes: Mapping[str, str | None],
) -> str:
    """A dashboard page's URL (``where``: "" or ``/heatmap``) keeping the parameters
    ``keep`` of this one, with ``changes``."""
    kept = {k: args[k] for k in keep if args.get(k)}
    if {"period", "from", "to", "date"} & set(changes):
        for key in ("period", "date", "from", "to"):
            kept.pop(key, None)
    for key, value in changes.items():
        if value is None:
            kept.pop(key, None)
        else:
            kept[key] = value
    query = urlencode(kept)
    return f"/dashboard/{e(site.id)}{e(where)}" + (f"?{e(query)}" if query else "")


def filters_text(filters: tuple[tuple[str, str], ...]) -> str:
    return ";".join(f"{name}=={value}" for name, value in filters)


def format_value(name: str, value: Any) -> str:
    if value is None:
        return WITHHELD
    unit = METRICS[name].unit if name in METRICS else ""
    if name == "visit_duration":
        seconds = round(float(value))
        return f"{seconds // 60}m {seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"
    if unit.startswith("%") or name in ("click_to_open", "conversion_rate"):
        return f"{value:.1f} %" if isinstance(value, float) else f"{value} %"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _change(name: str, change: float | None) -> str:
    if change is None:
        return '<span class="change none">—</span>'
    unit = "pp" if METRICS[name].unit.startswith("%") else "%"
    # a higher bounce rate is worse; every other top metric is better higher
    better = change < 0 if name == "bounce_rate" else change > 0
    kind = "flat" if change == 0 else ("up" if better else "down")
    arrow = "↑" if change > 0 else ("↓" if change < 0 else "→")
    return f'<span class="change {kind}">{arrow} {abs(change):g} {unit}</span>'


def _previous(view: View, name: str) -> str:
    """The previous period's value; "no data" when it had no visits (a rate or mean of no
    visits is undefined, not withheld)."""
    previous = view.top[name]["previous"]
    if previous is None and view.top.get("visits", {}).get("previous") == 0:
        return "no data"
    return format_value(name, previous)


def _top(view: View) -> str:
    cards = []
    for name in TOP_METRICS:
        entry = view.top[name]
        cards.append(
            f'<div class="metric" data-metric="{name}"><h3>{e(LABELS[name])}</h3>'
            f'<p class="value">{e(format_value(name, entry["value"]))}</p>'
            f'<p class="previous">{_change(name, entry["change"])} '
            f'<span class="was">vs {e(_previous(view, name))}</span></p></div>'
        )
    return '<section class="top" aria-label="Top metrics">' + "".join(cards) + "</section>"


def _series(view: View, site: Site, args: Mapping[str, str]) -> str:
    label = BUCKET_COLUMN[view.query.interval]
    data = {
        "interval": label,
        "labels": [r[label] for r in view.series],
        "partial": [bool(r["partial"]) for r in view.series],
        "series": {m: [r.get(m) for r in view.series] for m in SERIES_METRICS},
    }
    rows = "".join(
        f"<tr><th scope=row>{e(r[label])}{' (partial)' if r['partial'] else ''}</th>"
        + "".join(f"<td>{e(format_value(m, r.get(m)))}</td>" for m in SERIES_METRICS)
        + "</tr>"
        for r in view.series
    )
    heads = "".join(f"<th scope=col>{e(LABELS[m])}</th>" for m in SERIES_METRICS)
    partial = (
        f'<p class="note">{e(view.query.partial_day)} is today: its numbers are still '
        "growing (marked partial).</p>"
        if view.query.partial_day
        else ""
    )
    payload = orjson.dumps(data).decode().replace("<", "\\u003c")
    return (
        '<section class="panel wide" id="panel-series" aria-labelledby="h-series">'
        f'<header><h2 id="h-series">{"Hourly" if label == "hour" else "Daily"} traffic</h2>'
        f'<a class="csv" href="{_export_url(site, args, "csv/series")}">CSV</a></header>'
        '<div id="cc-chart" class="chart" role="img" aria-label="Visitors and page views over '
        'the period"></div>'
        f'<script type="application/json" id="cc-series">{payload}</script>'
        f"{partial}<details><summary>As a table</summary><table><thead><tr><th scope=col>"
        f"{'Hour (UTC)' if label == 'hour' else 'Day'}</th>{heads}</tr></thead>"
        f"<tbody>{rows}</tbody></table></details></section>"
    )


def _export_url(site: Site, args: Mapping[str, str], what: str) -> str:
    """This view's ``what`` (``csv/<panel>`` or ``export.zip``), with its parameters."""
    kept = {k: args[k] for k in VIEW_PARAMS if args.get(k)}
    query = urlencode(kept)
    return f"/dashboard/{e(site.id)}/{e(what)}" + (f"?{e(query)}" if query else "")


def _cell(
    panel: Panel, column: str, row: dict[str, Any], site: Site, args: Mapping[str, str]
) -> str:
    value = row.get(column)
    if column == panel.columns[0]:
        text = "(none)" if value is None else str(value)
        if panel.filter_by and value is not None and ";" not in str(value):
            current = args.get("filters", "")
            chosen = f"{panel.filter_by}=={value}"
            if chosen not in current.split(";"):
                merged = ";".join(x for x in (current, chosen) if x)
                link = view_url(site, args, filters=merged)
                return (
                    f'<th scope=row><a href="{link}" title="Filter the page by this '
                    f'{e(panel.filter_by)}">{e(text)}</a></th>'
                )
        return f"<th scope=row>{e(text)}</th>"
    if value is None and column not in ("href",):
        return f"<td>{WITHHELD}</td>"
    if column in VITALS and panel.id == "vitals" and value is not None:
        vital = VITALS[column]
        rated = rating(vital, value).replace("_", "-")
        shown = e(format_vital(vital, value))
        return f'<td class="rating {rated}" title="{e(rated.replace("-", " "))}">{shown}</td>'

    return f"<td>{e(format_value(column, value) if column in METRICS else _plain(value))}</td>"


def format_vital(vital: Vital, value: float) -> str:
    if vital.unit == "ms":
        return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.0f} ms"
    return f"{value:.3f}"


def _plain(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _panel(panel: Panel, site: Site, args: Mapping[str, str]) -> str:
    heads = "".join(
        f"<th scope=col>{e(LABELS.get(c, c.replace('_', ' ').capitalize()))}</th>"
        for c in panel.columns
    )
    body = "".join(
        "<tr>" + "".join(_cell(panel, c, r, site, args) for c in panel.columns) + "</tr>"
        for r in panel.rows
    )
    empty = "" if panel.rows or panel.withheld else '<p class="empty">No data.</p>'
    withheld = (
        f'<p class="withheld">{panel.withheld} {"row" if panel.withheld == 1 else "rows"} '
        f"{WITHHELD} (counts below k = {site.k}).</p>"
        if panel.withheld
        else ""
    )
    note = f'<p class="note">{e(panel.note)}</p>' if panel.note else ""
    # wide tables (funnels, campaigns, clicks with their links) take a whole row
    span = " span" if len(panel.columns) > 4 or panel.id == "click_targets" else ""
    table = (
        f'<div class="scroll"><table><thead><tr>{heads}</tr></thead><tbody>{body}</tbody>'
        "</table></div>"
        if panel.rows
        else ""
    )
    return (
        f'<section class="panel{span}" '
        f'id="panel-{e(panel.id)}" data-group="{e(panel.group)}" '
        f'aria-labelledby="h-{e(panel.id)}"><header><h2 id="h-{e(panel.id)}">{e(panel.title)}'
        f'</h2><a class="csv" href="{_export_url(site, args, f"csv/{panel.id}")}" '
        f'aria-label="{e(panel.title)} as CSV">CSV</a></header>{note}{table}{empty}{withheld}'
        "</section>"
    )


def _picker(view: View, site: Site, args: Mapping[str, str], today: dt.date) -> str:
    links = []
    for label, choice in PERIODS:
        wanted = period_args(choice, today)
        current = all(args.get(k) == v for k, v in wanted.items()) and not (
            set(args) & ({"period", "date", "from", "to"} - set(wanted))
        )
        if choice == "30d" and not (set(args) & {"period", "date", "from", "to"}):
            current = True
        links.append(
            f'<a href="{view_url(site, args, **wanted)}"'
            f"{' aria-current=page' if current else ''}>{e(label)}</a>"
        )
    hidden = "".join(
        f'<input type="hidden" name="{k}" value="{e(args[k])}">'
        for k in ("filters", "auth")
        if args.get(k)
    )
    return (
        '<nav class="periods" aria-label="Period">' + "".join(links) + "</nav>"
        f'<form class="range" method="get" action="/dashboard/{e(site.id)}">{hidden}'
        f'<label>From <input type="date" name="from" value="{view.query.date_from}" '
        f'required></label><label>To <input type="date" name="to" '
        f'value="{view.query.date_to}" required></label><button type="submit">Show</button>'
        "</form>"
    )


def _chips(view: View, site: Site, args: Mapping[str, str]) -> str:
    if not view.query.filters:
        return ""
    chips = []
    for i, (name, value) in enumerate(view.query.filters):
        rest = filters_text(tuple(f for j, f in enumerate(view.query.filters) if j != i))
        href = view_url(site, args, filters=rest or None)
        chips.append(
            f'<li class="chip">{e(name.replace("_", " "))} is <strong>{e(value)}</strong> '
            f'<a href="{href}" aria-label="Remove the filter {e(name)} is {e(value)}">'
            "&times;</a></li>"
        )
    clear = view_url(site, args, filters=None)
    return (
        '<ul class="chips" aria-label="Filters">' + "".join(chips) + f'<li><a href="{clear}">'
        "Clear all</a></li></ul>"
    )


def page(
    view: View, site: Site, args: Mapping[str, str], today: dt.date, *, logged_in: bool
) -> str:
    query = view.query
    period = (
        f"{query.date_from}"
        if query.date_from == query.date_to
        else f"{query.date_from} to {query.date_to}"
    )
    previous = query.previous()
    account = (
        '<form method="post" action="/dashboard/logout"><button type="submit">Log out</button>'
        "</form>"
        if logged_in
        else '<span class="shared">Shared view (read only)</span>'
    )
    realtime_src = "/api/stats/realtime?" + urlencode(
        {"site": site.id, **({"auth": args["auth"]} if args.get("auth") else {})}
    )
    groups: dict[str, list[str]] = {}
    for panel in view.panels:
        groups.setdefault(panel.group, []).append(_panel(panel, site, args))
    sections = "".join(
        f'<div class="group" aria-label="{e(g)}">{"".join(parts)}</div>'
        for g, parts in groups.items()
    )
    zip_url = _export_url(site, args, "export.zip")
    return f"""{head(site.id, CHART_ASSETS)}
<body>
<a class="skip" href="#main">Skip to the numbers</a>
<header class="bar">
<h1><a href="/dashboard">clearcount</a> <span>/ {e(site.id)}</span></h1>
<p class="realtime" id="cc-realtime" data-src="{e(realtime_src)}" aria-live="polite">
<span class="dot" aria-hidden="true"></span> <span id="cc-realtime-count">…</span>
visitors in the last 30 minutes</p>
<a href="{_export_url(site, args, "heatmap")}">Heatmaps</a>
<button type="button" id="cc-theme" class="theme" aria-pressed="false">Dark theme</button>
{account}
</header>
<main id="main">
<div class="controls">
{_picker(view, site, args, today)}
</div>
<p class="period">{e(period)} · compared with {e(previous.date_from)} to {e(previous.date_to)}
· counts below k = {site.k} are {WITHHELD}</p>
{_chips(view, site, args)}
{_top(view)}
{_series(view, site, args)}
<div class="panels">
{sections}
</div>
<p class="export"><a href="{zip_url}">Download every panel (zip of CSV files)</a></p>
</main>
</body>
</html>
"""


def picker_page(sites: list[Site], signed_in: str | None) -> str:
    items = "".join(
        f'<li><a href="/dashboard/{e(s.id)}">{e(s.id)}</a>'
        f"{' (signed in)' if s.id == signed_in else ''}</li>"
        for s in sites
    )
    return _plain_page(
        "Dashboards",
        "<p>Each site's numbers, for its owner. Sign in with the site's "
        "<code>stats_token</code> from the sites file.</p>"
        f'<ul class="sites">{items or "<li>No site has a stats_token yet.</li>"}</ul>',
    )


def login_page(sites: list[Site], chosen: str, error: str | None = None) -> str:
    options = "".join(
        f'<option value="{e(s.id)}"{" selected" if s.id == chosen else ""}>{e(s.id)}</option>'
        for s in sites
    )
    alert = f'<p class="error" role="alert">{e(error)}</p>' if error else ""
    return _plain_page(
        "Sign in",
        f"""{alert}<form class="login" method="post" action="/dashboard/login">
<label>Site <select name="site">{options}</select></label>
<label>Token <input type="password" name="token" autocomplete="current-password" required
 autofocus></label>
<button type="submit">Sign in</button>
</form>
<p>The token is the site's <code>stats_token</code> in the sites file.</p>""",
    )


# What the dashboard page adds to the head: the chart library and the page's script.
CHART_ASSETS: Final = """<link rel="stylesheet" href="/static/vendor/uplot/uPlot.min.css">
<script defer src="/static/vendor/uplot/uPlot.iife.min.js"></script>
<script defer src="/static/dashboard.js"></script>"""


def head(title: str, assets: str = "") -> str:
    """Every dashboard page's head: files from /static only, as the CSP requires."""
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>{e(title)} · clearcount</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/dashboard.css">
{assets}
</head>"""


def _plain_page(title: str, body: str) -> str:
    return f"""{head(title)}
<body class="plain">
<main id="main">
<h1><a href="/dashboard">clearcount</a> · {e(title)}</h1>
{body}
</main>
</body>
</html>
"""
