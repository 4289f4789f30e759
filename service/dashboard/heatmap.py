"""The dashboard's heatmap view: one page's click, hover or scroll map, and its vitals.

``/dashboard/<site>/heatmap?page=/pricing&kind=click&width=desktop`` with the
dashboard's period parameters. The numbers are the Stats API's
(``stats.heatmap``, ``stats.click_elements``, ``stats.vitals``). The grid is
drawn by ``dashboard.js`` on a canvas over the page itself, loaded in a
sandboxed frame (no script, no cookies, no forms: the page's own beacon does
not run, so viewing a map counts no visit) when the site says its pages may be
framed (``heatmap_frame``), and over a plain outline of the grid otherwise.
Every cell is also in a table, so the numbers read without script.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import orjson

from pipelines.analysis import stats
from pipelines.analysis.metrics.behaviour import (
    ALL_WIDTHS,
    COLUMNS,
    KINDS,
    ROW_PX,
    VITALS,
    WIDTHS,
    rating,
)
from pipelines.analysis.stats import Query, StatsError
from service.dashboard.render import (
    WITHHELD,
    e,
    format_vital,
    head,
    page_url,
    period_args,
    view_url,
)
from service.sites import Site

# The width a map is drawn at, per band: a typical viewport of each.
DRAWN_WIDTH: Final = {"desktop": 1280, "tablet": 820, "mobile": 390, ALL_WIDTHS: 1280}
MIN_ROWS: Final = 10
MAX_ROWS: Final = 200  # 20,000 px of page: a map longer than that is cut, the table is not
KIND_LABELS: Final = {"click": "Clicks", "hover": "Hovers", "scroll": "Scroll reach"}
HEATMAP_PARAMS: Final = ("period", "date", "from", "to", "auth", "page", "kind", "width")
PERIOD_CHOICES: Final = (("Today", "day"), ("7 days", "7d"), ("30 days", "30d"))
# An origin that may go into the page's Content-Security-Policy (frame-src) as it is.
PLAIN_ORIGIN: Final = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?$")
JS_ASSETS: Final = '<script defer src="/static/dashboard.js"></script>'


@dataclass
class HeatmapView:
    query: Query
    page: str
    kind: str
    width: str
    pages: list[str]
    cells: list[dict[str, Any]]
    withheld: int
    elements: list[dict[str, Any]]
    elements_withheld: int
    vitals: dict[str, Any] | None


# A path as the events table stores it: from "/", no query or fragment, no scheme.
PAGE_PATH: Final = re.compile(r"/(?!/)[^?#\\\s]{0,1023}")
# What the collector itself answers, whatever the site: requests that record, redirect or
# act. A site served from the collector's own origin (the demo) has its pages elsewhere.
COLLECTOR_ROUTES: Final = re.compile(r"/(api|r|dashboard|healthz|readyz|metrics|beacon\.js)(/.*)?")


def is_collector_route(path: str) -> bool:
    return COLLECTOR_ROUTES.fullmatch(path) is not None


def choose(args: Mapping[str, str], pages: list[str]) -> tuple[str, str, str]:
    """The page (the most viewed one unless chosen), kind and width the URL asks for."""
    page = args.get("page") or (pages[0] if pages else "/")
    kind = args.get("kind") or "click"
    width = args.get("width") or "desktop"
    if kind not in KINDS:
        raise StatsError(f"kind is one of {', '.join(KINDS)}")
    if width not in (*WIDTHS, ALL_WIDTHS):
        raise StatsError(f"width is one of {', '.join([*WIDTHS, ALL_WIDTHS])}")
    return page, kind, width


def viewed(data_dir: Path, top: Query, page: str) -> bool:
    """Whether ``page`` is a path the site has page views for in the period.

    The framed page is the site's origin plus this path: anything else (``/r?to=…``,
    ``/api/pixel.gif?…``, a collector route on a site served from the collector) would
    have the dashboard's reader's browser fetch a URL that counts a visit or a click.
    """
    if not PAGE_PATH.fullmatch(page) or is_collector_route(page):
        return False
    # The visits that viewed the page: any row at all (shown, or withheld as too small)
    # means it was viewed, and a path none of them viewed has no visits to show.
    only = dataclasses.replace(top, filters=(("path", page),))
    rows, withheld = stats.breakdown(data_dir, only, "path", 100)
    return withheld > 0 or any(r["value"] == page for r in rows)


def build(data_dir: Path, query: Query, args: Mapping[str, str]) -> HeatmapView:
    query = dataclasses.replace(query, filters=(), compare=False)
    top = dataclasses.replace(query, metrics=("pageviews",))
    pages = [
        r["value"]
        for r in stats.breakdown(data_dir, top, "path", 20)[0]
        if r["value"] and PAGE_PATH.fullmatch(r["value"]) and not is_collector_route(r["value"])
    ]
    page, kind, width = choose(args, pages)
    if args.get("page") and page not in pages and not viewed(data_dir, top, page):
        raise StatsError("page is a path of the site with page views in the period")
    cells, withheld = stats.heatmap(data_dir, query, page, kind, width)
    elements, elements_withheld = (
        stats.click_elements(data_dir, query, page, width) if kind == "click" else ([], 0)
    )
    _, by_page, _ = stats.vitals(data_dir, query, "page")
    vitals = next((row for row in by_page if row["page"] == page), None)
    return HeatmapView(
        query, page, kind, width, pages, cells, withheld, elements, elements_withheld, vitals
    )


def heatmap_url(site: Site, args: Mapping[str, str], **changes: str | None) -> str:
    return page_url(site, args, "/heatmap", HEATMAP_PARAMS, changes)


def frame_origin(site: Site) -> str | None:
    """Where the page is framed from: the site's first origin, when it allows framing."""
    if not site.heatmap_frame:
        return None
    return next((o.rstrip("/") for o in site.origins if PLAIN_ORIGIN.match(o.rstrip("/"))), None)


def _tabs(label: str, site: Site, args: Mapping[str, str], key: str, choices: Any) -> str:
    current = args.get(key) or {"kind": "click", "width": "desktop"}.get(key)
    links = "".join(
        f'<a href="{heatmap_url(site, args, **{key: value})}"'
        f"{' aria-current=page' if value == current else ''}>{e(text)}</a>"
        for text, value in choices
    )
    return f'<nav class="periods" aria-label="{e(label)}">{links}</nav>'


def _controls(view: HeatmapView, site: Site, args: Mapping[str, str]) -> str:
    options = "".join(
        f'<option value="{e(p)}"{" selected" if p == view.page else ""}>{e(p)}</option>'
        for p in dict.fromkeys([view.page, *view.pages])
    )
    hidden = "".join(
        f'<input type="hidden" name="{k}" value="{e(args[k])}">'
        for k in ("period", "date", "from", "to", "auth", "kind", "width")
        if args.get(k)
    )
    today = view.query.today or view.query.date_to
    periods = "".join(
        f'<a href="{heatmap_url(site, args, **period_args(choice, today))}"'
        f"{' aria-current=page' if args.get('period', '30d') == choice else ''}>{e(label)}</a>"
        for label, choice in PERIOD_CHOICES
    )
    kinds = _tabs("Map", site, args, "kind", [(KIND_LABELS[k], k) for k in KINDS])
    widths = _tabs(
        "Viewport width",
        site,
        args,
        "width",
        [(w.capitalize(), w) for w in (*WIDTHS, ALL_WIDTHS)],
    )
    return (
        f'<form class="range" method="get" action="/dashboard/{e(site.id)}/heatmap">{hidden}'
        f'<label>Page <select name="page">{options}</select></label>'
        '<button type="submit">Show</button></form>'
        f'<nav class="periods" aria-label="Period">{periods}</nav>{kinds}{widths}'
    )


def _rows_drawn(view: HeatmapView) -> int:
    deepest = max((c["row"] for c in view.cells if "row" in c), default=0)
    return min(MAX_ROWS, max(MIN_ROWS, deepest + 2))


def _map(view: HeatmapView, site: Site) -> str:
    width = DRAWN_WIDTH[view.width]
    height = _rows_drawn(view) * ROW_PX
    data = {
        "kind": view.kind,
        "columns": COLUMNS,
        "row_px": ROW_PX,
        "width": width,
        "height": height,
        "cells": view.cells,
    }
    payload = orjson.dumps(data).decode().replace("<", "\\u003c")
    origin = frame_origin(site)
    backdrop = (
        f'<iframe class="framed" src="{e(origin + view.page)}" sandbox="" '
        f'referrerpolicy="no-referrer" loading="lazy" width="{width}" height="{height}" '
        f'title="{e(view.page)} as visitors see it (scripts off)"></iframe>'
        if origin
        else ""
    )
    where = (
        "drawn over the page itself, in a sandboxed frame"
        if origin
        else "drawn over an outline of the page (set heatmap_frame = true in the sites "
        "file to see the page beneath, if its pages may be framed by this collector)"
    )
    return (
        f'<div class="map-scroll"><div class="map{" framed" if origin else ""}" '
        f'data-kind="{e(view.kind)}">{backdrop}'
        f'<canvas id="cc-heatmap" width="{width}" height="{height}" role="img" '
        f'aria-label="{e(KIND_LABELS[view.kind])} on {e(view.page)}"></canvas></div></div>'
        f'<script type="application/json" id="cc-heatmap-data">{payload}</script>'
        f'<p class="note">A grid of {COLUMNS} columns over the page\'s width and rows of '
        f"{ROW_PX} px from its top, {e(where)}.</p>"
    )


def _table(columns: list[tuple[str, str]], rows: list[dict[str, Any]], first: str) -> str:
    if not rows:
        return '<p class="empty">No data.</p>'
    heads = "".join(f"<th scope=col>{e(label)}</th>" for _, label in columns)
    body = "".join(
        "<tr>"
        + "".join(
            (f"<th scope=row>{e(r[c])}</th>" if c == first else f"<td>{e(_number(r[c]))}</td>")
            for c, _ in columns
        )
        + "</tr>"
        for r in rows
    )
    return (
        f'<div class="scroll"><table><thead><tr>{heads}</tr></thead><tbody>{body}</tbody>'
        "</table></div>"
    )


def _number(value: Any) -> str:
    if value is None:
        return WITHHELD
    return f"{value:,}" if isinstance(value, int) else str(value)


def _cells_table(view: HeatmapView) -> str:
    if view.kind == "scroll":
        total = max((c["engagements"] for c in view.cells), default=0)
        rows = [
            {
                "depth": f"{c['depth_pct']} %",
                "engagements": c["engagements"],
                "share": f"{100 * c['engagements'] / total:.0f} %" if total else "",
                "visitors": c["visitors"],
            }
            for c in view.cells
        ]
        columns = [
            ("depth", "Reached"),
            ("engagements", "Engagements"),
            ("share", "Share"),
            ("visitors", "Visitors"),
        ]
        return _table(columns, rows, "depth")
    step = 100 // COLUMNS
    place = [
        {
            "where": f"{c['col'] * step}-{(c['col'] + 1) * step} % across, "
            f"{c['row'] * ROW_PX}-{(c['row'] + 1) * ROW_PX} px down",
            **c,
        }
        for c in sorted(view.cells, key=lambda c: -(c.get("clicks") or c.get("ms") or 0))[:50]
    ]
    if view.kind == "click":
        columns = [
            ("where", "Cell"),
            ("clicks", "Clicks"),
            ("rage_clicks", "Rage"),
            ("dead_clicks", "Dead"),
            ("visitors", "Visitors"),
        ]
    else:
        columns = [
            ("where", "Cell"),
            ("ms", "Dwell (ms)"),
            ("engagements", "Engagements"),
            ("visitors", "Visitors"),
        ]
    return _table(columns, place, "where")


def _vitals(view: HeatmapView) -> str:
    if view.vitals is None:
        return '<p class="empty">No web vitals for this page in the period.</p>'
    cells = []
    for name, vital in VITALS.items():
        measured = view.vitals[name]
        if measured["p75"] is None:
            cells.append(
                f'<div class="metric"><h3>{name.upper()}</h3><p class="value">{WITHHELD}</p></div>'
            )
            continue
        rated = rating(vital, measured["p75"]).replace("_", "-")
        cells.append(
            f'<div class="metric"><h3>{name.upper()} (p75)</h3>'
            f'<p class="value rating {rated}">{e(format_vital(vital, measured["p75"]))}</p>'
            f'<p class="previous">{_share(measured["good"])} good · '
            f"{_share(measured['needs_improvement'])} needs improvement · "
            f"{_share(measured['poor'])} poor</p></div>"
        )
    return '<div class="top">' + "".join(cells) + "</div>"


def _share(value: float | None) -> str:
    return WITHHELD if value is None else f"{value:g} %"


def heatmap_page(view: HeatmapView, site: Site, args: Mapping[str, str]) -> str:
    query = view.query
    back = view_url(site, args, filters=None)  # the dashboard, for the same period
    withheld = (
        f'<p class="withheld">{view.withheld} {"cell" if view.withheld == 1 else "cells"} '
        f"{WITHHELD} (fewer than k = {site.k} visitors).</p>"
        if view.withheld
        else ""
    )
    elements = (
        '<section class="panel span" aria-labelledby="h-elements"><header>'
        '<h2 id="h-elements">Clicked elements (rage and dead first)</h2></header>'
        + _table(
            [
                ("selector", "Element"),
                ("clicks", "Clicks"),
                ("rage_clicks", "Rage"),
                ("dead_clicks", "Dead"),
                ("visitors", "Visitors"),
            ],
            view.elements,
            "selector",
        )
        + "</section>"
        if view.kind == "click"
        else ""
    )
    return f"""{head(f"{site.id} heatmap", JS_ASSETS)}
<body>
<a class="skip" href="#main">Skip to the map</a>
<header class="bar">
<h1><a href="/dashboard">clearcount</a>
<span>/ <a href="{back}">{e(site.id)}</a> / heatmap</span></h1>
<button type="button" id="cc-theme" class="theme" aria-pressed="false">Dark theme</button>
</header>
<main id="main">
<div class="controls">{_controls(view, site, args)}</div>
<p class="period">{e(view.page)} · {e(query.date_from)} to {e(query.date_to)} ·
{e(view.width)} viewports · cells fewer than k = {site.k} visitors saw are {WITHHELD}</p>
<section class="panel wide" aria-labelledby="h-map"><header><h2 id="h-map">
{e(KIND_LABELS[view.kind])}</h2></header>{_map(view, site)}{withheld}</section>
<div class="panels">
<section class="panel span" aria-labelledby="h-cells"><header><h2 id="h-cells">
{"Depths reached" if view.kind == "scroll" else "Busiest cells"}</h2></header>
{_cells_table(view)}</section>
{elements}
<section class="panel span" aria-labelledby="h-vitals"><header><h2 id="h-vitals">
Web vitals of this page</h2></header>{_vitals(view)}</section>
</div>
</main>
</body>
</html>
"""
