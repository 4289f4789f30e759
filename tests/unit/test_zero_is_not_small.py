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
