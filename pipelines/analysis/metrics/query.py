"""SQL for totals, days and breakdowns, built from the metric definitions.

Every query starts from ``visits.sql`` and selects the metrics by name, so a
total, a day and a breakdown row are the same aggregate over different
groups. Filters (``property == value``) keep the visits with that property
(for ``path``: the visits that viewed that page) and the events of those
visits. Property names come from ``DIMENSIONS`` only; values are bound
parameters (``$f0``, ``$f1``, …).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from pipelines.analysis.metrics import rollup
from pipelines.analysis.metrics.definitions import (
    DIMENSIONS,
    EMAIL_METRICS,
    METRICS,
    PAGE_DIMENSIONS,
    PAGE_METRICS,
    VISIT_DIMENSIONS,
)

VISITS_SQL: Final = (Path(__file__).parent / "visits.sql").read_text(encoding="utf-8")
Filters = Sequence[tuple[str, str]]
# Where the metrics are computed from: raw events (the definitions), or the sessions
# rollup the loaders maintain (the same numbers, without cutting visits at query time).
SOURCES: Final = ("events", "sessions")
# Temp tables that a batch of queries on one DuckDB connection (the report) shares, so that
# visits are cut once, not once a table; queries built with ``shared=True`` read them.
# period_events keeps the columns the metrics and the report's other tables read.
SHARED_TABLES: Final = (
    f"CREATE OR REPLACE TEMP TABLE period_events AS {VISITS_SQL}\n"
    "SELECT visitor_key, type, date, path, name, target, depth, x FROM period_events",
    f"CREATE OR REPLACE TEMP TABLE period_visits AS {VISITS_SQL}\nSELECT * FROM period_visits",
)


class MetricsError(ValueError):
    """A metric or property that does not exist; the message names the valid ones."""


def params(
    site: str, date_from: dt.date, date_to: dt.date, filters: Filters = ()
) -> dict[str, Any]:
    """The bound parameters every query here takes."""
    return {
        "site": site,
        "scan_from": date_from - dt.timedelta(days=1),
        "scan_to": date_to + dt.timedelta(days=1),
        "date_from": date_from,
        "date_to": date_to,
        **{f"f{i}": value for i, (_, value) in enumerate(filters)},
    }


def bind(sql: str, values: dict[str, Any]) -> dict[str, Any]:
    """The parameters ``sql`` names: DuckDB refuses any a statement does not use."""
    return {key: value for key, value in values.items() if f"${key}" in sql}


def rows(con: Any, sql: str, values: dict[str, Any]) -> list[dict[str, Any]]:
    """Run ``sql`` on a DuckDB connection with the parameters it names; rows as dicts."""
    cursor = con.execute(sql, bind(sql, values))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def check_metrics(names: Sequence[str], allowed: Sequence[str] = tuple(METRICS)) -> None:
    unknown = [n for n in names if n not in allowed]
    if unknown or not names:
        raise MetricsError(f"metrics are among {', '.join(allowed)}")


def _check_filters(filters: Filters) -> None:
    for name, _ in filters:
        if name not in DIMENSIONS:
            raise MetricsError(
                f"filters are property==value with a property among {', '.join(DIMENSIONS)}"
            )


def _relations(
    filters: Filters, shared: bool = False, source: str = "events", grain: str = "day"
) -> tuple[str, str, str]:
    """The WITH clause (none when reading ``SHARED_TABLES``), and the names of the event
    and visit relations to read: over raw events, or over the sessions rollup at
    ``grain`` (``rollup.py``)."""
    if source not in SOURCES:
        raise MetricsError(f"source is one of {', '.join(SOURCES)}")
    if source == "sessions":
        _check_filters(filters)
        return rollup.relations(filters, grain), "period_events", "period_visits"
    if shared and filters:
        raise MetricsError("filtered queries build their own relations")
    if not filters:
        return ("" if shared else VISITS_SQL), "period_events", "period_visits"
    _check_filters(filters)
    # A visit's identity, NULL-safe: pseudonyms nulled by expiry are one visitor's visits.
    visit = "visitor_key IS NULL, coalesce(visitor_key, 0), visit_no"
    conditions = []
    for i, (name, _) in enumerate(filters):
        if name in PAGE_DIMENSIONS:
            conditions.append(
                f"({visit}) IN (SELECT {visit} FROM numbered"
                f" WHERE type = 'pageview' AND {name} = $f{i})"
            )
        else:
            conditions.append(f"{name} = $f{i}")
    sql = (
        VISITS_SQL.rstrip()
        + f""",
filtered_visits AS (
    SELECT * FROM period_visits WHERE {" AND ".join(conditions)}
),
filtered_events AS (
    SELECT * FROM numbered
    WHERE date BETWEEN $date_from AND $date_to
      AND ({visit}) IN (SELECT {visit} FROM visits WHERE {" AND ".join(conditions)})
)"""
    )
    return sql, "filtered_events", "filtered_visits"


def _columns(names: Sequence[str], relation: str, source: str = "events") -> str:
    """``<sql> AS <name>`` for the metrics defined over ``relation`` (events or visits)."""
    out = []
    for name in names:
        metric = METRICS[name]
        sql = metric.events_sql if relation == "events" else metric.visits_sql
        if relation == "events" and source == "sessions":
            sql = metric.rollup_sql
        if sql is not None:
            out.append(f"{sql} AS {name}")
    return ",\n       ".join(out)


# A time series' buckets: the column each relation is grouped by, named ``date`` (by day)
# or ``hour`` (UTC): events by their own time, visits by the time they start.
BUCKET_COLUMN: Final = {"day": "date", "hour": "hour"}
INTERVALS: Final = {
    "day": ("date", "date"),
    "hour": (
        "date_trunc('hour', received_at AT TIME ZONE 'UTC')",
        "date_trunc('hour', started_at AT TIME ZONE 'UTC')",
    ),
}


def _per_relation(
    names: Sequence[str],
    events: str,
    visits: str,
    interval: str | None = None,
    source: str = "events",
) -> list[str]:
    """One subquery for the metrics read from events, one for those read from visits,
    each grouped by the interval's bucket when given (a total, or a row per bucket)."""
    from_events = [n for n in names if METRICS[n].events_sql is not None]
    from_visits = [n for n in names if n not in from_events]
    out = []
    for chosen, kind, relation, alias in (
        (from_events, "events", events, "e"),
        (from_visits, "visits", visits, "v"),
    ):
        if not chosen:
            continue
        key, group = "", ""
        if interval is not None:
            bucket = INTERVALS[interval][0 if kind == "events" else 1]
            if kind == "events" and source == "sessions" and interval == "hour":
                bucket = rollup.HOUR_BUCKET
            key, group = f"{bucket} AS {BUCKET_COLUMN[interval]}, ", " GROUP BY 1"
        columns = _columns(chosen, kind, source)
        out.append(f"(SELECT {key}{columns} FROM {relation}{group}) {alias}")
    return out


def aggregate_sql(
    names: Sequence[str], filters: Filters = (), *, shared: bool = False, source: str = "events"
) -> str:
    """One row: each metric over the whole period."""
    check_metrics(names)
    with_sql, events, visits = _relations(filters, shared, source)
    parts = _per_relation(names, events, visits, source=source)
    return f"{with_sql}\nSELECT {', '.join(names)}\nFROM {' CROSS JOIN '.join(parts)}"


def timeseries_sql(
    names: Sequence[str],
    filters: Filters = (),
    *,
    shared: bool = False,
    interval: str = "day",
    source: str = "events",
) -> str:
    """A row per day (or UTC hour) with data: events by their own time, visits by the
    time they start."""
    check_metrics(names)
    if interval not in INTERVALS:
        raise MetricsError(f"interval is one of {', '.join(INTERVALS)}")
    with_sql, events, visits = _relations(filters, shared, source, grain=interval)
    parts = _per_relation(names, events, visits, interval, source)
    column = BUCKET_COLUMN[interval]
    joined = (
        parts[0] if len(parts) == 1 else f"{parts[0]} FULL OUTER JOIN {parts[1]} USING ({column})"
    )
    return f"{with_sql}\nSELECT {column}, {', '.join(names)}\nFROM {joined}\nORDER BY {column}"


def breakdown_metrics(dimension: str) -> tuple[str, ...]:
    """The metrics a breakdown by this property answers."""
    if dimension in PAGE_DIMENSIONS:
        return PAGE_METRICS
    return tuple(METRICS)


def breakdown_sql(
    dimension: str,
    names: Sequence[str],
    filters: Filters = (),
    *,
    label: str = "value",
    limit: int | None = None,
    skip_null: bool = False,
    none_as: str | None = None,
    shared: bool = False,
    source: str = "events",
) -> str:
    """A row per value of the property, in the order of the count metrics asked for (then
    the value, so the order is fixed). Visit properties count visits and their visitors;
    ``path`` counts page views. ``label`` names the value's column; ``skip_null`` leaves
    out visits without the property (no referrer, no campaign)."""
    if dimension not in DIMENSIONS:
        raise MetricsError(f"property is one of {', '.join(DIMENSIONS)}")
    check_metrics(names, breakdown_metrics(dimension))
    if not label.isidentifier() or (
        none_as is not None and not none_as.replace(" ", "").strip("()").isalnum()
    ):
        raise MetricsError("a label is a column name, and none_as a plain word")
    grain = "page" if dimension in PAGE_DIMENSIONS else "day"
    with_sql, events, visits = _relations(filters, shared, source, grain)
    if dimension in VISIT_DIMENSIONS:
        select, relation, where = _columns(names, "visits", source), visits, []
    else:
        select = _columns(names, "events", source)
        relation, where = events, ["type = 'pageview'"]
    if skip_null:
        where.append(f"{dimension} IS NOT NULL")
    where_sql = f"\nWHERE {' AND '.join(where)}" if where else ""
    order = ", ".join(f"{n} DESC" for n in names if METRICS[n].count)
    limit_sql = f"\nLIMIT {int(limit)}" if limit is not None else ""
    value = dimension if none_as is None else f"coalesce({dimension}, '{none_as}')"
    return (
        f"{with_sql}\nSELECT {value} AS {label}, {select}\nFROM {relation}{where_sql}\n"
        f"GROUP BY 1\nORDER BY {order}, {label}{limit_sql}"
    )


def email_campaigns_sql(label: str = "campaign") -> str:
    """A row per campaign: openers, clickers and click-to-open, each reader once; most
    openers first. Opens and clicks are the pixel's and ``/r``'s events with ``c=``."""
    if not label.isidentifier():
        raise MetricsError("a label is a column name")
    columns = ",\n       ".join(f"{m.visits_sql} AS {m.name}" for m in EMAIL_METRICS.values())
    return f"""WITH readers AS (
    SELECT utm_campaign, visitor_key,
           bool_or(type = 'open') AS opened,
           -- a campaign's click is /r's; a click placed on a landing page's heatmap is not
           bool_or(type = 'click' AND (name IS NOT NULL OR x IS NULL)) AS clicked
    FROM events
    WHERE site = $site AND date BETWEEN $date_from AND $date_to AND source = 'email'
      AND utm_campaign IS NOT NULL AND type IN ('open', 'click')
    GROUP BY utm_campaign, visitor_key
)
SELECT utm_campaign AS {label}, {columns}
FROM readers
GROUP BY 1
ORDER BY opens DESC, clicks DESC, {label}"""


TABLES_DIR: Final = Path(__file__).parent / "tables"
# Tables that are neither totals nor breakdowns (scroll depth, click targets, custom
# events, consent mix, bot share): one SQL file each in ``tables/``, the report's and the
# notebooks' alike. Each reads ``period_events`` (the visits prefix's relation), or
# ``events`` and the other tables for $site and $date_from..$date_to.
NAMED_TABLES: Final = tuple(sorted(p.stem for p in TABLES_DIR.glob("*.sql")))
# Those read from ``period_events`` only: a filter narrows them to the filtered visits'
# events. The others count what is not part of a visit (quarantined and denied events,
# the consent of e-mail opens) and answer for the whole site.
FILTERABLE_TABLES: Final = ("click_targets", "custom_events", "scroll_depth")
_PERIOD_EVENTS = re.compile(r"\bperiod_events\b")


def named_sql(name: str, filters: Filters = (), *, shared: bool = False) -> str:
    """The named table's query, after the visits prefix (none when ``shared``); with
    ``filters``, over the filtered visits' events."""
    if name not in NAMED_TABLES:
        raise MetricsError(f"table is one of {', '.join(NAMED_TABLES)}")
    text = (TABLES_DIR / f"{name}.sql").read_text(encoding="utf-8")
    if not filters:
        return text if shared else VISITS_SQL + text
    if name not in FILTERABLE_TABLES:
        raise MetricsError(f"filters apply to the tables {', '.join(FILTERABLE_TABLES)}")
    with_sql, events, _ = _relations(filters)
    return with_sql + "\n" + _PERIOD_EVENTS.sub(events, text)
