"""Aggregate statistics over the lake for dashboards and scripts, k-suppressed.

Every count below the site's ``k`` is withheld: ``null`` and named in
``suppressed`` for totals and days; left out (and counted) for breakdown
rows. One withheld breakdown row could be recovered by subtracting the
others from the aggregate total, so the smallest shown row is withheld with
it (complementary suppression).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines.lake import SQL_DIR, open_views
from service.sites import Site

PROPERTIES = (
    "path",
    "source",
    "referrer_host",
    "country",
    "browser",
    "os",
    "device",
    "utm_source",
    "utm_medium",
    "utm_campaign",
)
COUNTS = ("visitors", "visits", "pageviews")


class StatsError(ValueError):
    """A query the API cannot answer; the message says which parameter."""


@dataclass(frozen=True)
class Query:
    site: Site
    date_from: dt.date
    date_to: dt.date
    filters: tuple[tuple[str, str], ...] = field(default_factory=tuple)


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
    except ValueError as exc:
        if isinstance(exc, StatsError):
            raise
        raise StatsError("dates are YYYY-MM-DD") from None
    if start > end:
        raise StatsError("from is after to")
    return start, end


def parse_filters(text: str | None) -> tuple[tuple[str, str], ...]:
    """``property==value;property==value`` with properties from the allow-list."""
    out = []
    for part in (text or "").split(";"):
        if not part:
            continue
        name, sep, value = part.partition("==")
        if not sep or name not in PROPERTIES:
            raise StatsError(
                f"filters are property==value with a property among {', '.join(PROPERTIES)}"
            )
        out.append((name, value))
    return tuple(out)


def _run(lake: Path, query: Query, final_sql: str) -> list[dict[str, Any]]:
    sessions = (SQL_DIR / "stats_sessions.sql").read_text()
    # Column names come from PROPERTIES only; values are bound parameters.
    filters = "".join(f" AND {name} = $f{i}" for i, (name, _) in enumerate(query.filters))
    sql = sessions.replace("$filters", filters) + "\n" + final_sql
    params: dict[str, Any] = {
        "site": query.site.id,
        "date_from": query.date_from,
        "date_to": query.date_to,
    }
    params.update({f"f{i}": value for i, (_, value) in enumerate(query.filters)})
    con = open_views(lake.parent)
    try:
        cursor = con.execute(sql, params)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        con.close()


def suppress(row: dict[str, Any], k: int) -> dict[str, Any]:
    """Counts below k become null, and so do rates computed from too few visits."""
    hidden = [name for name in COUNTS if name in row and row[name] is not None and row[name] < k]
    if "visits" in hidden:
        hidden += [name for name in ("bounce_rate", "visit_duration") if name in row]
    for name in hidden:
        row[name] = None
    if hidden:
        row["suppressed"] = hidden
    return row


def aggregate(lake: Path, query: Query) -> dict[str, Any]:
    sql = (SQL_DIR / "stats_aggregate.sql").read_text()
    return suppress(_run(lake, query, sql)[0], query.site.k)


def timeseries(lake: Path, query: Query) -> list[dict[str, Any]]:
    sql = (SQL_DIR / "stats_timeseries.sql").read_text()
    rows = [suppress(r, query.site.k) for r in _run(lake, query, sql)]
    for r in rows:
        r["date"] = r["date"].isoformat()
    return rows


def breakdown(lake: Path, query: Query, prop: str, limit: int) -> tuple[list[dict[str, Any]], int]:
    """Rows per property value, and how many values were withheld (left out entirely:
    a rare value can identify on its own)."""
    if prop not in PROPERTIES:
        raise StatsError(f"property is one of {', '.join(PROPERTIES)}")
    sql = (SQL_DIR / "stats_breakdown.sql").read_text().replace("$property", prop)
    rows = _run(lake, query, sql)
    k = query.site.k
    shown = [r for r in rows if r["visitors"] >= k and r["pageviews"] >= k]
    withheld = len(rows) - len(shown)
    if withheld == 1 and shown:
        # One withheld row is the total minus the rest: withhold the smallest shown row too.
        shown.remove(min(shown, key=lambda r: (r["visitors"], r["pageviews"])))
        withheld += 1
    return shown[:limit], withheld
