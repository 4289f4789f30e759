"""Ground truth for every metric: SQL from the metrics layer against an independent count.

Events are generated with known visitors, gaps, entries and interactions,
written through the spool and the loader into a real lake, and queried
through ``pipelines.analysis.metrics``. The oracle below implements the README's
definitions in plain Python, so a definition that drifts in SQL fails here.
A few hand-checked cases pin the definitions themselves.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pipelines.analysis.metrics import (
    EMAIL_METRICS,
    METRICS,
    VISIT_DIMENSIONS,
    aggregate_sql,
    breakdown_metrics,
    breakdown_sql,
    email_campaigns_sql,
    params,
    rows,
    timeseries_sql,
)
from pipelines.analysis.metrics.goals import funnel_sql, goal_params, goals_sql
from pipelines.analysis.stats import change
from pipelines.lake.load import load_once
from pipelines.lake.tables import ensure_views
from service.ingest.spool import SpoolWriter
from service.site_goals import Funnel, Goal
from tests.truth import (
    READ_THEN_BUY,
    Ev,
    Visit,
    email_truth,
    funnel_truth,
    generated,
    truth,
    visit_truth,
    visits_of,
)
from tests.truth import at as truth_at

DAY = dt.date(2026, 11, 20)
GAP = dt.timedelta(minutes=30)


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> dt.datetime:
    return truth_at(DAY, day, hour, minute, second)


def lake_of(tmp_path: Path, events: list[Ev]) -> duckdb.DuckDBPyConnection:
    writer = SpoolWriter(tmp_path / "spool", max_age_s=60)
    writer.append([e.record(n) for n, e in enumerate(events)])
    writer.close()
    load_once(tmp_path)
    ensure_views(tmp_path)
    return duckdb.connect(str(tmp_path / "clearcount.duckdb"), read_only=True)


def run(
    con: duckdb.DuckDBPyConnection, sql: str, start: dt.date, end: dt.date
) -> list[dict[str, Any]]:
    return rows(con, sql, params("shop", start, end))


# --- the oracle: the README's definitions, in Python ----------------------------------------


# --- hand-checked cases ----------------------------------------------------------------------

CASES = [
    # (name, events, expected totals for day 0)
    (
        "a gap of exactly 30 minutes continues the visit, one second more starts another",
        [Ev(1, at(0, 10)), Ev(1, at(0, 10, 30)), Ev(1, at(0, 11, 0, 1))],
        {"visitors": 1, "visits": 2, "pageviews": 3, "bounce_rate": 50.0, "visit_duration": 900.0},
    ),
    (
        "a click or custom event keeps a one-page visit from bouncing; engagement does not",
        [
            Ev(1, at(0, 9)),
            Ev(1, at(0, 9, 1), type="click"),
            Ev(2, at(0, 9)),
            Ev(2, at(0, 9, 2), type="engagement"),
            Ev(3, at(0, 9)),
            Ev(3, at(0, 9, 3), type="custom"),
        ],
        {"visitors": 3, "visits": 3, "pageviews": 3, "bounce_rate": 33.3, "visit_duration": 120.0},
    ),
    (
        "e-mail opens are not visits, visitors or page views",
        [Ev(1, at(0, 8), type="open", source="email", campaign="nov"), Ev(2, at(0, 8))],
        {"visitors": 1, "visits": 1, "pageviews": 1, "bounce_rate": 100.0, "visit_duration": 0.0},
    ),
    (
        "a visit that runs past midnight counts on the day it starts, not again the next",
        [Ev(1, at(-1, 23, 50)), Ev(1, at(0, 0, 10)), Ev(2, at(0, 12))],
        {"visitors": 2, "visits": 1, "pageviews": 2, "bounce_rate": 100.0, "visit_duration": 0.0},
    ),
]


@pytest.mark.parametrize(("name", "events", "expected"), CASES, ids=[c[0] for c in CASES])
def test_hand_checked_definitions(
    tmp_path: Path, name: str, events: list[Ev], expected: dict[str, Any]
) -> None:
    con = lake_of(tmp_path, events)
    (row,) = run(con, aggregate_sql(tuple(expected)), DAY, DAY)
    assert row == expected
    assert {k: truth(events, DAY, DAY)[k] for k in expected} == expected


@pytest.mark.parametrize(
    ("dimension", "expected"),
    [
        ("source", {"direct": 1, "email": 1}),
        ("referrer_host", {None: 1, "email.example": 1}),
        ("utm_campaign", {None: 1, "nov": 1}),
        ("entry_path", {"/": 1, "/b": 1}),
    ],
)
def test_a_visit_is_attributed_to_its_entry_even_where_the_entry_has_no_value(
    tmp_path: Path, dimension: str, expected: dict[str | None, int]
) -> None:
    """Visitor 1 enters directly and later follows a campaign link within the same visit:
    the visit stays direct, with no campaign (not the later page's, as an aggregate that
    skips empty values would have it)."""
    events = [
        Ev(1, at(0, 10)),
        Ev(1, at(0, 10, 5), path="/b", source="email", campaign="nov"),
        Ev(2, at(0, 11), path="/b", source="email", campaign="nov"),
    ]
    con = lake_of(tmp_path, events)
    rows = run(con, breakdown_sql(dimension, ("visits",)), DAY, DAY)
    assert {r["value"]: r["visits"] for r in rows} == expected


# --- generated traffic -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def traffic(tmp_path_factory: pytest.TempPathFactory) -> tuple[duckdb.DuckDBPyConnection, list[Ev]]:
    events = generated(7, DAY)
    return lake_of(tmp_path_factory.mktemp("lake"), events), events


PERIODS = [(0, 0), (1, 1), (0, 2), (-1, 3)]


@pytest.mark.parametrize(("first", "last"), PERIODS)
def test_totals_equal_the_truth(traffic: Any, first: int, last: int) -> None:
    con, events = traffic
    start, end = DAY + dt.timedelta(days=first), DAY + dt.timedelta(days=last)
    (row,) = run(con, aggregate_sql(tuple(METRICS)), start, end)
    assert row == truth(events, start, end)


def test_days_equal_the_truth(traffic: Any) -> None:
    con, events = traffic
    start, end = DAY - dt.timedelta(days=1), DAY + dt.timedelta(days=3)
    rows = run(con, timeseries_sql(tuple(METRICS)), start, end)
    visits = visits_of(events)
    assert len(rows) >= 3
    for row in rows:
        day = row.pop("date")
        assert row == truth(events, day, day, visits), day


@pytest.mark.parametrize("dimension", [*VISIT_DIMENSIONS[:7], "device"])
def test_visit_breakdowns_equal_the_truth(traffic: Any, dimension: str) -> None:
    con, events = traffic
    start, end = DAY, DAY + dt.timedelta(days=2)
    rows = run(con, breakdown_sql(dimension, breakdown_metrics(dimension)), start, end)
    chosen = [v for v in visits_of(events) if start <= v.day <= end]
    groups: dict[Any, list[Visit]] = defaultdict(list)
    for v in chosen:
        value = {
            "source": v.entry.source,
            "referrer_host": None if v.entry.source == "direct" else f"{v.entry.source}.example",
            "utm_source": None,
            "utm_medium": None,
            "utm_campaign": v.entry.campaign,
            "entry_path": next((e.path for e in v.events if e.type == "pageview"), None),
            "exit_path": [e.path for e in v.events if e.type == "pageview"][-1]
            if v.pageviews
            else None,
            "device": v.events[0].device,
        }[dimension]
        groups[value].append(v)
    expected = {value: visit_truth(vs) for value, vs in groups.items()}
    assert {r.pop("value"): r for r in rows} == expected


def test_page_breakdown_equals_the_truth(traffic: Any) -> None:
    con, events = traffic
    start, end = DAY, DAY + dt.timedelta(days=2)
    rows = run(con, breakdown_sql("path", ("visitors", "pageviews")), start, end)
    views = [e for e in events if e.type == "pageview" and start <= e.at.date() <= end]
    expected = {
        path: {
            "visitors": len({e.visitor for e in views if e.path == path}),
            "pageviews": sum(e.path == path for e in views),
        }
        for path in {e.path for e in views}
    }
    assert {r.pop("value"): r for r in rows} == expected


def test_a_filter_keeps_the_visits_with_that_property_and_their_events(traffic: Any) -> None:
    con, events = traffic
    start, end = DAY, DAY + dt.timedelta(days=2)
    sql = aggregate_sql(tuple(METRICS), filters=(("source", "search"),))
    cursor = con.execute(sql, params("shop", start, end, (("source", "search"),)))
    row = dict(zip([d[0] for d in cursor.description], cursor.fetchone() or (), strict=True))
    searched = [v for v in visits_of(events) if v.entry.source == "search"]
    kept = [e for v in searched for e in v.events]
    assert row == truth(kept, start, end, searched)


def test_email_campaigns_count_each_reader_once(tmp_path: Path) -> None:
    events = [
        Ev(1, at(0, 8), type="open", source="email", campaign="nov"),
        Ev(1, at(0, 9), type="open", source="email", campaign="nov"),  # opened again
        Ev(1, at(0, 9, 1), type="click", source="email", campaign="nov"),
        Ev(1, at(0, 9, 2), type="click", source="email", campaign="nov"),  # clicked again
        Ev(2, at(0, 8), type="open", source="email", campaign="nov"),
        Ev(3, at(0, 8), type="click", source="email", campaign="nov"),  # open not seen
        Ev(4, at(0, 8), type="open", source="email", campaign="dec"),
        Ev(4, at(0, 8, 5), type="click", source="email", campaign="dec"),
    ]
    rows = run(lake_of(tmp_path, events), email_campaigns_sql(), DAY, DAY)
    assert rows == [
        {
            "campaign": "nov",
            "opens": 2,
            "clicks": 2,
            "openers_who_clicked": 1,
            "click_to_open": 50.0,
        },
        {
            "campaign": "dec",
            "opens": 1,
            "clicks": 1,
            "openers_who_clicked": 1,
            "click_to_open": 100.0,
        },
    ]
    assert {r.pop("campaign"): r for r in rows} == email_truth(events, DAY, DAY)


def test_email_campaigns_equal_the_truth(traffic: Any) -> None:
    con, events = traffic
    start, end = DAY, DAY + dt.timedelta(days=2)
    rows = run(con, email_campaigns_sql(), start, end)
    assert rows
    assert all(r["click_to_open"] is None or r["click_to_open"] <= 100 for r in rows)
    assert {r.pop("campaign"): r for r in rows} == email_truth(events, start, end)
    assert set(EMAIL_METRICS) == {"opens", "clicks", "openers_who_clicked", "click_to_open"}


@pytest.mark.parametrize(
    ("name", "value", "previous", "expected"),
    [
        ("visitors", 110, 100, 10.0),
        ("pageviews", 50, 200, -75.0),
        ("visit_duration", 90.0, 60.0, 50.0),
        ("bounce_rate", 45.5, 40.0, 5.5),  # a rate changes by percentage points
        ("visitors", 10, 0, None),  # from nothing: no percentage
        ("visitors", None, 100, None),  # withheld on either side
        ("visitors", 100, None, None),
    ],
)
def test_change_against_the_previous_period(
    name: str, value: float | None, previous: float | None, expected: float | None
) -> None:
    assert change(name, value, previous) == expected


GOALS = (
    Goal("Pricing", page="/pricing"),
    Goal("Docs", page="/docs/*"),
    Goal("Signup", event="signup"),
)
SIGNUP_FUNNEL = Funnel("Signup", ("Pricing", "Signup"))


def test_goals_and_a_funnel_by_hand(tmp_path: Path) -> None:
    events = [
        Ev(1, at(0, 10)),
        Ev(1, at(0, 10, 1), path="/pricing"),
        Ev(1, at(0, 10, 2), type="custom", name="signup"),
        Ev(2, at(0, 10), type="custom", name="signup"),  # signed up before seeing pricing
        Ev(2, at(0, 10, 5), path="/pricing"),
        Ev(3, at(0, 10), path="/pricing"),
        Ev(3, at(0, 10, 40), type="custom", name="signup"),  # in another visit
        Ev(4, at(0, 10), path="/docs/api"),
        Ev(4, at(0, 10, 1), path="/docs_x"),  # "_" is a character, not a wildcard
        Ev(4, at(0, 11), path="/pricing"),
    ]
    con = lake_of(tmp_path, events)
    values = {**params("shop", DAY, DAY), **goal_params(GOALS)}
    goals = run_bound(con, goals_sql(GOALS), values)
    assert goals == [
        {"goal": 0, "visitors": 4, "conversions": 4, "conversion_rate": 100.0},
        {"goal": 1, "visitors": 1, "conversions": 1, "conversion_rate": 25.0},
        {"goal": 2, "visitors": 3, "conversions": 3, "conversion_rate": 75.0},
    ]
    steps = run_bound(con, funnel_sql(SIGNUP_FUNNEL, GOALS), values)
    assert steps == [
        {"step": 1, "visits": 4, "visitors": 4, "drop_off": 0, "conversion_rate": 100.0},
        {"step": 2, "visits": 1, "visitors": 1, "drop_off": 3, "conversion_rate": 25.0},
    ]


def run_bound(
    con: duckdb.DuckDBPyConnection, sql: str, values: dict[str, Any]
) -> list[dict[str, Any]]:
    return rows(con, sql, values)


def test_goals_and_funnels_equal_the_truth(traffic: Any) -> None:
    con, events = traffic
    goals = (Goal("Pricing", page="/pricing"), Goal("Blog", page="/b*"), Goal("Docs", page="/docs"))
    funnel = Funnel("Read then buy", ("Blog", "Docs", "Pricing"))
    start, end = DAY, DAY + dt.timedelta(days=2)
    values = {**params("shop", start, end), **goal_params(goals)}
    rows = run_bound(con, goals_sql(goals), values)
    in_period = [e for e in events if e.type == "pageview" and start <= e.at.date() <= end]
    for row, prefix in zip(rows, ("/pricing", "/b", "/docs"), strict=True):
        hits = [
            e
            for e in in_period
            if (e.path.startswith(prefix) if prefix == "/b" else e.path == prefix)
        ]
        assert (row["visitors"], row["conversions"]) == (len({e.visitor for e in hits}), len(hits))
    steps = run_bound(con, funnel_sql(funnel, goals), values)
    expected = funnel_truth(events, list(READ_THEN_BUY), start, end)
    assert [s["visits"] for s in steps] == expected
    assert expected[0] > expected[-1] > 0
