"""GET /api/stats/{aggregate,timeseries,breakdown,goals,realtime,heatmap,vitals}: k-suppressed
numbers.

Authenticated by the site's ``stats_token`` as a Bearer token, a dashboard session
for the site, or its ``share_token`` as ``auth=`` (``service/http/access.py``): no
token or a wrong one is 401; a valid token of another site is 403.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from pipelines.analysis.metrics import MetricsError
from pipelines.analysis.metrics.behaviour import COLUMNS, KINDS, ROW_PX, VITALS, VITALS_BY
from pipelines.analysis.metrics.realtime import WINDOW, realtime_visitors
from pipelines.analysis.stats import (
    GOAL_UNITS,
    UNITS,
    Query,
    StatsError,
    aggregate,
    breakdown,
    goals,
    heatmap,
    query_from_args,
    timeseries,
    vitals,
)
from service.http.access import Unauthorized, authorized_site
from service.http.state import state
from service.sites import Site

bp = Blueprint("stats", __name__)

MAX_LIMIT = 1000


@bp.errorhandler(Unauthorized)
def _unauthorized(exc: Unauthorized) -> tuple[Response, int]:
    response = jsonify(error="unauthorized" if exc.status == 401 else "forbidden", message=str(exc))
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="clearcount"'
    return response, exc.status


@bp.errorhandler(MetricsError)  # StatsError included: a parameter the numbers cannot take
def _bad_query(exc: MetricsError) -> tuple[Response, int]:
    return jsonify(error="invalid_query", message=str(exc)), 400


def _authorized_site() -> Site:
    return authorized_site(request)


def _query(site: Site) -> Query:
    return query_from_args(site, request.args, state().ctx.clock().date())


def _meta(query: Query, names: list[str]) -> dict[str, object]:
    """What every answer says besides its numbers, the unit of each metric it holds included."""
    return {
        "site": query.site.id,
        "from": query.date_from.isoformat(),
        "to": query.date_to.isoformat(),
        "k": query.site.k,
        "units": {n: UNITS[n] for n in names if n in UNITS},
        **({"interval": query.interval} if query.interval != "day" else {}),
        # the period includes today, whose numbers are still growing
        "partial_day": query.partial_day.isoformat() if query.partial_day else None,
        **(
            {
                "previous_from": query.previous().date_from.isoformat(),
                "previous_to": query.previous().date_to.isoformat(),
            }
            if query.compare
            else {}
        ),
    }


def _names(rows: list[dict[str, Any]]) -> list[str]:
    return list(rows[0]) if rows else []


@bp.get("/api/stats/aggregate")
def stats_aggregate() -> Response:
    query = _query(_authorized_site())
    results = aggregate(state().ctx.settings.data_dir, query)
    return jsonify(results=results, **_meta(query, list(results)))


@bp.get("/api/stats/timeseries")
def stats_timeseries() -> Response:
    query = _query(_authorized_site())
    results = timeseries(state().ctx.settings.data_dir, query)
    return jsonify(results=results, **_meta(query, _names(results)))


@bp.get("/api/stats/breakdown")
def stats_breakdown() -> Response:
    query = _query(_authorized_site())
    raw_limit = request.args.get("limit", "100")
    if not (raw_limit.isascii() and raw_limit.isdigit() and len(raw_limit) <= 4) or not (
        1 <= int(raw_limit) <= MAX_LIMIT
    ):
        raise StatsError(f"limit is a whole number from 1 to {MAX_LIMIT}")
    limit = int(raw_limit)
    rows, withheld = breakdown(
        state().ctx.settings.data_dir, query, request.args.get("property", ""), limit
    )
    return jsonify(
        results=rows,
        withheld_rows=withheld,
        property=request.args.get("property"),
        **_meta(query, _names(rows)),
    )


@bp.get("/api/stats/goals")
def stats_goals() -> Response:
    query = _query(_authorized_site())
    results, funnels = goals(state().ctx.settings.data_dir, query)
    meta = _meta(query, [])
    meta["units"] = GOAL_UNITS
    return jsonify(results=results, funnels=funnels, **meta)


@bp.get("/api/stats/realtime")
def stats_realtime() -> Response:
    """Visitors in the last 30 minutes, events still in the spool included; withheld
    (null) below the site's k, like every other count."""
    site = _authorized_site()
    ctx = state().ctx
    visitors = realtime_visitors(ctx.settings.data_dir, site.id, ctx.clock())
    suppressed = 0 < visitors < site.k  # nobody is no one: 0 is shown
    return jsonify(
        visitors=None if suppressed else visitors,
        **({"suppressed": ["visitors"]} if suppressed else {}),
        site=site.id,
        k=site.k,
        window_minutes=int(WINDOW.total_seconds() // 60),
    )


@bp.get("/api/stats/heatmap")
def stats_heatmap() -> Response:
    """One page's click, hover or scroll map (``page``, ``kind``, ``width``)."""
    query = _query(_authorized_site())
    page, kind = request.args.get("page", ""), request.args.get("kind", "click")
    width = request.args.get("width", "desktop")
    if kind not in KINDS:
        raise StatsError(f"kind is one of {', '.join(KINDS)}")
    cells, withheld = heatmap(state().ctx.settings.data_dir, query, page, kind, width)
    return jsonify(
        results=cells,
        withheld_cells=withheld,
        page=page,
        kind=kind,
        width=width,
        grid={"columns": COLUMNS, "row_px": ROW_PX},
        **_meta(query, []),
    )


@bp.get("/api/stats/vitals")
def stats_vitals() -> Response:
    """p75 of each web vital and its ratings, for the site and per page (or ``by=device``)."""
    query = _query(_authorized_site())
    by = request.args.get("by", "page")
    if by not in VITALS_BY:
        raise StatsError(f"by is one of {', '.join(VITALS_BY)}")
    total, rows, withheld = vitals(state().ctx.settings.data_dir, query, by)
    meta = _meta(query, [])
    meta["units"] = {name: vital.unit for name, vital in VITALS.items()}
    meta["thresholds"] = {name: [v.good, v.poor] for name, v in VITALS.items()}
    return jsonify(total=total, results=rows, withheld_rows=withheld, by=by, **meta)
