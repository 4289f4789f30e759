"""The report, the Stats API and the notebooks' tables print the same numbers for the same
question, on the same demo data: they all run the metrics layer."""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path
from typing import Any

import duckdb
import requests

from pipelines.analysis.notebooks import query
from pipelines.analysis.stats import DEFAULT_AGGREGATE
from tests import patience
from tests.integration.server import Server, copy_demo, read_csv, run_cli

FROM, TO = "2000-01-01", "2100-01-01"


def number(text: str) -> float | None:
    """A published cell as a number; None when withheld."""
    return None if text in ("", "withheld") else float(text)


def same(published: Any, other: Any) -> bool:
    """Equal, or withheld on the published side."""
    return published is None or float(published) == float(other)


def test_report_stats_api_and_notebooks_agree(tmp_path: Path, demo_source: Path) -> None:
    data = copy_demo(demo_source, tmp_path)
    site = tomllib.loads((tmp_path / "sites.toml").read_text())["sites"]["demo"]
    out = tmp_path / "report"
    report = run_cli(
        "report",
        "--site",
        "demo",
        "--from",
        FROM,
        "--to",
        TO,
        "--out",
        str(out),
        data_dir=data,
        sites=tmp_path / "sites.toml",
    )
    assert report.returncode == 0, report.stderr[-3000:]
    server = Server(tmp_path).start()

    def api(endpoint: str, **params: str) -> Any:
        response = requests.get(
            f"{server.url}/api/stats/{endpoint}",
            params={"site": "demo", "from": FROM, "to": TO, **params},
            headers={"Authorization": f"Bearer {site['stats_token']}"},
            timeout=patience.HTTP_S,
        )
        assert response.status_code == 200, response.text
        return response.json()["results"]

    con = duckdb.connect(str(data / "clearcount.duckdb"), read_only=True)
    compared = 0

    # totals: the report's overview and the API's aggregate
    (overview,) = read_csv(out / "overview.csv")
    totals = api("aggregate")
    for name in DEFAULT_AGGREGATE:
        published = number(overview[name])
        assert published == totals[name], (name, overview[name], totals[name])
        compared += published is not None

    # days: the report, the API and the notebook's daily_traffic
    notebook_days = {
        (d.date() if isinstance(d, dt.datetime) else d).isoformat(): row
        for d, row in query(con, "daily_traffic", site="demo").set_index("date").iterrows()
    }
    api_days = {row["date"]: row for row in api("timeseries")}
    report_days = read_csv(out / "daily.csv")
    assert len(report_days) >= 3
    for row in report_days:
        for name in ("visitors", "visits", "pageviews"):
            published = number(row[name])
            # the report withholds a day whole when one of its counts is below k; the
            # API withholds each count below k on its own
            assert same(published, api_days[row["date"]][name]), (row, name)
            assert same(published, notebook_days[row["date"]][name]), (row, name)
            compared += published is not None

    # sources: the report, the API's breakdown and the notebook's sources
    notebook_sources = query(con, "sources", site="demo").set_index("source")
    api_sources = {row["value"]: row for row in api("breakdown", property="source")}
    for row in read_csv(out / "sources.csv"):
        for name in ("visitors", "visits"):
            published = number(row[name])
            if published is not None:
                assert api_sources[row["source"]][name] == published, (row, name)
                assert notebook_sources.loc[row["source"], name] == published, (row, name)
                compared += 1

    # pages: the report's top pages and the notebook's
    notebook_pages = query(con, "top_pages", site="demo").set_index("path")
    for row in read_csv(out / "top_pages.csv"):
        for name in ("pageviews", "visitors"):
            published = number(row[name])
            assert same(published, notebook_pages.loc[row["path"], name]), (row, name)
            compared += published is not None
    con.close()
    server.stop()
    assert compared > 30  # most of it is published at the site's k
