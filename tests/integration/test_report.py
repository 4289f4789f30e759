"""clearcount report: equal to independent SQL, nothing below k, charts drawn in a browser."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from playwright.sync_api import Browser

from pipelines.analysis.report import COUNT_COLUMNS, NOT_PARTS, TABLES, UNRANKED
from tests.integration.server import copy_demo, read_csv, run_cli

K = 5


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory, demo_source: Path) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("report")
    data = copy_demo(demo_source, root)
    out = root / "out"
    run_report(data, out)
    return data, out


def run_report(data: Path, out: Path, *options: str) -> None:
    result = run_cli(
        "report",
        "--site",
        "demo",
        "--from",
        "2000-01-01",
        "--to",
        "2100-01-01",
        "--out",
        str(out),
        *options,
        data_dir=data,
        sites=data.parent / "sites.toml",
        extra="spark" if "spark" in options else None,
    )
    assert result.returncode == 0, result.stderr[-3000:]


def test_every_table_is_written_as_csv_and_parquet(report: tuple[Path, Path]) -> None:
    _, out = report
    for name in TABLES:
        assert (out / f"{name}.csv").exists()
        assert (out / f"{name}.parquet").exists()


def test_report_numbers_equal_independent_sql(report: tuple[Path, Path]) -> None:
    data, out = report
    (overview,) = read_csv(out / "overview.csv")
    con = duckdb.connect(str(data / "clearcount.duckdb"), read_only=True)
    # The period is the demo's whole range, so no visit crosses its edges.
    visitors, pageviews = con.execute(
        "SELECT count(DISTINCT visitor_key), count(*) FILTER (WHERE type = 'pageview') "
        "FROM events WHERE site = 'demo' AND type <> 'open'"
    ).fetchone()  # type: ignore[misc]
    assert int(overview["pageviews"]) == pageviews
    assert int(overview["visitors"]) == visitors
    # Visits by entry source, counted independently: an event after 30 quiet minutes starts
    # one, and the visit takes the source of its first page view.
    independent = dict(
        con.execute(
            "WITH marked AS (SELECT *, CASE WHEN received_at - lag(received_at) OVER (PARTITION BY "
            "visitor_key ORDER BY received_at, event_id) <= INTERVAL 30 MINUTE THEN 0 ELSE 1 END AS s "
            "FROM events WHERE site = 'demo' AND type <> 'open'), "
            "numbered AS (SELECT *, sum(s) OVER (PARTITION BY visitor_key ORDER BY received_at, "
            "event_id ROWS UNBOUNDED PRECEDING) AS n FROM marked), "
            "entries AS (SELECT visitor_key, n, coalesce(min_by(source, (received_at, event_id)) "
            "FILTER (WHERE type = 'pageview'), min_by(source, (received_at, event_id))) AS source "
            "FROM numbered GROUP BY ALL) "
            "SELECT source, count(*) FROM entries GROUP BY source"
        ).fetchall()
    )
    for row in read_csv(out / "sources.csv"):
        if row["visits"] != "withheld":
            assert int(row["visits"]) == independent[row["source"]], row


def test_no_published_count_is_below_k(report: tuple[Path, Path]) -> None:
    _, out = report
    for name in TABLES:
        for row in read_csv(out / f"{name}.csv"):
            for column, value in row.items():
                if column in COUNT_COLUMNS and value != "withheld":
                    assert int(value) >= K, (name, column, value)


def test_a_single_suppressed_row_is_never_alone(report: tuple[Path, Path]) -> None:
    _, out = report
    for name in TABLES:
        if name in NOT_PARTS:
            continue  # a total's parts only: goals and funnel steps overlap, adding up to nothing
        flags = pq.read_table(out / f"{name}.parquet").column("suppressed").to_pylist()
        assert sum(flags) != 1 or len(flags) == 1, name


def test_html_report_renders_its_charts_offline(
    report: tuple[Path, Path], browser: Browser
) -> None:
    _, out = report
    html = (out / "report.html").read_text()
    # Nothing is fetched, so it opens offline: no scripts or stylesheets, images inline.
    assert "<script" not in html
    assert "<link" not in html
    assert html.count("<img") == html.count("<img alt='chart' src='data:image/png;base64,")
    page = browser.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto((out / "report.html").as_uri())
    widths = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.naturalWidth)")
    page.screenshot(path=str(out / "report.png"), full_page=True)
    page.close()
    assert errors == []
    assert len(widths) == 5
    assert all(w > 0 for w in widths)
    assert (out / "report.png").stat().st_size > 20_000  # charts, not a blank page


def test_epsilon_adds_noise_and_states_the_budget(
    report: tuple[Path, Path], tmp_path: Path
) -> None:
    data, exact_out = report
    out = tmp_path / "noisy"
    run_report(data, out, "--epsilon", "0.5")
    same = differ = 0
    for name in TABLES:
        exact, noisy = read_csv(exact_out / f"{name}.csv"), read_csv(out / f"{name}.csv")
        for a, b in zip(exact, noisy, strict=False):
            for column in COUNT_COLUMNS:
                if column in a and a[column].isdigit() and b[column].isdigit():
                    same, differ = (
                        (same + 1, differ) if a[column] == b[column] else (same, differ + 1)
                    )
                if column in b and b[column] != "withheld":
                    assert int(b[column]) >= K
    assert differ > (same + differ) // 3, (same, differ)  # noise was really added
    privacy = json.loads((out / "privacy.json").read_text())
    assert privacy["epsilon_per_statistic"] == 0.5
    assert privacy["total_epsilon"] == 0.5 * privacy["count_columns"]
    assert "privacy_unit" in privacy
    page = (out / "report.html").read_text()
    assert "ε = 0.5 per count column" in page
    assert f"total budget ε = {privacy['total_epsilon']}" in page


def test_spark_engine_agrees_with_duckdb(report: tuple[Path, Path], tmp_path: Path) -> None:
    data, duckdb_out = report
    out = tmp_path / "spark"
    run_report(data, out, "--engine", "spark")
    for name in TABLES:
        assert read_csv(out / f"{name}.csv") == read_csv(duckdb_out / f"{name}.csv"), name


def test_withheld_rows_say_only_withheld_and_keep_no_rank(report: tuple[Path, Path]) -> None:
    _, out = report
    seen = 0
    for name in TABLES:
        if name in UNRANKED:
            continue  # in an order of their own (days, bands, goals, the vitals)
        rows = read_csv(out / f"{name}.csv")
        flags = pq.read_table(out / f"{name}.parquet").column("suppressed").to_pylist()
        first_withheld = flags.index(True) if True in flags else len(flags)
        # every withheld row follows every shown one, in the order of its label
        assert all(flags[first_withheld:]), name
        labels = [r[next(iter(r))] for r in rows[first_withheld:]]
        assert labels == sorted(labels), name
        for row, flag in zip(rows, flags, strict=True):
            counts = [row[c] for c in COUNT_COLUMNS if c in row]
            if flag:
                seen += 1
                assert all(v == "withheld" for v in counts), (name, row)
                assert not any(v.startswith("<") for v in row.values()), (name, row)
    assert seen > 0  # the demo data has small rows


def test_a_withheld_value_cannot_be_worked_out_from_the_total(report: tuple[Path, Path]) -> None:
    """Try it: the total minus the shown rows of a visits breakdown leaves the sum of the
    withheld rows, never one of them alone."""
    _, out = report
    (overview,) = read_csv(out / "overview.csv")
    for name in ("sources", "countries", "browsers", "operating_systems", "devices"):
        rows = read_csv(out / f"{name}.csv")
        withheld = [r for r in rows if r["visits"] == "withheld"]
        if overview["visits"] != "withheld" and withheld:
            rest = int(overview["visits"]) - sum(
                int(r["visits"]) for r in rows if r not in withheld
            )
            assert rest > 0
            assert len(withheld) >= 2, (name, rest)  # more than one unknown: not recoverable


def test_goals_and_funnels_of_the_site(report: tuple[Path, Path]) -> None:
    _, out = report
    goals = read_csv(out / "goals.csv")
    assert [g["goal"] for g in goals] == ["Pricing", "Docs", "Signup", "Add to cart"]
    assert int(goals[0]["visitors"]) >= 5  # the pricing page is among the most viewed
    steps = read_csv(out / "funnels.csv")
    assert [(s["funnel"], s["step"], s["goal"]) for s in steps] == [
        ("Pricing to signup", "1", "Pricing"),
        ("Pricing to signup", "2", "Signup"),
    ]
    first = int(steps[0]["visits"])
    assert steps[1]["visits"] == "withheld" or int(steps[1]["visits"]) <= first
