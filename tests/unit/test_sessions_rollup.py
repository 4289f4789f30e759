"""The sessions rollup gives exactly the numbers of the raw-event definitions.

Generated traffic (visits across midnight, gaps of exactly 30 minutes, opens,
clicks, several sources) goes through the spool and the loader, in two rounds
so that the second refresh rebuilds only the days the late events changed.
Every total, day, hour and breakdown, with and without filters, is compared
between the raw events (held to the ground truth in test_metrics_truth.py) and
the rollup the Stats API and the dashboard read.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pipelines.analysis.metrics import (
    DIMENSIONS,
    METRICS,
    aggregate_sql,
    breakdown_metrics,
    breakdown_sql,
    params,
    rows,
    timeseries_sql,
)
from pipelines.lake import rollups
from pipelines.lake.load import load_once
from pipelines.lake.tables import Lake, ensure_views
from service.ingest.spool import SpoolWriter
from tests.truth import Ev, generated

DAY = dt.date(2026, 11, 20)
PERIODS = [(0, 0), (1, 1), (0, 2), (-1, 3), (2, 2)]
FILTERS: list[tuple[tuple[str, str], ...]] = [
    (),
    (("source", "search"),),
    (("path", "/pricing"),),
    (("device", "mobile"), ("source", "direct")),
    (("entry_path", "/blog"),),
]


def spool(data_dir: Path, events: list[Ev], first: int) -> None:
    writer = SpoolWriter(data_dir / "spool", max_age_s=60)
    writer.append([e.record(first + n) for n, e in enumerate(events)])
    writer.close()
    load_once(data_dir)


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> tuple[duckdb.DuckDBPyConnection, Lake]:
    data_dir = tmp_path_factory.mktemp("rollup")
    # Three visitors' pseudonyms nulled, as expiry nulls them: one visitor's events, NULL.
    events = [
        dataclasses.replace(e, visitor=None) if e.visitor in (3, 5, 8) else e  # type: ignore[arg-type]
        for e in generated(11, DAY)
    ]
    # The second round holds day 1's afternoon: events that join and split visits the first
    # round's rollup already holds, and a day the refresh must rebuild with its neighbours.
    late = [e for e in events if e.at.date() == DAY + dt.timedelta(days=1) and e.at.hour >= 12]
    early = [e for e in events if e not in late]
    spool(data_dir, early, 0)
    lake = Lake.of(data_dir)
    first = rollups.reflected_version(lake)
    spool(data_dir, late, len(early))
    assert rollups.is_current(lake)
    assert rollups.reflected_version(lake) != first
    ensure_views(data_dir)
    return duckdb.connect(str(data_dir / "clearcount.duckdb"), read_only=True), lake


def both(con: duckdb.DuckDBPyConnection, build: Any, values: dict[str, Any]) -> tuple[Any, Any]:
    return rows(con, build("events"), values), rows(con, build("sessions"), values)


@pytest.mark.parametrize(("first", "last"), PERIODS)
@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: ";".join(f"{k}={v}" for k, v in f))
def test_totals_days_and_hours_equal_the_raw_definitions(
    lake: Any, first: int, last: int, filters: tuple[tuple[str, str], ...]
) -> None:
    con, _ = lake
    start, end = DAY + dt.timedelta(days=first), DAY + dt.timedelta(days=last)
    values = params("shop", start, end, filters)
    names = tuple(METRICS)
    raw, rolled = both(con, lambda s: aggregate_sql(names, filters, source=s), values)
    assert rolled == raw
    assert raw[0]["visits"] or raw[0]["visitors"] == 0 or filters
    raw, rolled = both(con, lambda s: timeseries_sql(names, filters, source=s), values)
    assert rolled == raw
    if last - first <= 2:
        raw, rolled = both(
            con, lambda s: timeseries_sql(names, filters, interval="hour", source=s), values
        )
        assert rolled == raw
        assert len(raw) > 3 or filters


@pytest.mark.parametrize("dimension", DIMENSIONS)
@pytest.mark.parametrize("filters", FILTERS[:3], ids=lambda f: ";".join(f"{k}={v}" for k, v in f))
def test_breakdowns_equal_the_raw_definitions(
    lake: Any, dimension: str, filters: tuple[tuple[str, str], ...]
) -> None:
    con, _ = lake
    start, end = DAY, DAY + dt.timedelta(days=2)
    values = params("shop", start, end, filters)
    names = breakdown_metrics(dimension)
    raw, rolled = both(con, lambda s: breakdown_sql(dimension, names, filters, source=s), values)
    assert rolled == raw
    assert raw or filters


def test_the_rollup_holds_a_row_per_visit_and_day(lake: Any) -> None:
    con, _ = lake
    (crossing,) = con.execute(
        "SELECT count(*) FROM sessions WHERE date > visit_date AND site = 'shop'"
    ).fetchone()
    assert crossing > 0  # visits across midnight have a row on each day
    (duplicates,) = con.execute(
        "SELECT count(*) FROM (SELECT visitor_key, started_at, date FROM sessions "
        "GROUP BY ALL HAVING count(*) > 1)"
    ).fetchone()
    assert duplicates == 0


def test_a_refresh_with_nothing_new_commits_nothing(lake: Any) -> None:
    _, table = lake
    version = table.table("sessions").version()
    stats = rollups.refresh(table)
    assert stats.days == 0
    assert table.table("sessions").version() == version
