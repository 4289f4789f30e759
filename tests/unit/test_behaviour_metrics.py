"""Behaviour maps and web vitals (``metrics/behaviour.py``) against events whose true maps and
percentiles are worked out here by hand, and Google's thresholds against the library's own."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import duckdb
import numpy as np
import pytest

from pipelines.analysis.metrics.behaviour import VITALS, heatmap_sql, rating, vitals_sql
from pipelines.analysis.metrics.query import MetricsError, rows
from pipelines.analysis.stats import vitals_row, withhold_sub_counts
from service.http.behaviour import WEB_VITALS

DAY = dt.date(2026, 11, 24)
PARAMS = {"site": "shop", "date_from": DAY, "date_to": DAY, "page": "/pricing"}
COLUMNS = (
    "site VARCHAR, date DATE, type VARCHAR, path VARCHAR, device VARCHAR, visitor_key BIGINT, "
    "x SMALLINT, y INTEGER, vw INTEGER, rage BOOLEAN, dead BOOLEAN, depth SMALLINT, "
    'hover STRUCT(col TINYINT, "row" SMALLINT, ms INTEGER)[], lcp_ms INTEGER, inp_ms INTEGER, '
    "cls DOUBLE, fcp_ms INTEGER, ttfb_ms INTEGER"
)


def lake(events: list[dict[str, Any]]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(f"CREATE TABLE events ({COLUMNS})")
    names = ["site", "date", "type", "path", "device", "visitor_key", "x", "y", "vw", "rage"]
    names += ["dead", "depth", "hover", "lcp_ms", "inp_ms", "cls", "fcp_ms", "ttfb_ms"]
    for e in events:
        row = {"site": "shop", "date": DAY, "path": "/pricing", "device": "desktop", **e}
        con.execute(
            f"INSERT INTO events VALUES ({', '.join('?' for _ in names)})",  # noqa: S608
            [row.get(n) for n in names],
        )
    return con


def click(visitor: int, x: int, y: int, vw: int = 1280, **more: Any) -> dict[str, Any]:
    return {"type": "click", "visitor_key": visitor, "x": x, "y": y, "vw": vw, **more}


def engagement(visitor: int, **more: Any) -> dict[str, Any]:
    return {"type": "engagement", "visitor_key": visitor, **more}


def test_click_map_cells() -> None:
    con = lake(
        [
            click(1, 0, 0),  # col 0, row 0
            click(2, 49, 99),  # still col 0 (49 ‰ of 20 columns), row 0
            click(1, 50, 100, rage=True),  # col 1, row 1
            click(3, 1000, 2550, dead=True),  # the right edge is the last column: col 19, row 25
            click(3, 999, 2599, rage=True, dead=True),  # the same cell
            click(4, 500, 500, vw=390),  # a phone: not on the desktop map
            click(5, 500, 500, path="/other"),  # another page
            click(6, 500, 500, date=DAY + dt.timedelta(days=1)),  # another day
            {"type": "click", "visitor_key": 7, "name": "outbound"},  # no position
        ]
    )
    cells = withhold_sub_counts(rows(con, heatmap_sql("click", "desktop"), PARAMS), k=1)
    assert cells == [
        {"col": 0, "row": 0, "clicks": 2, "rage_clicks": 0, "dead_clicks": 0, "visitors": 2},
        {"col": 1, "row": 1, "clicks": 1, "rage_clicks": 1, "dead_clicks": 0, "visitors": 1},
        {"col": 19, "row": 25, "clicks": 2, "rage_clicks": 1, "dead_clicks": 2, "visitors": 1},
    ]
    phone = withhold_sub_counts(rows(con, heatmap_sql("click", "mobile"), PARAMS), k=1)
    assert phone == [
        {"col": 10, "row": 5, "clicks": 1, "rage_clicks": 0, "dead_clicks": 0, "visitors": 1}
    ]
    assert sum(c["clicks"] for c in rows(con, heatmap_sql("click", "all"), PARAMS)) == 6


def test_hover_map_sums_dwell_per_cell() -> None:
    def cells(*triples: tuple[int, int, int]) -> list[dict[str, int]]:
        return [{"col": c, "row": r, "ms": ms} for c, r, ms in triples]

    con = lake(
        [
            engagement(1, vw=1280, hover=cells((1, 1, 700), (15, 4, 420))),
            engagement(2, vw=1440, hover=cells((1, 1, 300))),
            engagement(1, vw=1280, hover=cells((1, 1, 100))),  # the same visitor, later
            engagement(3, vw=800, hover=cells((1, 1, 999))),  # a tablet
            engagement(4, vw=1280),  # no hover grid
        ]
    )
    assert rows(con, heatmap_sql("hover", "desktop"), PARAMS) == [
        {"col": 1, "row": 1, "ms": 1100, "engagements": 3, "visitors": 2},
        {"col": 15, "row": 4, "ms": 420, "engagements": 1, "visitors": 1},
    ]


def test_scroll_map_counts_who_reached_each_tenth() -> None:
    con = lake(
        [
            engagement(1, vw=1280, depth=100),
            engagement(2, vw=1280, depth=45),
            engagement(3, vw=1280, depth=0),
            engagement(3, vw=1280, depth=10),
            engagement(4, vw=390, depth=100),  # a phone
        ]
    )
    reached = {
        r["depth_pct"]: (r["engagements"], r["visitors"])
        for r in rows(con, heatmap_sql("scroll", "desktop"), PARAMS)
    }
    assert reached == {
        0: (4, 3),
        10: (3, 3),
        20: (2, 2),
        30: (2, 2),
        40: (2, 2),
        50: (1, 1),
        60: (1, 1),
        70: (1, 1),
        80: (1, 1),
        90: (1, 1),
        100: (1, 1),
    }


def test_unknown_kinds_and_widths_are_refused() -> None:
    with pytest.raises(MetricsError):
        heatmap_sql("move", "desktop")
    with pytest.raises(MetricsError):
        heatmap_sql("click", "watch")
    with pytest.raises(MetricsError):
        vitals_sql("country")


LCP = [900, 1800, 2500, 2600, 3900, 4000, 4100, 9000]


def test_vitals_p75_and_ratings() -> None:
    events = [
        engagement(i, lcp_ms=v, cls=0.05 * i, path="/pricing" if i % 2 else "/", device="mobile")
        for i, v in enumerate(LCP)
    ]
    events.append(engagement(99, inp_ms=250))  # no LCP: not an LCP sample
    con = lake(events)
    (total,) = rows(con, vitals_sql(None), PARAMS)
    assert total["pageviews"] == 9
    assert total["visitors"] == 9
    assert total["lcp_samples"] == 8
    assert total["lcp_p75"] == pytest.approx(np.percentile(LCP, 75), abs=0.5)
    expected = {
        "good": sum(v <= 2500 for v in LCP),
        "needs_improvement": sum(2500 < v <= 4000 for v in LCP),
        "poor": sum(v > 4000 for v in LCP),
    }
    for name, count in expected.items():
        assert total[f"lcp_{name}"] == round(100 * count / 8, 1)
    assert total["inp_p75"] == 250
    assert total["inp_samples"] == 1
    assert total["inp_needs_improvement"] == 100.0
    per_page = {r["page"]: r for r in rows(con, vitals_sql("page"), PARAMS)}
    odd = [v for i, v in enumerate(LCP) if i % 2]
    assert per_page["/pricing"]["lcp_p75"] == pytest.approx(np.percentile(odd, 75), abs=0.5)
    (mobile, desktop) = rows(con, vitals_sql("device"), PARAMS)
    assert (mobile["device"], mobile["pageviews"], desktop["device"]) == ("mobile", 8, "desktop")


def test_a_vital_fewer_than_k_visitors_measured_is_withheld() -> None:
    con = lake([engagement(i, lcp_ms=1000 + i, inp_ms=100 if i < 2 else None) for i in range(6)])
    (total,) = rows(con, vitals_sql(None), PARAMS)
    shaped = vitals_row(total, k=5)
    assert shaped["lcp"]["p75"] == 1004
    assert shaped["lcp"]["samples"] == 6
    assert shaped["inp"] == {
        "p75": None,
        "samples": None,
        "good": None,
        "needs_improvement": None,
        "poor": None,
        "withheld": True,
    }
    # one visitor's five page views are not five visitors
    con = lake([engagement(1, lcp_ms=1000 + i) for i in range(5)])
    (total,) = rows(con, vitals_sql(None), PARAMS)
    assert vitals_row(total, k=5)["lcp"]["withheld"] is True


def test_a_rating_share_of_fewer_than_k_page_views_is_withheld() -> None:
    """Two poor page views among ten: 20 % of 10 samples would tell the two."""
    values = [1000] * 8 + [5000, 6000]
    con = lake([engagement(i, lcp_ms=v) for i, v in enumerate(values)])
    (total,) = rows(con, vitals_sql(None), PARAMS)
    lcp = vitals_row(total, k=5)["lcp"]
    assert lcp["good"] == 80.0
    assert lcp["needs_improvement"] == 0.0
    assert lcp["poor"] is None
    assert lcp["suppressed"] == ["poor"]


def test_rage_and_dead_clicks_of_fewer_than_k_visitors_are_withheld() -> None:
    # six visitors click one cell; one of them rages (three clicks), five find it dead
    events = [click(v, 500, 500, dead=v < 5) for v in range(6)]
    events += [click(9, 500, 500, rage=True) for _ in range(3)]
    con = lake(events)
    (cell,) = withhold_sub_counts(rows(con, heatmap_sql("click", "desktop"), PARAMS), k=5)
    assert cell["clicks"] == 9
    assert cell["visitors"] == 7
    assert cell["rage_clicks"] is None  # three clicks, one visitor
    assert cell["dead_clicks"] == 5
    assert cell["suppressed"] == ["rage_clicks"]
    assert not [name for name in cell if name.endswith("_visitors")]


def test_thresholds_are_the_vendored_librarys() -> None:
    """The library exports ``t.LCPThresholds=O`` with ``O=[2500,4e3]`` earlier in its code."""
    source = WEB_VITALS.read_text(encoding="utf-8")
    for name, vital in VITALS.items():
        (variable,) = re.findall(rf"\.{name.upper()}Thresholds=(\w+)", source)
        (pair,) = re.findall(rf"\b{variable}=\[([^\]]+)\]", source)
        good, poor = (float(n) for n in pair.split(","))
        assert (vital.good, vital.poor) == (good, poor), name


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("lcp", 2500, "good"),
        ("lcp", 2501, "needs_improvement"),
        ("lcp", 4000, "needs_improvement"),
        ("lcp", 4001, "poor"),
        ("cls", 0.1, "good"),
        ("cls", 0.25, "needs_improvement"),
        ("cls", 0.26, "poor"),
        ("inp", 200, "good"),
        ("inp", 501, "poor"),
        ("ttfb", 800, "good"),
        ("fcp", 3000, "needs_improvement"),
    ],
)
def test_rating_follows_the_library(name: str, value: float, expected: str) -> None:
    assert rating(VITALS[name], value) == expected
