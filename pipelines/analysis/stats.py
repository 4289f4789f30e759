"""Aggregate statistics over the lake for dashboards and scripts, k-suppressed.

The numbers are the metrics layer's (``pipelines/analysis/metrics``), the same SQL the
report and the notebooks run; this module parses requests and suppresses.

Every count below the site's ``k`` is withheld: ``null`` and named in
``suppressed`` for totals and days; left out (and counted) for breakdown
rows. One withheld breakdown row could be recovered by subtracting the
others from the aggregate total, so the smallest shown row is withheld with
it (complementary suppression).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines.analysis.metrics import (
    DIMENSIONS,
    EMAIL_METRICS,
    METRICS,
    NAMED_TABLES,
    MetricsError,
    aggregate_sql,
    breakdown_metrics,
    breakdown_sql,
    email_campaigns_sql,
    named_sql,
    params,
    timeseries_sql,
)
from pipelines.analysis.metrics.behaviour import (
    SUB_COUNTS,
    VITALS,
    click_elements_sql,
    heatmap_sql,
    vitals_sql,
)
from pipelines.analysis.metrics.goals import funnel_sql, goal_params, goals_sql
from pipelines.analysis.metrics.query import rows as fetch_rows
from pipelines.lake.rollups import reflected_version
from pipelines.lake.tables import Lake, open_views
from service.sites import Site

PROPERTIES = DIMENSIONS
COUNTS = tuple(name for name, metric in METRICS.items() if metric.count)
# What each answer holds when the request does not choose (``metrics=``).
DEFAULT_AGGREGATE = (
    "visitors",
    "visits",
    "pageviews",
    "views_per_visit",
    "bounce_rate",
    "visit_duration",
)
DEFAULT_TIMESERIES = ("visitors", "visits", "pageviews")
UNITS = {name: metric.unit for name, metric in METRICS.items()}
MAX_HOURLY_DAYS = 7
EARLIEST, LATEST = dt.date(1970, 1, 2), dt.date(9998, 12, 30)
MAX_FILTERS = 10
MAX_PAGE = 2048
RATINGS = ("good", "needs_improvement", "poor")
VITAL_PARTS = ("p75", "samples", *RATINGS)


class StatsError(MetricsError):
    """A query the API cannot answer; the message says which parameter."""


@dataclass(frozen=True)
class Query:
    site: Site
    date_from: dt.date
    date_to: dt.date
    filters: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    metrics: tuple[str, ...] = ()  # () = the endpoint's default
    today: dt.date | None = None  # the collector's (UTC) day: marked partial when in the period
    compare: bool = False  # compare=previous_period: each total beside the period before
    interval: str = "day"  # a time series' buckets: day, or hour (UTC)
    # "sessions": totals, days and breakdowns from the loaders' rollup (the Stats API's
    # and the dashboard's); "events": the same metrics over raw events
    source: str = "sessions"

    def previous(self) -> Query:
        """The period of the same length that ends the day before this one starts."""
        days = (self.date_to - self.date_from).days + 1
        end = self.date_from - dt.timedelta(days=1)
        return dataclasses.replace(
            self, date_from=end - dt.timedelta(days=days - 1), date_to=end, compare=False
        )

    @property
    def partial_day(self) -> dt.date | None:
        """Today, when the period includes it: its numbers are still growing."""
        if self.today is not None and self.date_from <= self.today <= self.date_to:
            return self.today
        return None


def query_from_args(site: Site, args: Mapping[str, str], today: dt.date) -> Query:
    """A query from the Stats API's parameters (the dashboard's URLs use the same):
    ``period``/``date`` or ``from``/``to``, ``filters``, ``metrics``, ``compare``,
    ``interval``."""
    start, end = parse_period(
        args.get("period"), args.get("date"), args.get("from"), args.get("to"), today
    )
    return Query(
        site,
        start,
        end,
        parse_filters(args.get("filters")),
        parse_metrics(args.get("metrics")),
        today,
        parse_compare(args.get("compare")),
        parse_interval(args.get("interval"), start, end),
    )


def parse_interval(text: str | None, start: dt.date, end: dt.date) -> str:
    """``interval=day`` (the default) or ``hour``, for periods of up to 7 days."""
    if text in (None, "", "day"):
        return "day"
    if text != "hour":
        raise StatsError("interval is day or hour")
    if (end - start).days >= MAX_HOURLY_DAYS:
        raise StatsError(f"interval=hour takes periods of up to {MAX_HOURLY_DAYS} days")
    return "hour"


def parse_metrics(text: str | None) -> tuple[str, ...]:
    """``metrics=visitors,pageviews``: names from the metrics layer, in the order asked."""
    names = tuple(n for n in (text or "").split(",") if n)
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise StatsError(f"metrics are among {', '.join(METRICS)}")
    return names


def parse_period(
    period: str | None, date: str | None, date_from: str | None, date_to: str | None, today: dt.date
) -> tuple[dt.date, dt.date]:
    try:
        if date_from or date_to:
            if not (date_from and date_to):
                raise StatsError("from and to go together")
            start, end = dt.date.fromisoformat(date_from), dt.date.fromisoformat(date_to)
        else:
            anchor = dt.date.fromisoformat(date) if date else today
            period = period or "30d"
            if period == "day":
                start = end = anchor
            elif period.endswith("d") and period[:-1].isdigit() and 0 < int(period[:-1]) <= 3660:
                start, end = anchor - dt.timedelta(days=int(period[:-1]) - 1), anchor
            elif period == "month":
                start, end = anchor.replace(day=1), anchor
            else:
                raise StatsError("period is day, month or <n>d")
    except (ValueError, OverflowError) as exc:
        if isinstance(exc, StatsError):
            raise
        raise StatsError("dates are YYYY-MM-DD") from None
    if start > end:
        raise StatsError("from is after to")
    if not (start >= EARLIEST and end <= LATEST):
        # a period is read with a day on each side: the calendar's ends are out of reach
        raise StatsError(f"dates are from {EARLIEST} to {LATEST}")
    return start, end


def parse_filters(text: str | None) -> tuple[tuple[str, str], ...]:
    """``property==value;property==value`` with properties from the allow-list."""
    out = []
    parts = [p for p in (text or "").split(";") if p]
    if len(parts) > MAX_FILTERS:
        raise StatsError(f"at most {MAX_FILTERS} filters")
    for part in parts:
        if not part:
            continue
        name, sep, value = part.partition("==")
        if not sep or name not in PROPERTIES:
            raise StatsError(
                f"filters are property==value with a property among {', '.join(PROPERTIES)}"
            )
        out.append((name, value))
    return tuple(out)


def _run(data_dir: Path, sql: str, values: dict[str, Any]) -> list[dict[str, Any]]:
    con = open_views(data_dir)
    try:
        return fetch_rows(con, sql, values)
    finally:
        con.close()


_BUILT: set[str] = set()  # data directories whose sessions rollup has been built


def _source(data_dir: Path, query: Query) -> str:
    """The query's source; raw events while the sessions rollup has never been built (a
    lake from before the rollup existed: the loaders' first build takes a while)."""
    if query.source != "sessions":
        return query.source
    key = str(data_dir.resolve())
    if key not in _BUILT:
        if reflected_version(Lake.of(data_dir)) is None:
            return "events"
        _BUILT.add(key)
    return "sessions"


def _values(query: Query) -> dict[str, Any]:
    return params(query.site.id, query.date_from, query.date_to, query.filters)


def suppress(row: dict[str, Any], k: int) -> dict[str, Any]:
    """Counts below k become null, and so do rates and means computed from too few visits.
    A 0 describes no one: it is shown as 0 and withholds nothing."""
    hidden = [
        name for name in COUNTS if name in row and row[name] is not None and 0 < row[name] < k
    ]
    if "visits" in hidden or "pageviews" in hidden:
        hidden += [n for n in row if n in METRICS and not METRICS[n].count and n not in hidden]
    for name in hidden:
        row[name] = None
    if hidden:
        row["suppressed"] = hidden
    return row


def _chosen(query: Query, default: tuple[str, ...], allowed: tuple[str, ...]) -> tuple[str, ...]:
    names = query.metrics or default
    unknown = [n for n in names if n not in allowed]
    if unknown:
        raise StatsError(f"metrics here are among {', '.join(allowed)}")
    return names


def parse_compare(text: str | None) -> bool:
    if text in (None, ""):
        return False
    if text != "previous_period":
        raise StatsError("compare is previous_period")
    return True


def change(name: str, value: float | None, previous: float | None) -> float | None:
    """A rate's change in percentage points; any other metric's in % of the previous value;
    None when either side is withheld, or the previous value is 0."""
    if value is None or previous is None:
        return None
    if METRICS[name].unit.startswith("%"):
        return round(value - previous, 1)
    return round(100.0 * (value - previous) / previous, 1) if previous else None


def aggregate(data_dir: Path, query: Query) -> dict[str, Any]:
    """Each metric over the period; with ``compare``, each as ``{"value", "previous",
    "change"}`` beside the period of the same length before it."""
    names = _chosen(query, DEFAULT_AGGREGATE, tuple(METRICS))
    sql = aggregate_sql(names, query.filters, source=_source(data_dir, query))
    current = suppress(_run(data_dir, sql, _values(query))[0], query.site.k)
    if not query.compare:
        return current
    before = suppress(_run(data_dir, sql, _values(query.previous()))[0], query.site.k)
    out: dict[str, Any] = {
        name: {
            "value": current[name],
            "previous": before[name],
            "change": change(name, current[name], before[name]),
        }
        for name in names
    }
    hidden = sorted(set(current.get("suppressed", [])) | set(before.get("suppressed", [])))
    if hidden:
        out["suppressed"] = hidden
    return out


def timeseries(data_dir: Path, query: Query) -> list[dict[str, Any]]:
    names = _chosen(query, DEFAULT_TIMESERIES, tuple(METRICS))
    sql = timeseries_sql(
        names, query.filters, interval=query.interval, source=_source(data_dir, query)
    )
    rows = [suppress(r, query.site.k) for r in _run(data_dir, sql, _values(query))]
    complement_series(rows, [n for n in names if METRICS[n].count])
    for r in rows:
        if query.interval == "hour":
            r["partial"] = r["hour"].date() == query.partial_day
            r["hour"] = r["hour"].strftime("%Y-%m-%dT%H:00:00Z")
        else:
            r["partial"] = r["date"] == query.partial_day
            r["date"] = r["date"].isoformat()
    return rows


def complement_series(rows: list[dict[str, Any]], counts: list[str]) -> None:
    """A count withheld in one bucket alone is the period's total minus the others: the
    smallest shown bucket of that count that is not 0 is withheld with it (in place), so
    no day or hour can be worked out from the aggregate and the series."""
    for name in counts:
        hidden = [r for r in rows if name in r.get("suppressed", ())]
        real = [r for r in rows if r.get(name)]  # shown and not 0
        if len(hidden) == 1 and real:
            smallest = min(real, key=lambda r: r[name])
            smallest[name] = None
            smallest["suppressed"] = [*smallest.get("suppressed", []), name]


def breakdown(
    data_dir: Path, query: Query, prop: str, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """Rows per property value, and how many values were withheld (left out entirely:
    a rare value can identify on its own)."""
    if prop not in PROPERTIES:
        raise StatsError(f"property is one of {', '.join(PROPERTIES)}")
    allowed = breakdown_metrics(prop)
    names = _chosen(query, allowed, allowed)
    sql = breakdown_sql(prop, names, query.filters, source=_source(data_dir, query))
    rows = _run(data_dir, sql, _values(query))
    return withhold_rows(rows, [n for n in names if METRICS[n].count], query.site.k, limit)


def withhold_rows(
    rows: list[dict[str, Any]], counts: list[str], k: int, limit: int | None = None
) -> tuple[list[dict[str, Any]], int]:
    """The rows whose every count is at least k or 0, and how many were withheld (left out
    entirely: a rare value can identify on its own). One withheld row is the total minus
    the rest, so the smallest shown row that is not 0 is withheld with it (withholding a 0
    would hide nothing): the report's rule (report.suppress), so both withhold the same."""
    shown = [r for r in rows if all(r[c] is not None and (r[c] == 0 or r[c] >= k) for c in counts)]
    withheld = len(rows) - len(shown)
    real = [r for r in shown if any(r[c] for c in counts)]
    if withheld == 1 and real:
        shown.remove(min(real, key=lambda r: tuple(r[c] for c in counts)))
        withheld += 1
    return (shown if limit is None else shown[:limit]), withheld


# Each named table's counts, which the suppression below k looks at.
TABLE_COUNTS = {
    "bot_share": ("events",),
    "click_targets": ("clicks",),
    "consent_mix": ("events",),
    "custom_events": ("events", "visitors"),
    "scroll_depth": ("engagements",),
}


def table(data_dir: Path, query: Query, name: str) -> tuple[list[dict[str, Any]], int]:
    """A named table of the metrics layer (``metrics/tables``), k-suppressed like a
    breakdown; the filterable ones narrowed by the query's filters."""
    if name not in NAMED_TABLES:
        raise StatsError(f"table is one of {', '.join(NAMED_TABLES)}")
    rows = _run(data_dir, named_sql(name, query.filters), _values(query))
    return withhold_rows(rows, list(TABLE_COUNTS[name]), query.site.k)


def email_campaigns(data_dir: Path, query: Query) -> tuple[list[dict[str, Any]], int]:
    """Opens, clicks and click-to-open per e-mail campaign; a campaign with fewer than k
    openers or clickers is withheld whole (its rate would tell the counts)."""
    if query.filters:
        raise StatsError("e-mail campaigns take no filters: an open is not part of a visit")
    rows = _run(data_dir, email_campaigns_sql(), _values(query))
    counts = [n for n, m in EMAIL_METRICS.items() if m.count]
    return withhold_rows(rows, counts, query.site.k)


GOAL_UNITS = {
    "visitors": "visitors",
    "conversions": "events",
    "goal_conversion_rate": "% of the period's visitors",
    "visits": "visits",
    "drop_off": "visits",
    "step_conversion_rate": "% of the first step's visits",
}


def _withhold(row: dict[str, Any], counts: tuple[str, ...], k: int, also: tuple[str, ...]) -> None:
    hidden = [c for c in counts if row[c] is not None and 0 < row[c] < k]  # 0 is no one
    if hidden:
        for name in (*counts, *also):
            row[name] = None
        row["suppressed"] = [*counts, *also]


def goals(data_dir: Path, query: Query) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The site's goals (visitors, conversions, conversion rate) and funnels (per step:
    visits, visitors, drop-off, conversion rate), k-suppressed: a goal below k is withheld
    whole, and so is a funnel step and every step after it (a funnel only narrows)."""
    site = query.site
    if not site.goals:
        return [], []
    if query.filters:
        raise StatsError("goals take no filters")
    values = {**params(site.id, query.date_from, query.date_to), **goal_params(site.goals)}
    rows = _run(data_dir, goals_sql(site.goals), values)
    out = []
    for row, goal in zip(rows, site.goals, strict=True):
        entry = {**row, "goal": goal.name, "page": goal.page, "event": goal.event}
        _withhold(entry, ("visitors", "conversions"), site.k, ("conversion_rate",))
        out.append(entry)
    funnels = []
    for funnel in site.funnels:
        steps = _run(data_dir, funnel_sql(funnel, site.goals), values)
        for step, name in zip(steps, funnel.steps, strict=True):
            step["goal"] = name
            _withhold(step, ("visits", "visitors"), site.k, ("drop_off", "conversion_rate"))
        funnels.append({"name": funnel.name, "steps": steps})
    return out, funnels


def _no_filters(query: Query, what: str) -> None:
    if query.filters:
        raise StatsError(f"{what} take no filters")


def heatmap(
    data_dir: Path, query: Query, page: str, kind: str, width: str
) -> tuple[list[dict[str, Any]], int]:
    """One page's click, hover or scroll map (``metrics/behaviour.py``): the cells (or
    depths) at least k visitors saw, and how many were withheld."""
    sql = heatmap_sql(kind, width)
    rows = _run(data_dir, sql, _page_values(query, page, "heatmaps"))
    return withhold_rows(withhold_sub_counts(rows, query.site.k), ["visitors"], query.site.k)


def click_elements(
    data_dir: Path, query: Query, page: str, width: str
) -> tuple[list[dict[str, Any]], int]:
    """The elements clicked on one page (selector; clicks, rage and dead clicks, visitors),
    those fewer than k visitors clicked withheld."""
    rows = _run(data_dir, click_elements_sql(width), _page_values(query, page, "heatmaps"))
    return withhold_rows(withhold_sub_counts(rows, query.site.k), ["visitors"], query.site.k)


def withhold_sub_counts(rows: list[dict[str, Any]], k: int) -> list[dict[str, Any]]:
    """Rage and dead clicks made by 1 to k - 1 visitors become null (named in
    ``suppressed``), even within a cell that k visitors saw; the visitors behind them
    (``<count>_visitors``) are left out of every row."""
    for row in rows:
        behind = {c: row.pop(f"{c}_visitors", None) for c in SUB_COUNTS}
        hidden = [c for c, n in behind.items() if n is not None and 0 < n < k]
        for name in hidden:
            row[name] = None
        if hidden:
            row["suppressed"] = hidden
    return rows


def _page_values(query: Query, page: str, what: str) -> dict[str, Any]:
    _no_filters(query, what)
    if not page.startswith("/") or len(page) > MAX_PAGE:
        raise StatsError(f"page is a path starting with / (at most {MAX_PAGE} characters)")
    return {**_values(query), "page": page}


def vitals(
    data_dir: Path, query: Query, by: str
) -> tuple[dict[str, Any] | None, list[dict[str, Any]], int]:
    """The site's web vitals over the period (None below k visitors), and per page or
    device (rows below k visitors withheld); a vital measured on fewer than k page views
    is null where it would show."""
    _no_filters(query, "vitals")
    k = query.site.k
    (total,) = _run(data_dir, vitals_sql(None), _values(query))
    rows, withheld = withhold_rows(_run(data_dir, vitals_sql(by), _values(query)), ["visitors"], k)
    shaped = [vitals_row(row, k) for row in rows]
    return (vitals_row(total, k) if total["visitors"] >= k else None), shaped, withheld


def vitals_row(row: dict[str, Any], k: int) -> dict[str, Any]:
    """A flat SQL row as ``{..., "lcp": {"p75", "samples", "good", ...}}``. A vital fewer
    than k visitors measured is withheld whole; a rating share that 1 to k - 1 page views
    make up is null (the share times the samples would tell the count)."""
    out = {name: value for name, value in row.items() if name.split("_")[0] not in VITALS}
    for name in VITALS:
        parts = {part: row[f"{name}_{part}"] for part in VITAL_PARTS}
        if (row[f"{name}_visitors"] or 0) < k:
            parts = {part: None for part in VITAL_PARTS} | {"withheld": True}
        else:
            small = [r for r in RATINGS if 0 < row[f"{name}_{r}_n"] < k]
            for rated in small:
                parts[rated] = None
            if small:
                parts["suppressed"] = small
        out[name] = parts
    return out
