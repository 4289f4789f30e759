"""The metrics' relations over the ``sessions`` rollup instead of raw events.

``visits.sql`` cuts a period's events into visits at query time; the rollup
holds those visits already, a row per visit and day (``pipelines/lake/sessions.sql``).
Over it the same two relations exist: ``period_visits`` (the rows of the day a
visit starts, carrying the visit's properties under the same names as in
``visits.sql``, so every visit-level metric's SQL reads them unchanged) and
``period_events`` (a row per visit and day, hour or page, whose ``views`` are
the page views it stands for; the event-level metrics read it through their
``rollup_sql``). A filter keeps the rows of the visits with the property, as it
keeps those visits and their events in the raw relations.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from pipelines.analysis.metrics.definitions import PAGE_DIMENSIONS

# What one row of period_events stands for.
GRAINS: Final = ("day", "hour", "page")

_EVENTS: Final = {
    "day": "SELECT visitor_key, date, day_pageviews AS views FROM day_rows",
    "hour": (
        "SELECT visitor_key, date, date::TIMESTAMP + to_hours(h.hour::INTEGER) AS hour_at,"
        " h.views AS views FROM (SELECT visitor_key, date, unnest(hours) AS h FROM day_rows)"
    ),
    "page": (
        "SELECT visitor_key, date, p.path AS path, p.views AS views, 'pageview' AS type"
        " FROM (SELECT visitor_key, date, unnest(pages) AS p FROM day_rows)"
    ),
}
_RELATIONS: Final = """WITH day_rows AS (
    SELECT * FROM sessions
    WHERE site = $site AND date BETWEEN $date_from AND $date_to{where}
),
period_events AS (
    {events}
),
period_visits AS (
    SELECT * FROM day_rows WHERE date = visit_date
)"""
# The hour bucket of period_events at the "hour" grain (a UTC timestamp, as the raw
# events' date_trunc('hour', received_at AT TIME ZONE 'UTC')).
HOUR_BUCKET: Final = "hour_at"


def condition(name: str, index: int) -> str:
    """The filter ``name == $f<index>`` over a rollup row."""
    if name in PAGE_DIMENSIONS:
        return f"list_contains(paths, $f{index})"
    return f"{name} = $f{index}"


def relations(filters: Sequence[tuple[str, str]], grain: str) -> str:
    """The WITH clause defining ``period_events`` (at ``grain``) and ``period_visits``."""
    if grain not in GRAINS:
        raise ValueError(f"grain is one of {', '.join(GRAINS)}")
    where = "".join(f"\n      AND {condition(name, i)}" for i, (name, _) in enumerate(filters))
    # names come from DIMENSIONS only (checked by the caller); values are bound parameters
    return _RELATIONS.format(where=where, events=_EVENTS[grain])
