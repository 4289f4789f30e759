"""Behaviour maps and web vitals (DESIGN §9), defined once for the Stats API, the dashboard
and the report.

A map is a grid over one page's document, for one band of viewport widths: 20
columns over the document's width, rows of 100 px from its top, as the
behaviour script measures them.

* **click** map: per cell, clicks (rage and dead ones among them) and the
  distinct visitors who clicked there; a click's cell is ``x`` (‰ of the
  width) in twentieths and ``y`` in hundreds of px.
* **hover** map: per cell, the cursor's dwell time summed over the period
  (``ms``), the engagement events that brought dwell time there
  (``engagements``: a page view sends one when it is hidden or left, seldom
  more) and their distinct visitors.
* **scroll** map: per tenth of the page (0 %, 10 %, … 100 %), the engagement
  events whose deepest scroll reached it, and their distinct visitors.

Vitals are the engagement events' values (``lcp_ms``, ``inp_ms``, ``cls``,
``fcp_ms``, ``ttfb_ms``): per page or device, the 75th percentile
(``quantile_cont``: interpolated, as numpy's default; to the ms, CLS to 4
decimals, as they are stored) and the share of the
measured page views Google's thresholds rate good, needing improvement, or
poor (a value above the first threshold needs improvement, above the second
is poor, as the ``web-vitals`` library rates them).

Suppression (``pipelines/analysis/stats.py``): a cell or row seen by fewer
than ``k`` distinct visitors is withheld (left out and counted, as breakdown
rows are), and a vital measured on fewer than ``k`` page views is null.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from pipelines.analysis.metrics.query import MetricsError

KINDS: Final = ("click", "hover", "scroll")
# Counts of events within a row that k visitors saw, each shown only when k visitors (or
# none) make it up: a single visitor's three rage clicks are theirs alone. The visitors
# behind each are queried beside it (``<count>_visitors``) and never published.
SUB_COUNTS: Final = ("rage_clicks", "dead_clicks")
SUB_COUNT_VISITORS: Final = (
    "count(DISTINCT visitor_key) FILTER (WHERE rage) AS rage_clicks_visitors,\n"
    "       count(DISTINCT visitor_key) FILTER (WHERE dead) AS dead_clicks_visitors"
)
# Viewport widths, in CSS px, as a site's layouts usually break: phones, tablets, desktops.
WIDTHS: Final = {
    "mobile": (0, 767),
    "tablet": (768, 1023),
    "desktop": (1024, 100_000),
}
ALL_WIDTHS: Final = "all"
COLUMNS: Final = 20
ROW_PX: Final = 100
SCROLL_STEP: Final = 10


@dataclass(frozen=True)
class Vital:
    name: str  # the API's and the beacon's name
    column: str  # the events column
    unit: str
    good: float  # at most this: good
    poor: float  # above this: poor; between the two: needs improvement


# Google's thresholds, as the vendored web-vitals library exports them (LCPThresholds …);
# tests/unit/test_behaviour_metrics.py reads them from the library to hold these to it.
VITALS: Final = {
    v.name: v
    for v in (
        Vital("lcp", "lcp_ms", "ms", 2500, 4000),
        Vital("inp", "inp_ms", "ms", 200, 500),
        Vital("cls", "cls", "unitless", 0.1, 0.25),
        Vital("fcp", "fcp_ms", "ms", 1800, 3000),
        Vital("ttfb", "ttfb_ms", "ms", 800, 1800),
    )
}
VITALS_BY: Final = ("page", "device")
_BY_COLUMN: Final = {"page": "path", "device": "device"}

# What a map counts, per kind: the suppressed counts, and the distinct visitors beside them.
MAP_COUNTS: Final = {
    "click": ("clicks", "rage_clicks", "dead_clicks"),
    "hover": ("ms", "engagements"),
    "scroll": ("engagements",),
}


def _scope(kind_type: str) -> str:
    return (
        "site = $site AND date BETWEEN $date_from AND $date_to "
        f"AND type = '{kind_type}' AND path = $page"
    )


def _width(width: str) -> str:
    if width == ALL_WIDTHS:
        return "TRUE"
    if width not in WIDTHS:
        raise MetricsError(f"width is one of {', '.join([*WIDTHS, ALL_WIDTHS])}")
    low, high = WIDTHS[width]
    return f"vw BETWEEN {low} AND {high}"


def heatmap_sql(kind: str, width: str) -> str:
    """One page's map of ``kind`` for a band of viewport widths; parameters ``$site``,
    ``$page``, ``$date_from``, ``$date_to``. Rows are cells (click, hover) or depths
    (scroll), each with ``visitors``."""
    if kind not in KINDS:
        raise MetricsError(f"kind is one of {', '.join(KINDS)}")
    widths = _width(width)
    # Every name below is a constant of this module or checked above; values are bound.
    if kind == "click":
        return f"""
SELECT least(x * {COLUMNS} // 1000, {COLUMNS - 1})::INTEGER AS col,
       (y // {ROW_PX})::INTEGER AS row,
       count(*) AS clicks,
       count(*) FILTER (WHERE rage) AS rage_clicks,
       count(*) FILTER (WHERE dead) AS dead_clicks,
       count(DISTINCT visitor_key) AS visitors,
       {SUB_COUNT_VISITORS}
FROM events
WHERE {_scope("click")} AND x IS NOT NULL AND y IS NOT NULL AND {widths}
GROUP BY ALL ORDER BY row, col"""
    if kind == "hover":
        return f"""
SELECT cell.col::INTEGER AS col, cell.row::INTEGER AS row,
       sum(cell.ms)::BIGINT AS ms,
       count(*) AS engagements,
       count(DISTINCT visitor_key) AS visitors
FROM (
    SELECT visitor_key, unnest(hover) AS cell FROM events
    WHERE {_scope("engagement")} AND hover IS NOT NULL AND {widths}
)
GROUP BY ALL ORDER BY row, col"""
    return f"""
WITH engagements AS (
    SELECT visitor_key, depth FROM events
    WHERE {_scope("engagement")} AND depth IS NOT NULL AND {widths}
)
SELECT step.depth_pct::INTEGER AS depth_pct,
       count(*) FILTER (WHERE e.depth >= step.depth_pct) AS engagements,
       count(DISTINCT e.visitor_key) FILTER (WHERE e.depth >= step.depth_pct) AS visitors
FROM range(0, 101, {SCROLL_STEP}) AS step(depth_pct) CROSS JOIN engagements AS e
GROUP BY ALL ORDER BY depth_pct"""


def click_elements_sql(width: str) -> str:
    """The elements clicked on one page, by their selector: clicks, rage and dead clicks,
    distinct visitors; the same parameters as ``heatmap_sql``."""
    return f"""
SELECT selector, count(*) AS clicks,
       count(*) FILTER (WHERE rage) AS rage_clicks,
       count(*) FILTER (WHERE dead) AS dead_clicks,
       count(DISTINCT visitor_key) AS visitors,
       {SUB_COUNT_VISITORS}
FROM events
WHERE {_scope("click")} AND selector IS NOT NULL AND {_width(width)}
GROUP BY ALL ORDER BY rage_clicks + dead_clicks DESC, clicks DESC, selector LIMIT 50"""


# The site's most clicked elements over every page, rage and dead clicks first: the report's.
SITE_CLICK_ELEMENTS_SQL: Final = f"""
SELECT path, selector, count(*) AS clicks,
       count(*) FILTER (WHERE rage) AS rage_clicks,
       count(*) FILTER (WHERE dead) AS dead_clicks,
       count(DISTINCT visitor_key) AS visitors,
       {SUB_COUNT_VISITORS}
FROM events
WHERE site = $site AND date BETWEEN $date_from AND $date_to AND type = 'click'
  AND selector IS NOT NULL
GROUP BY ALL ORDER BY rage_clicks + dead_clicks DESC, clicks DESC, path, selector LIMIT 50"""


def _vital_columns(vital: Vital) -> str:
    measured = f"count({vital.column})"
    share = f"round(100.0 * count(*) FILTER (WHERE {{}}) / nullif({measured}, 0), 1)"
    name, column = vital.name, vital.column
    # CLS is stored to 4 decimals: its p75 is interpolated between whole ten-thousandths, so
    # both engines interpolate exact numbers and round the same (0.0575 in each, not 0.0576
    # in one of them).
    p75 = (
        f"round(quantile_cont(round({column} * 10000), 0.75)) / 10000"
        if vital.unit == "unitless"
        else f"round(quantile_cont({column}, 0.75))"
    )
    ratings = {
        "good": f"{column} <= {vital.good}",
        "needs_improvement": f"{column} > {vital.good} AND {column} <= {vital.poor}",
        "poor": f"{column} > {vital.poor}",
    }
    shares = "".join(
        f",\n       {share.format(test)} AS {name}_{rated},"
        f"\n       count(*) FILTER (WHERE {test}) AS {name}_{rated}_n"
        for rated, test in ratings.items()
    )
    return f""",
       {p75} AS {name}_p75,
       {measured} AS {name}_samples,
       count(DISTINCT visitor_key) FILTER (WHERE {column} IS NOT NULL) AS {name}_visitors{shares}"""


def vitals_sql(by: str | None) -> str:
    """The p75 and ratings of each vital per page or device (``by``), or over the whole
    site (``None``); parameters ``$site``, ``$date_from``, ``$date_to``."""
    if by is not None and by not in VITALS_BY:
        raise MetricsError(f"by is one of {', '.join(VITALS_BY)}")
    measured = " OR ".join(f"{v.column} IS NOT NULL" for v in VITALS.values())
    group = f"coalesce({_BY_COLUMN[by]}, '(none)') AS {by}, " if by else ""
    columns = "".join(_vital_columns(v) for v in VITALS.values())
    order = f"GROUP BY ALL ORDER BY pageviews DESC, {by}" if by else ""
    return f"""
SELECT {group}count(*) AS pageviews, count(DISTINCT visitor_key) AS visitors{columns}
FROM events
WHERE site = $site AND date BETWEEN $date_from AND $date_to AND type = 'engagement'
  AND ({measured})
{order}"""


def rating(vital: Vital, value: float) -> str:
    """good, needs_improvement or poor, as the library rates a value."""
    if value > vital.poor:
        return "poor"
    if value > vital.good:
        return "needs_improvement"
    return "good"
