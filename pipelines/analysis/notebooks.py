"""Shared code for the analyst notebooks: find the data, open the views read-only, run a query.

Notebooks call ``query(con, "<name>", site=...)`` and get a pandas DataFrame,
which Jupyter shows as a table and matplotlib plots by column. The traffic
queries (``TRAFFIC``: days, sources, top pages) are the metrics layer's
(``pipelines/analysis/metrics``), the numbers the report and the Stats API publish;
the others live in ``pipelines/analysis/sql/<name>.sql`` with bound parameters.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import duckdb

from pipelines.analysis.metrics import (
    EMAIL_METRICS,
    METRICS,
    bind,
    breakdown_sql,
    email_campaigns_sql,
    named_sql,
    params,
    timeseries_sql,
)
from pipelines.analysis.metrics.goals import funnel_sql, goal_params
from service.extras import require
from service.site_goals import Funnel, Goal

QUERIES = Path(__file__).parent / "sql"
CHECKOUT = Path(__file__).resolve().parents[2]


def data_dir() -> Path:
    """``CLEARCOUNT_DATA_DIR``, else the project's ``./data`` wherever the kernel runs.

    JupyterLab starts a notebook's kernel in the notebook's own folder, where a
    relative ``./data`` names nothing; in a checkout the project's folder is
    where ``make run`` and ``clearcount demo`` put the data by default.
    """
    configured = os.environ.get("CLEARCOUNT_DATA_DIR")
    if configured:
        return Path(configured)
    if (CHECKOUT / "pyproject.toml").exists():
        return CHECKOUT / "data"
    return Path("./data")


def open_views(directory: Path | None = None) -> duckdb.DuckDBPyConnection:
    """The views, read-only: safe while the collector ingests and loads."""
    path = (directory or data_dir()) / "clearcount.duckdb"
    if not path.exists():
        raise FileNotFoundError(
            f"{path} does not exist: start the collector (make run) or send demo traffic "
            "(clearcount demo) first, or set CLEARCOUNT_DATA_DIR to the data directory"
        )
    return duckdb.connect(str(path), read_only=True)


# name → (SQL of the metrics layer, the columns each row is labelled by): the report's
# and the Stats API's numbers, for the notebooks.
TRAFFIC: dict[str, tuple[str, tuple[str, ...]]] = {
    "daily_traffic": (timeseries_sql(("visitors", "visits", "pageviews")), ("date",)),
    "sources": (breakdown_sql("source", ("visitors", "visits"), label="source"), ("source",)),
    "top_pages": (breakdown_sql("path", ("pageviews", "visitors"), label="path"), ("path",)),
    "campaigns": (email_campaigns_sql(), ("campaign",)),
    "scroll_depth": (named_sql("scroll_depth"), ("path", "depth_pct")),
    "click_targets": (named_sql("click_targets"), ("name", "href")),
    "custom_events": (named_sql("custom_events"), ("name",)),
    "consent_mix": (named_sql("consent_mix"), ("consent",)),
    "bot_share": (named_sql("bot_share"), ("reason",)),
}
# Ranked by position (days, bands): not re-ranked by their counts after adding sites.
ORDERED = frozenset({"daily_traffic", "scroll_depth"})


def query(con: duckdb.DuckDBPyConnection, name: str, **bound: Any) -> Any:
    """The named query's result as a pandas DataFrame (typed Any: pandas ships no stubs)."""
    if name in TRAFFIC:
        return traffic(con, name, **bound)
    if name == "funnel":
        return funnel(con, [bound["first"], bound["second"]], site=bound.get("site"))
    sql = (QUERIES / f"{name}.sql").read_text(encoding="utf-8")
    wanted = {
        key: value
        for key, value in {"site": None, "limit": 10, **bound}.items()
        if f"${key}" in sql
    }
    return con.execute(sql, wanted).df()


def _sites_and_days(
    con: duckdb.DuckDBPyConnection, site: str | None
) -> tuple[list[str], dt.date | None, dt.date | None]:
    """The site asked for, or every site; and the first and last day the lake holds."""
    sites = (
        [site]
        if site
        else [r[0] for r in con.execute("SELECT DISTINCT site FROM events ORDER BY 1").fetchall()]
    )
    first, last = con.execute("SELECT min(date), max(date) FROM events").fetchone() or (None, None)
    return sites, first, last


def traffic(
    con: duckdb.DuckDBPyConnection,
    name: str,
    site: str | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    limit: int | None = None,
) -> Any:
    """A traffic table of one site, or of every site (``site=None``), over the days given or
    every day the lake holds. Every site's pseudonyms are its own, so the sites' counts add
    up exactly; the rows are ranked again after adding."""
    sql, labels = TRAFFIC[name]
    label = labels[0]
    sites, first, last = _sites_and_days(con, site)
    start, end = date_from or first, date_to or last
    pandas = require("pandas", extra="notebooks", feature="the notebooks' tables")
    frames = (
        [con.execute(sql, bind(sql, params(s, start, end))).df() for s in sites]
        if start and end
        else []
    )
    if not frames:
        return pandas.DataFrame(columns=list(labels))
    table = pandas.concat(frames, ignore_index=True)
    counts = [c for c in table.columns if c not in labels]
    defined = {**METRICS, **EMAIL_METRICS}
    rates = [c for c in counts if c in defined and not defined[c].count]
    counts = [c for c in counts if c not in rates]
    if len(sites) > 1:
        # counts add up across sites; a rate is worked out again from the added counts
        table = table.groupby(list(labels), as_index=False, dropna=False)[counts].sum()
        for rate in rates:
            share_of = defined[rate].share_of
            if share_of is not None:
                part, whole = (table[c] for c in share_of)
                table[rate] = (100.0 * part / whole.where(whole > 0)).round(1)
    if name in ORDERED:
        table = table.sort_values(list(labels))
    else:
        table = table.sort_values(
            [*counts, *labels], ascending=[False] * len(counts) + [True] * len(labels)
        )
    if label == "date":
        # today's numbers are still growing, as the report and the Stats API say too
        table["partial"] = (
            pandas.to_datetime(table["date"]).dt.date == dt.datetime.now(dt.UTC).date()
        )
    table = table.reset_index(drop=True)
    return table.head(limit) if limit else table


def funnel(con: duckdb.DuckDBPyConnection, pages: list[str], site: str | None = None) -> Any:
    """The metrics layer's funnel over pages (``*`` for any characters), every day the lake
    holds: per step, the visits that viewed each page in order within the visit, their
    visitors, the drop-off and the % of the first step's visits; sites added up."""
    goals = tuple(Goal(page, page=page) for page in pages)
    sql = funnel_sql(Funnel("pages", tuple(g.name for g in goals)), goals)
    sites, first, last = _sites_and_days(con, site)
    pandas = require("pandas", extra="notebooks", feature="the notebooks' tables")
    columns = ["step", "page", "visits", "visitors", "drop_off", "conversion_rate"]
    if not (first and last and sites):
        return pandas.DataFrame(columns=columns)
    frames = [
        con.execute(sql, bind(sql, {**params(s, first, last), **goal_params(goals)})).df()
        for s in sites
    ]
    table = pandas.concat(frames).groupby("step", as_index=False)[["visits", "visitors"]].sum()
    table["page"] = [pages[i - 1] for i in table["step"]]
    table["drop_off"] = (table["visits"].shift(1) - table["visits"]).fillna(0).astype(int)
    table["conversion_rate"] = (100.0 * table["visits"] / table["visits"].iloc[0]).round(1)
    return table[columns]
