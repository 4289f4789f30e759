"""A 0 describes no one: every surface shows it as 0, and it makes no other cell withheld."""

from __future__ import annotations

from typing import Any

import pytest

from pipelines.analysis import report, stats

K = 5

# (consent mix rows as (label, visitors), the labels the report withholds)
CASES = [
    ([("denied", 0), ("implied", 18), ("granted", 7)], []),  # the tester's case
    ([("denied", 0), ("implied", 3), ("granted", 18), ("x", 20)], ["granted", "implied"]),
    ([("denied", 0), ("implied", 0), ("granted", 9)], []),
    ([("denied", 2), ("implied", 0), ("granted", 9)], ["denied", "granted"]),  # not the 0
    ([("denied", 0)], []),
]


@pytest.mark.parametrize(("rows", "withheld"), CASES, ids=[f"mix{i}" for i in range(len(CASES))])
def test_the_report_shows_zeros_and_pairs_a_lone_withheld_row_with_a_real_one(
    rows: list[tuple[str, int]], withheld: list[str]
) -> None:
    table = report.suppress(
        "consent_mix",
        ["consent", "visitors"],
        [{"consent": label, "visitors": n} for label, n in rows],
        K,
    )
    hidden = sorted(r["consent"] for r, s in zip(table.rows, table.suppressed, strict=True) if s)
    assert hidden == sorted(withheld)
    shown = {r["consent"]: r["visitors"] for r in table.rows if r["visitors"] is not None}
    assert all(shown[label] == 0 for label, n in rows if n == 0)


@pytest.mark.parametrize(
    ("row", "suppressed"),
    [
        ({"visitors": 0, "visits": 0, "pageviews": 0, "bounce_rate": None}, None),
        ({"visitors": 3, "visits": 4, "pageviews": 9, "bounce_rate": 50.0}, "some"),
        ({"visitors": 12, "visits": 14, "pageviews": 30, "bounce_rate": 40.0}, None),
    ],
    ids=["nothing", "small", "enough"],
)
def test_the_stats_api_withholds_small_counts_but_not_zeros(
    row: dict[str, Any], suppressed: str | None
) -> None:
    answer = stats.suppress(dict(row), K)
    if suppressed is None:
        assert "suppressed" not in answer
        assert answer == row
    else:
        assert answer["visitors"] is None
        assert "visitors" in answer["suppressed"]


@pytest.mark.parametrize(("rows", "withheld"), CASES, ids=[f"mix{i}" for i in range(len(CASES))])
def test_the_stats_api_withholds_the_same_rows_as_the_report(
    rows: list[tuple[str, int]], withheld: list[str]
) -> None:
    table = [{"consent": label, "visitors": n} for label, n in rows]
    shown, hidden = stats.withhold_rows([dict(r) for r in table], ["visitors"], K)
    assert sorted(r["consent"] for r in shown) == sorted(
        label for label, _ in rows if label not in withheld
    )
    assert hidden == len(withheld)


@pytest.mark.parametrize(
    ("days", "hidden"),
    [
        ([13, 6, 1, 0], [1, 2]),  # the tester's 13 - 6 - 6: the lone 1 takes the 6 with it
        ([13, 6, 1, 2], [2, 3]),  # two withheld already: no second needed
        ([13, 0, 1, 0], [0, 2]),  # the smallest real day, never a 0
        ([13, 6, 7, 0], []),
    ],
    ids=["lone", "two", "zeros", "none"],
)
def test_a_lone_withheld_day_takes_the_smallest_shown_day_with_it(
    days: list[int], hidden: list[int]
) -> None:
    rows = [stats.suppress({"pageviews": n}, K) for n in days]
    stats.complement_series(rows, ["pageviews"])
    assert [i for i, r in enumerate(rows) if r["pageviews"] is None] == hidden
    assert all(r["pageviews"] == 0 for r, n in zip(rows, days, strict=True) if n == 0)
