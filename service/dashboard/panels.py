"""The dashboard's panels: what each shows, read through the Stats API's functions.

Every number on the page comes from ``pipelines.analysis.stats`` (the Stats
API's own code over the metrics layer), with the query the page's URL
describes, so a panel, its CSV and the API answer for the same parameters
are the same rows. A panel that a filter cannot narrow (e-mail opens,
quarantined and denied events are not part of a visit; goals count the
whole site) says so and shows the whole site.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from pipelines.analysis import stats
from pipelines.analysis.metrics import breakdown_metrics
from pipelines.analysis.metrics.behaviour import VITALS
from pipelines.analysis.metrics.query import BUCKET_COLUMN
from pipelines.analysis.stats import Query

# The top metrics and the series: the Stats API's defaults, the numbers scripts get too.
TOP_METRICS: Final = stats.DEFAULT_AGGREGATE
SERIES_METRICS: Final = stats.DEFAULT_TIMESERIES
NOT_FILTERED = "not narrowed by the filters: {why}"
ALL_PAGES = "All pages"


@dataclass
class Panel:
    id: str
    title: str
    columns: list[str]
    rows: list[dict[str, Any]]
    withheld: int = 0
    # the property a row's value filters the page by (None: rows are not filters)
    filter_by: str | None = None
    note: str | None = None
    group: str = ""


@dataclass(frozen=True)
class PanelSpec:
    id: str
    title: str
    group: str
    read: Callable[[Path, Query], Panel]


@dataclass
class View:
    query: Query
    top: dict[str, Any]
    series: list[dict[str, Any]]
    panels: list[Panel] = field(default_factory=list)


def _breakdown(prop: str, title: str, group: str) -> PanelSpec:
    metrics = breakdown_metrics(prop)
    shown = tuple(m for m in ("visitors", "visits", "pageviews") if m in metrics)

    def read(data_dir: Path, query: Query) -> Panel:
        asked = dataclasses.replace(query, metrics=shown, compare=False)
        rows, withheld = stats.breakdown(data_dir, asked, prop, 100)
        return Panel(prop, title, ["value", *shown], rows, withheld, filter_by=prop)

    return PanelSpec(prop, title, group, read)


def _whole_site(query: Query, why: str | None) -> tuple[Query, str | None]:
    """The query without its filters, and the note saying why, for a panel that a filter
    cannot narrow (``why`` None: one that it can)."""
    if why is None or not query.filters:
        return query, None
    return dataclasses.replace(query, filters=()), NOT_FILTERED.format(why=why)


def _table(name: str, title: str, group: str, why: str | None = None) -> PanelSpec:
    def read(data_dir: Path, query: Query) -> Panel:
        query, note = _whole_site(query, why)
        rows, withheld = stats.table(data_dir, query, name)
        columns = list(rows[0]) if rows else list(_TABLE_COLUMNS[name])
        return Panel(name, title, columns, rows, withheld, note=note)

    return PanelSpec(name, title, group, read)


_TABLE_COLUMNS: Final = {
    "bot_share": ("reason", "events"),
    "click_targets": ("name", "href", "clicks"),
    "consent_mix": ("consent", "events"),
    "custom_events": ("name", "events", "visitors"),
    "scroll_depth": ("path", "depth_pct", "engagements"),
}


def _email(data_dir: Path, query: Query) -> Panel:
    query, note = _whole_site(query, "an e-mail open is not part of a visit")
    rows, withheld = stats.email_campaigns(data_dir, query)
    columns = ["campaign", "opens", "clicks", "openers_who_clicked", "click_to_open"]
    return Panel("email_campaigns", "E-mail campaigns", columns, rows, withheld, note=note)


VITALS_COLUMNS: Final = ("page", "pageviews", *VITALS)


def _vitals(data_dir: Path, query: Query) -> Panel:
    """The 75th percentile of each web vital, for every page together and per page, each
    value rated by Google's thresholds where it shows."""
    query, note = _whole_site(query, "web vitals are read for the whole site")
    total, rows, withheld = stats.vitals(data_dir, query, "page")
    flat = [
        {"page": row["page"], "pageviews": row["pageviews"]}
        | {name: row[name]["p75"] for name in VITALS}
        for row in ([{**total, "page": ALL_PAGES}] if total else []) + rows
    ]
    return Panel("vitals", "Web vitals (p75)", list(VITALS_COLUMNS), flat, withheld, note=note)


def _goals(data_dir: Path, query: Query) -> Panel:
    query, note = _whole_site(query, "goals count the whole site")
    goals, _ = stats.goals(data_dir, query)
    columns = ["goal", "visitors", "conversions", "conversion_rate"]
    rows = [{c: g.get(c) for c in columns} for g in goals]
    return Panel("goals", "Goals", columns, rows, note=note)


def _funnels(data_dir: Path, query: Query) -> Panel:
    query, note = _whole_site(query, "funnels count the whole site")
    _, funnels = stats.goals(data_dir, query)
    columns = ["funnel", "step", "goal", "visits", "visitors", "drop_off", "conversion_rate"]
    rows = [
        {"funnel": f["name"], "step": i + 1, **{c: s.get(c) for c in columns[2:]}}
        for f in funnels
        for i, s in enumerate(f["steps"])
    ]
    return Panel("funnels", "Funnels", columns, rows, note=note)


PANELS: Final = (
    _breakdown("path", "Top pages", "Pages"),
    _breakdown("entry_path", "Entry pages", "Pages"),
    _breakdown("exit_path", "Exit pages", "Pages"),
    _breakdown("source", "Sources", "Sources"),
    _breakdown("referrer_host", "Referrers", "Sources"),
    _breakdown("utm_source", "UTM sources", "Campaigns"),
    _breakdown("utm_medium", "UTM mediums", "Campaigns"),
    _breakdown("utm_campaign", "UTM campaigns", "Campaigns"),
    PanelSpec("email_campaigns", "E-mail campaigns", "Campaigns", _email),
    _breakdown("country", "Countries", "Locations"),
    _breakdown("device", "Devices", "Devices"),
    _breakdown("browser", "Browsers", "Devices"),
    _breakdown("os", "Operating systems", "Devices"),
    _table("custom_events", "Custom events", "Events"),
    PanelSpec("goals", "Goals", "Events", _goals),
    PanelSpec("funnels", "Funnels", "Events", _funnels),
    _table("click_targets", "Clicks", "Events"),
    _table("scroll_depth", "Scroll depth", "Engagement"),
    PanelSpec("vitals", "Web vitals (p75)", "Performance", _vitals),
    _table(
        "consent_mix",
        "Consent mix",
        "Privacy",
        "denied events are counted, never stored, and belong to no visit",
    ),
    _table(
        "bot_share",
        "Quarantined (reasons)",
        "Privacy",
        "quarantined events belong to no visit",
    ),
)
PANEL_IDS: Final = tuple(spec.id for spec in PANELS)


def series_buckets(query: Query, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every bucket of the period in order, the empty ones with zeros, so a chart's axis
    is the period's and a day without visits shows as 0 rather than as a gap."""
    if query.interval == "hour":
        keys = [
            (
                dt.datetime.combine(query.date_from, dt.time(), dt.UTC) + dt.timedelta(hours=h)
            ).strftime("%Y-%m-%dT%H:00:00Z")
            for h in range(24 * ((query.date_to - query.date_from).days + 1))
        ]
    else:
        keys = [
            (query.date_from + dt.timedelta(days=d)).isoformat()
            for d in range((query.date_to - query.date_from).days + 1)
        ]
    label = BUCKET_COLUMN[query.interval]
    known = {r[label]: r for r in rows}
    out = []
    for key in keys:
        row = known.get(key)
        if row is None:
            day = dt.date.fromisoformat(key[:10])
            row = {label: key, **dict.fromkeys(SERIES_METRICS, 0), "partial": False}
            row["partial"] = day == query.partial_day
        out.append(row)
    return out


def build_view(data_dir: Path, query: Query, only: str | None = None) -> View:
    """The page's numbers: top metrics beside the previous period, the time series, and
    every panel (or only the one named, for its CSV)."""
    view = View(query, {}, [])
    if only in (None, "top", "series"):
        top_query = dataclasses.replace(query, metrics=TOP_METRICS, compare=True)
        view.top = stats.aggregate(data_dir, top_query)
        series_query = dataclasses.replace(query, metrics=SERIES_METRICS, compare=False)
        view.series = series_buckets(query, stats.timeseries(data_dir, series_query))
    for spec in PANELS:
        if only is not None and spec.id != only:
            continue
        panel = spec.read(data_dir, dataclasses.replace(query, compare=False))
        panel.group = spec.group
        view.panels.append(panel)
    return view
