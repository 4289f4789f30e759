"""GET /api/openapi.json: an OpenAPI 3.1 description of every endpoint the collector serves.

Written once, here. The event schema is built from ``rules.EVENT_RULES``, the
same table validation runs on, so the two cannot drift; a test checks that
every route of the app is described and nothing else is, and schemathesis
fuzzes the running server against this document.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from flask import Blueprint, Response, jsonify

from pipelines.analysis.metrics import METRICS
from pipelines.analysis.metrics.behaviour import ALL_WIDTHS, KINDS, VITALS_BY, WIDTHS
from service.ingest.parse import MAX_BATCH
from service.ingest.rules import (
    EVENT_RULES,
    MAX_HOVER_CELLS,
    VITAL_LIMITS,
    Rule,
    hover_grid,
    web_vitals,
)
from service.sites import CONSENT_STATES

bp = Blueprint("openapi", __name__)

JSON = "application/json"
ERROR = {"$ref": "#/components/schemas/Error"}
SITE = {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"}


def _schema(rule: Rule) -> dict[str, Any]:
    """One field's JSON Schema, from the rule validation applies."""
    kinds = {str: "string", int: "integer", dict: "object", bool: "boolean", list: "array"}
    out: dict[str, Any] = {"type": kinds[rule.kind]}
    if rule.check is hover_grid:
        out["maxItems"] = MAX_HOVER_CELLS
        out["items"] = {
            "type": "array",
            "description": "[col 0-19, row of 100 px, ms]",
            "items": {"type": "integer", "minimum": 0},
            "minItems": 3,
            "maxItems": 3,
        }
    elif rule.check is web_vitals:
        out["properties"] = {
            name: {"type": ["number", "null"], "minimum": 0, "maximum": limit}
            for name, limit in VITAL_LIMITS.items()
        }
        out["additionalProperties"] = False
    elif rule.nested is not None:
        out["properties"] = {name: _schema(r) for name, r in rule.nested.items()}
        out["additionalProperties"] = False
    elif rule.kind is dict:  # props: flat scalars
        out["additionalProperties"] = {"type": ["string", "number", "boolean", "null"]}
        out["maxProperties"] = 20
    for key, value in (
        ("minLength", rule.min_len),
        ("maxLength", rule.max_len),
        ("minimum", rule.minimum),
        ("maximum", rule.maximum),
    ):
        if value is not None:
            out[key] = value
    if rule.choices is not None:
        out["enum"] = list(rule.choices)
    if rule.pattern is not None:
        out["pattern"] = rule.pattern.pattern
    if rule.kind is str and rule.check is not None and "url" in getattr(rule.check, "__name__", ""):
        out["format"] = "uri"
    if rule.nullable and rule.default is None:
        out = {"anyOf": [out, {"type": "null"}]}
    return out


def _event_schema(rules: Mapping[str, Rule]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {name: _schema(rule) for name, rule in rules.items()},
        "required": [name for name, rule in rules.items() if rule.required],
        "additionalProperties": False,
    }


def _answer(description: str, schema: dict[str, Any] | None = None, media: str = JSON) -> Any:
    if schema is None:
        return {"description": description}
    return {"description": description, "content": {media: {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    reasons = {
        400: "bad input; the reason says which",
        401: "no valid Bearer token",
        403: "unknown site, Origin not allowed, or another site's token",
        413: "body over 64 KiB",
        415: "unsupported content type or encoding",
        429: "rate-limited; see Retry-After",
        503: "the spool cannot take writes; see Retry-After",
    }
    return {str(s): _answer(reasons[s], ERROR) for s in statuses}


def _query(name: str, schema: dict[str, Any], *, required: bool = False, about: str = "") -> Any:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "schema": schema,
        "description": about,
    }


BACKFILL_TS: Final = _query(
    "ts",
    {"type": "string", "pattern": "^[0-9]{1,13}$"},
    about="the hit's time, ms since the epoch; honoured only by a collector in backfill mode",
)


def _body(schema: dict[str, Any], *media: str) -> dict[str, Any]:
    return {"required": True, "content": {m: {"schema": schema} for m in media or (JSON,)}}


VISITOR = {
    "type": "object",
    "properties": {
        "site": SITE,
        "visitor_id": {"type": "string", "minLength": 1, "maxLength": 128},
    },
    "required": ["site", "visitor_id"],
    "additionalProperties": False,
}
STATE = {"type": "string", "enum": list(CONSENT_STATES)}
PERIOD = [
    _query("site", SITE, required=True),
    _query(
        "period",
        {"type": "string", "pattern": r"^(day|month|[1-9][0-9]{0,3}d)$"},
        about="day, month or <n>d",
    ),
    _query("date", {"type": "string", "format": "date"}, about="the period's last day"),
    _query("from", {"type": "string", "format": "date"}),
    _query("to", {"type": "string", "format": "date"}),
    _query("filters", {"type": "string"}, about="property==value;property==value"),
    _query(
        "metrics",
        {
            "type": "string",
            "pattern": "^(" + "|".join(METRICS) + ")(,(" + "|".join(METRICS) + "))*$",
        },
        about="comma-separated metric names; the endpoint's default set when absent",
    ),
    _query(
        "compare",
        {"type": "string", "enum": ["previous_period"]},
        about="aggregate: each metric as {value, previous, change} beside the period before",
    ),
    _query(
        "interval",
        {"type": "string", "enum": ["day", "hour"]},
        about="timeseries: a row per day (default) or per UTC hour (periods of up to 7 days)",
    ),
    _query(
        "auth",
        {"type": "string"},
        about="the site's share_token, instead of a Bearer token or a dashboard session",
    ),
]
STATS_META = {
    "site": {"type": "string"},
    "from": {"type": "string", "format": "date"},
    "to": {"type": "string", "format": "date"},
    "k": {"type": "integer"},
    "units": {
        "type": "object",
        "description": "the unit of each metric in the results",
        "additionalProperties": {"type": "string"},
    },
    "partial_day": {
        "type": ["string", "null"],
        "format": "date",
        "description": "today, when the period includes it: its numbers are still growing",
    },
}
BEARER: list[dict[str, list[str]]] = [{"stats_token": []}]


def _stats(summary: str, results: dict[str, Any], extra: list[Any] | None = None) -> Any:
    return {
        "get": {
            "summary": summary,
            "security": BEARER,
            "parameters": [*PERIOD, *(extra or [])],
            "responses": {
                "200": _answer(
                    "k-suppressed numbers",
                    {
                        "type": "object",
                        "properties": {"results": results, **STATS_META},
                        "required": ["results", "site", "from", "to", "k"],
                    },
                ),
                **_errors(400, 401, 403),
            },
        }
    }


def _html(summary: str) -> Any:
    return {"get": {"summary": summary, "responses": {"200": _answer("a page", {}, "text/html")}}}


def document() -> dict[str, Any]:
    event = _event_schema(EVENT_RULES)
    batch = {"type": "array", "items": event, "minItems": 1, "maxItems": MAX_BATCH}
    accepted = {
        "type": "object",
        "properties": {
            "accepted": {"type": "integer", "minimum": 0},
            "rejected": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"index": {"type": "integer"}, "errors": {"type": "object"}},
                    "required": ["index", "errors"],
                },
            },
            "error": {"type": "string"},
        },
        "required": ["accepted", "rejected"],
    }
    gif = {"200": _answer("a 1x1 GIF, always", {}, "image/gif")}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "clearcount collector",
            "version": "1",
            "description": "First-party web analytics that respects consent. Error bodies are "
            "always {error, message} and never echo what was sent.",
        },
        "paths": {
            "/": _html("what this collector is: links and the beacon tag for each site"),
            **DASHBOARD_PATHS,
            "/api/event": {
                "post": {
                    "summary": "one event, or a batch of up to 100",
                    "requestBody": _body({"oneOf": [event, batch]}, JSON, "text/plain"),
                    "responses": {
                        "202": _answer("durable; invalid events listed in rejected", accepted),
                        "400": _answer(
                            "no valid event (each listed), or a body that is not JSON",
                            {"anyOf": [accepted, ERROR]},
                        ),
                        "403": _answer(
                            "every event was for an unknown site or Origin",
                            {"anyOf": [accepted, ERROR]},
                        ),
                        **_errors(413, 415, 429, 503),
                    },
                }
            },
            "/api/pixel.gif": {
                "get": {
                    "summary": "no-JS page view, or an e-mail open when c names a campaign",
                    "parameters": [
                        _query("site", {"type": "string"}),
                        _query("url", {"type": "string"}),
                        _query("ref", {"type": "string"}),
                        _query("c", {"type": "string"}),
                        BACKFILL_TS,
                    ],
                    "responses": gif,
                }
            },
            "/r": {
                "get": {
                    "summary": "click redirect to one of the site's redirect_hosts",
                    "parameters": [
                        _query("site", {"type": "string"}, required=True),
                        _query("to", {"type": "string"}, required=True),
                        _query("c", {"type": "string"}),
                        BACKFILL_TS,
                    ],
                    "responses": {
                        "302": _answer("redirected"),
                        "400": _answer("unknown site or a target not allowed", ERROR),
                        **_errors(429),
                    },
                }
            },
            "/api/consent": {
                "post": {
                    "summary": "a visitor's consent change, appended to the consent log",
                    "requestBody": _body(
                        {
                            "type": "object",
                            "properties": {
                                "site": SITE,
                                "visitor_id": {
                                    "anyOf": [
                                        {"type": "string", "minLength": 1, "maxLength": 128},
                                        {"type": "null"},
                                    ]
                                },
                                "consent": STATE,
                                "previous": {"anyOf": [STATE, {"type": "null"}]},
                                "policy_version": {
                                    "anyOf": [
                                        {"type": "string", "minLength": 1, "maxLength": 32},
                                        {"type": "null"},
                                    ]
                                },
                                "source": {
                                    "type": "string",
                                    "enum": ["banner", "api", "gpc", "dnt"],
                                },
                            },
                            "required": ["site", "consent"],
                            "additionalProperties": False,
                        },
                        JSON,
                        "text/plain",
                    ),
                    "responses": {"204": _answer("recorded"), **_errors(400, 403, 429, 503)},
                }
            },
            "/api/forget": {
                "post": {
                    "summary": "right to erasure",
                    "requestBody": _body(VISITOR, JSON, "text/plain"),
                    "responses": {
                        "202": _answer(
                            "the request is durable",
                            {"type": "object", "properties": {"status": {"const": "accepted"}}},
                        ),
                        **_errors(400, 403, 429, 503),
                    },
                }
            },
            "/api/export": {
                "post": {
                    "summary": "right of access: the visitor's stored events",
                    "requestBody": _body(VISITOR, JSON, "text/plain"),
                    "responses": {
                        "200": _answer(
                            "the events", {"type": "array", "items": {"type": "object"}}
                        ),
                        **_errors(400, 403, 429),
                    },
                }
            },
            "/beacon.js": {
                "get": {
                    "summary": "the tracker, minified",
                    "responses": {
                        "200": _answer("JavaScript", {}, "text/javascript"),
                        "304": _answer("unchanged (If-None-Match)"),
                    },
                }
            },
            "/api/behaviour.js": {
                "get": {
                    "summary": "the second script (behaviour maps and web vitals) for a site "
                    "with heatmaps or vitals on; an empty script for any other known site",
                    "parameters": [_query("site", SITE, required=True)],
                    "responses": {
                        "200": _answer("JavaScript", {}, "text/javascript"),
                        "304": _answer("unchanged (If-None-Match)"),
                        "404": _answer("no such site", {}, "text/javascript"),
                    },
                }
            },
            "/api/stats/heatmap": _stats(
                "one page's click, hover or scroll map for a band of viewport widths: cells "
                "of a 20-column grid with rows of 100 px (scroll: depths in steps of 10 %); "
                "cells fewer than k visitors saw are withheld and counted in withheld_cells",
                {"type": "array", "items": {"type": "object"}},
                [
                    _query("page", {"type": "string"}, required=True, about="a path: /pricing"),
                    _query("kind", {"enum": list(KINDS)}, about="click (the default)"),
                    _query("width", {"enum": [*WIDTHS, ALL_WIDTHS]}, about="desktop (the default)"),
                ],
            ),
            "/api/stats/vitals": _stats(
                "web vitals: the 75th percentile of each, with the shares of page views rated "
                "good, needs improvement and poor by Google's thresholds, for the site "
                "('total') and per page or device",
                {"type": "array", "items": {"type": "object"}},
                [_query("by", {"enum": list(VITALS_BY)}, about="page (the default)")],
            ),
            "/api/stats/aggregate": _stats(
                "totals for a site and period",
                {
                    "type": "object",
                    "description": "each metric a number, or with compare=previous_period an "
                    "object {value, previous, change}",
                    "properties": {
                        name: {"type": ["number", "null", "object"]} for name in METRICS
                    },
                },
            ),
            "/api/stats/timeseries": _stats(
                "the same per day", {"type": "array", "items": {"type": "object"}}
            ),
            "/api/stats/breakdown": _stats(
                "the metrics per value of a property (visit properties: visits and their "
                "visitors; path: page views and visitors)",
                {"type": "array", "items": {"type": "object"}},
                [
                    _query("property", {"type": "string"}, required=True),
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}),
                ],
            ),
            "/api/stats/goals": _stats(
                "the site's goals (visitors, conversions, conversion rate) and, in 'funnels', "
                "each funnel's steps (visits, visitors, drop-off, conversion rate)",
                {"type": "array", "items": {"type": "object"}},
            ),
            "/api/stats/realtime": {
                "get": {
                    "summary": "visitors in the last 30 minutes, events not yet loaded included",
                    "security": BEARER,
                    "parameters": [_query("site", SITE, required=True)],
                    "responses": {
                        "200": _answer(
                            "k-suppressed count",
                            {
                                "type": "object",
                                "properties": {
                                    "visitors": {"type": ["integer", "null"], "minimum": 0},
                                    "site": {"type": "string"},
                                    "k": {"type": "integer"},
                                    "window_minutes": {"type": "integer"},
                                },
                                "required": ["visitors", "site", "k"],
                            },
                        ),
                        **_errors(401, 403),
                    },
                }
            },
            "/api/openapi.json": {
                "get": {
                    "summary": "this document",
                    "responses": {"200": _answer("OpenAPI 3.1", {"type": "object"})},
                }
            },
            "/healthz": {
                "get": {
                    "summary": "liveness",
                    "responses": {"200": _answer("alive", {"type": "object"})},
                }
            },
            "/readyz": {
                "get": {
                    "summary": "readiness: spool writable, free space, backlog, loader lag; the "
                    "erasure backlog (erasures_pending, oldest_erasure_age_s), reported",
                    "responses": {
                        "200": _answer("ready", {"type": "object"}),
                        "503": _answer("not ready; the checks say why", {"type": "object"}),
                    },
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus text, summed over every worker and the loader",
                    "responses": {"200": _answer("metrics", {"type": "string"}, "text/plain")},
                }
            },
        },
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
                    "required": ["error", "message"],
                },
                "Event": event,
            },
            "securitySchemes": {
                "stats_token": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "the site's stats_token from the sites file",
                }
            },
        },
    }


def _page(summary: str, *statuses: int, params: list[Any] | None = None) -> Any:
    answers = {
        200: _answer("a page", {}, "text/html"),
        302: {"description": "no session or share token for the site: to the login"},
        303: {"description": "done: to the next page"},
        400: _answer("a view that cannot be shown (the page says why)", {}, "text/html"),
        401: _answer("a wrong token (the login page again)", {}, "text/html"),
        429: _answer(
            "too many wrong tokens from this client's network (the login page again)",
            {},
            "text/html",
        ),
    }
    return {
        "summary": summary,
        **({"parameters": params} if params else {}),
        "responses": {str(code): answers[code] for code in statuses},
    }


SITE_PATH = {"name": "site_id", "in": "path", "required": True, "schema": SITE}
VIEW = [SITE_PATH, *(p for p in PERIOD if p["name"] not in ("site", "metrics", "compare"))]
DASHBOARD_PATHS = {
    "/dashboard": {"get": _page("the sites, each a link to its dashboard", 200)},
    "/dashboard/login": {
        "get": _page(
            "the login form",
            200,
            params=[_query("site", {"type": "string"}, about="the site chosen in the form")],
        ),
        "post": {
            **_page("log in with the site's stats_token: a session cookie", 303, 401, 429),
            "requestBody": _body(
                {
                    "type": "object",
                    "properties": {"site": {"type": "string"}, "token": {"type": "string"}},
                    "required": ["site", "token"],
                },
                "application/x-www-form-urlencoded",
            ),
        },
    },
    "/dashboard/logout": {"post": _page("end the session", 303)},
    "/dashboard/{site_id}": {
        "get": _page(
            "the site's dashboard for the period and filters asked", 200, 302, 400, params=VIEW
        )
    },
    "/dashboard/{site_id}/csv/{panel}": {
        "get": {
            **_page(
                "one panel of the view as CSV",
                302,
                400,
                params=[
                    *VIEW,
                    {"name": "panel", "in": "path", "required": True, "schema": {"type": "string"}},
                ],
            ),
            "responses": {
                "200": _answer("the panel's rows", {"type": "string"}, "text/csv"),
                "302": {"description": "no session or share token for the site: to the login"},
                "400": _answer("a view that cannot be shown", {"type": "string"}, "text/plain"),
                "404": _answer("no such panel", {"type": "string"}, "text/plain"),
            },
        }
    },
    "/dashboard/{site_id}/heatmap": {
        "get": _page(
            "one page's click, hover or scroll map, its cells, clicked elements and vitals",
            200,
            302,
            400,
            params=[
                *VIEW,
                _query("page", {"type": "string"}, about="a path; the most viewed by default"),
                _query("kind", {"enum": list(KINDS)}),
                _query("width", {"enum": [*WIDTHS, ALL_WIDTHS]}),
            ],
        )
    },
    "/dashboard/{site_id}/export.zip": {
        "get": {
            **_page("every panel of the view as CSV files in a zip", 302, params=VIEW),
            "responses": {
                "200": _answer("a zip of CSV files and view.json", {}, "application/zip"),
                "302": {"description": "no session or share token for the site: to the login"},
                "400": _answer("a view that cannot be shown", {"type": "string"}, "text/plain"),
            },
        }
    },
}
DEMO_PATHS = {
    "/demo": _html("the demo shop (with --demo)"),
    "/demo/{route}": {
        "get": {
            "summary": "a route of the demo shop (with --demo)",
            "parameters": [
                {"name": "route", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "responses": {"200": _answer("a page", {}, "text/html")},
        }
    },
}


@bp.get("/api/openapi.json")
def openapi() -> Response:
    from service.http.state import state

    doc = document()
    if state().ctx.settings.demo:
        doc["paths"].update(DEMO_PATHS)
    return jsonify(doc)
