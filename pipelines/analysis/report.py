"""clearcount report: one batch job that publishes aggregate tables that are safe to share.

Every table is a query of the metrics layer (``pipelines/analysis/metrics``: totals,
days, breakdowns, e-mail campaigns, goals, funnels and its named tables), the
same the Stats API and the notebooks run; on DuckDB the visits are cut once
into temp tables that every query reads. Each is k-suppressed and written as
CSV and Parquet beside one self-contained HTML page whose charts are embedded
images (it opens offline).

Suppression: every count below the site's ``k`` is published as ``withheld``
(null in Parquet, with the row marked). In a table with a dimension, a single
withheld row could be recovered as the total minus the others, so the
smallest shown row is withheld with it (complementary suppression); rates
computed from a withheld count are withheld too. "< k" would be a lie for the
second row, and a withheld row's rank would tell its size, so withheld rows
say only "withheld" and follow the shown rows in the order of their labels.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import html
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import duckdb
import matplotlib.pyplot as plt
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.analysis.metrics import (
    aggregate_sql,
    bind,
    breakdown_sql,
    email_campaigns_sql,
    named_sql,
    params,
    timeseries_sql,
)
from pipelines.analysis.metrics.behaviour import (
    SITE_CLICK_ELEMENTS_SQL,
    SUB_COUNTS,
    VITALS,
    vitals_sql,
)
from pipelines.analysis.metrics.goals import funnel_sql, goal_params, goals_sql
from pipelines.analysis.metrics.query import SHARED_TABLES
from pipelines.analysis.spreadsheet import spreadsheet_safe
from pipelines.analysis.stats import vitals_row, withhold_sub_counts
from pipelines.lake.tables import open_views
from service.sites import Site

TRAFFIC = ("visitors", "visits")
VITALS_PAGES = 20
# The traffic tables, each a query of the metrics layer: a breakdown is (property, label
# column, metrics in the order rows are ranked, row limit, leave out empty values).
BREAKDOWNS: dict[str, tuple[str, str, tuple[str, ...], int | None, bool]] = {
    "top_pages": ("path", "path", ("pageviews", "visitors"), 50, False),
    "entry_pages": ("entry_path", "path", ("visits", "visitors", "bounce_rate"), 50, True),
    "exit_pages": ("exit_path", "path", ("visits", "visitors"), 50, True),
    "sources": (
        "source",
        "source",
        ("visitors", "visits", "bounce_rate", "visit_duration"),
        None,
        False,
    ),
    "referrers": ("referrer_host", "referrer_host", TRAFFIC, 50, True),
    "utm_campaigns": ("utm_campaign", "utm_campaign", TRAFFIC, None, True),
    "countries": ("country", "country", TRAFFIC, None, False),
    "browsers": ("browser", "browser", TRAFFIC, None, False),
    "operating_systems": ("os", "os", TRAFFIC, None, False),
    "devices": ("device", "device", TRAFFIC, None, False),
}
OVERVIEW = ("visitors", "visits", "pageviews", "views_per_visit", "bounce_rate", "visit_duration")
DAILY = ("visitors", "visits", "pageviews")
TABLES = (
    "overview",
    "daily",
    "top_pages",
    "entry_pages",
    "exit_pages",
    "sources",
    "referrers",
    "utm_campaigns",
    "email_campaigns",
    "countries",
    "browsers",
    "operating_systems",
    "devices",
    "scroll_depth",
    "click_targets",
    "custom_events",
    "consent_mix",
    "bot_share",
    "goals",
    "funnels",
    "web_vitals",
    "vitals_by_page",
    "click_elements",
)
# (kind, table, label column, value column, title): the charts on the HTML page.
CHARTS = (
    ("line", "daily", "date", "pageviews", "Page views per day"),
    ("bar", "sources", "source", "visitors", "Visitors by entry source"),
    ("bar", "top_pages", "path", "pageviews", "Top pages"),
    ("bar", "devices", "device", "visitors", "Visitors by device"),
    ("bar", "consent_mix", "consent", "events", "Consent mix, in events (denied: counted only)"),
)
# What a table counts, said under its heading wherever it counts something other than
# its neighbours (the metrics themselves are defined on the README's Metrics page).
TABLE_NOTES = {
    "overview": "Visitors and page views of the period; visits counted on the day they start.",
    "daily": "Events on their own day, visits on the day they start; today is partial.",
    "sources": "Visits by the source of their entry page, and their visitors.",
    "referrers": "Visits by the referrer of their entry page, and their visitors.",
    "utm_campaigns": "Visits by the UTM campaign of their entry page, and their visitors.",
    "email_campaigns": "Readers, each once per campaign: openers, clickers, and openers who "
    "clicked; click-to-open is a share of the openers.",
    "consent_mix": "Counted in events (page views, clicks, engagement and the rest), not "
    "visitors: a denied event is counted, never stored, so it has no visitor.",
    "bot_share": "Counted in events: quarantined ones by reason, and those stored.",
    "goals": "Visitors who completed each goal, completions (events), and the goal's visitors "
    "as a % of all visitors.",
    "funnels": "Visits that reached each step in order within the visit.",
    "web_vitals": "The 75th percentile of each web vital and the shares Google's thresholds "
    "rate good, needing improvement and poor, over the page views that measured it.",
    "vitals_by_page": "The 75th percentile of each vital per page (a vital measured on fewer "
    "than k page views withheld).",
    "click_elements": "Clicks per page and element (tags, ids, classes), rage and dead "
    "clicks first; rage and dead counts from 1 to k - 1 withheld.",
}
# Tables in an order of their own (days, bands), not ranked by a count.
UNRANKED = frozenset({"overview", "daily", "scroll_depth", "goals", "funnels", "web_vitals"})
WITHHELD = "withheld"
# Rows that add up to nothing published (goals overlap; vitals are not counts of a total).
NOT_PARTS = frozenset({"overview", "goals", "funnels", "web_vitals"})
COUNT_COLUMNS = (
    "visitors",
    "visits",
    "pageviews",
    "events",
    "opens",
    "clicks",
    "openers_who_clicked",
    "engagements",
    "conversions",
)
# Columns worked out from counts, withheld with the count they come from. drop_off is the
# difference of two shown steps: it tells nothing the steps do not, even when small.
RATE_OF = {
    "conversion_rate": "visitors",
    "drop_off": "visits",
    "bounce_rate": "visits",
    "visit_duration": "visits",
    "views_per_visit": "visits",
    "click_to_open": "opens",
    # web vitals: values worked out from the page views that measured them
    "p75": "pageviews",
    "good": "pageviews",
    "needs_improvement": "pageviews",
    "poor": "pageviews",
    **{f"{name}_p75": "pageviews" for name in VITALS},
}


@dataclass
class Table:
    name: str
    columns: list[str]
    rows: list[dict[str, Any]]
    suppressed: list[bool]


def suppress(
    name: str, columns: list[str], rows: list[dict[str, Any]], k: int, *, noisy: bool = False
) -> Table:
    """``rows`` with every count below ``k`` withheld (and a second row with a lone one).

    An exact 0 describes no one: shown as 0, it neither is withheld nor makes another row
    so. A noisy count (``--epsilon``) of 0 or less may hide a small one: withheld."""
    counts = [c for c in columns if c in COUNT_COLUMNS]
    floor = -math.inf if noisy else 0

    def small(value: Any) -> bool:
        return value is not None and floor < value < k

    flagged = [any(small(r[c]) for c in counts) for r in rows]
    # Rows that add up to a published total need a second row withheld with a lone one;
    # goals and funnel steps overlap (a visitor reaches several), so they add up to nothing.
    dimensional = name not in NOT_PARTS and len(rows) > 1
    if dimensional and sum(flagged) == 1:
        # The second must hide something: withholding a 0 beside it would still let the
        # total give the lone one away.
        shown = [i for i, f in enumerate(flagged) if not f and any(rows[i][c] for c in counts)]
        if shown:
            smallest = min(shown, key=lambda i: tuple(rows[i][c] or 0 for c in counts))
            flagged[smallest] = True
    out = []
    for row, flag in zip(rows, flagged, strict=True):
        row = dict(row)
        for c in counts:
            # a flagged row of a table is withheld whole; the overview keeps what is above k
            if row[c] is not None and (small(row[c]) or (flag and name != "overview")):
                row[c] = None
        for rate, base in RATE_OF.items():
            if rate in row and base in row and row[base] is None:
                row[rate] = None
        out.append(row)
    if dimensional and name not in UNRANKED:
        # A withheld row keeps no rank: its place among the shown rows would tell its
        # size. Withheld rows follow the shown ones, in the order of their labels.
        label = columns[0]
        pairs = list(zip(out, flagged, strict=True))
        ranked = [p for p in pairs if not p[1]]
        hidden = sorted((p for p in pairs if p[1]), key=lambda p: str(p[0][label]))
        out, flagged = [p[0] for p in ranked + hidden], [p[1] for p in ranked + hidden]
    return Table(name, columns, out, flagged)


@dataclass(frozen=True)
class Privacy:
    """What ``--epsilon`` promises, printed in the report and written to privacy.json."""

    epsilon_per_statistic: float
    statistics: int

    @property
    def total_epsilon(self) -> float:
        return round(self.epsilon_per_statistic * self.statistics, 6)

    def describe(self) -> dict[str, Any]:
        return {
            "privacy_unit": "one event (a page view, click, engagement or other event)",
            "mechanism": "discrete Laplace noise (OpenDP make_laplace), scale 1/epsilon, "
            "on every published count; each count changes by at most 1 per event",
            "epsilon_per_statistic": self.epsilon_per_statistic,
            "count_columns": self.statistics,
            "total_epsilon": self.total_epsilon,
            "composition": "parallel over the rows of a count column (each event falls in one "
            "row), sequential over the count columns of all tables",
            "rates_and_durations": "withheld: they are not counts",
        }


def add_noise(
    raw: list[dict[str, Any]], columns: list[str], epsilon: float
) -> list[dict[str, Any]]:
    """Noisy counts (never negative); rates and durations withheld, since they are not counts."""
    import opendp.prelude as dp

    dp.enable_features("contrib")
    laplace = dp.m.make_laplace(
        dp.atom_domain(T=int), dp.absolute_distance(T=int), scale=1 / epsilon
    )
    out = []
    for row in raw:
        row = dict(row)
        for c in columns:
            if (c in COUNT_COLUMNS or c in SUB_COUNTS) and row[c] is not None:
                row[c] = max(0, int(laplace(int(row[c]))))
            elif c in RATE_OF:
                row[c] = None
        out.append(row)
    return out


def _traffic_sql(name: str, shared: bool) -> str | None:
    if name == "overview":
        return aggregate_sql(OVERVIEW, shared=shared)
    if name == "daily":
        return timeseries_sql(DAILY, shared=shared)
    if name == "email_campaigns":
        return email_campaigns_sql()
    if name in BREAKDOWNS:
        dimension, label, names, limit, skip_null = BREAKDOWNS[name]
        return breakdown_sql(
            dimension,
            names,
            label=label,
            limit=limit,
            skip_null=skip_null,
            none_as=None if skip_null else "(unknown)",
            shared=shared,
        )
    return None


GOAL_TABLES = ("goals", "funnels")
BEHAVIOUR_QUERIES = {
    "web_vitals": vitals_sql(None),
    "vitals_by_page": vitals_sql("page"),
    "click_elements": SITE_CLICK_ELEMENTS_SQL,
}


def queries(shared: bool = False, site: Site | None = None) -> dict[str, str]:
    """Every report query in DuckDB's dialect, all from the metrics layer (totals, days,
    breakdowns, campaigns, and its named tables); each with the visits prefix, or, ``shared``,
    reading the temp tables ``SHARED_TABLES`` creates first (visits cut once, not once a
    table: what the DuckDB engine runs). The site's goals add ``goals`` and a
    ``funnel_<n>`` query per funnel (``goal_tables`` turns them into two tables)."""
    out = {
        name: _traffic_sql(name, shared) or named_sql(name, shared=shared)
        for name in TABLES
        if name not in GOAL_TABLES and name not in BEHAVIOUR_QUERIES
    }
    out |= BEHAVIOUR_QUERIES
    if site is not None and site.goals:
        out["goals"] = goals_sql(site.goals)
        for n, funnel in enumerate(site.funnels):
            out[f"funnel_{n}"] = funnel_sql(funnel, site.goals)
    return out


def goal_tables(site: Site, raw: dict[str, RawTable]) -> dict[str, RawTable]:
    """The ``goals`` and ``funnels`` tables, goals and steps named, from their queries."""
    goals = [
        {"goal": g.name, **{c: r[c] for c in ("visitors", "conversions", "conversion_rate")}}
        for g, r in zip(site.goals, raw["goals"][1] if "goals" in raw else [], strict=False)
    ]
    steps = [
        {"funnel": funnel.name, "step": r["step"], "goal": funnel.steps[r["step"] - 1]}
        | {c: r[c] for c in ("visits", "visitors", "drop_off", "conversion_rate")}
        for n, funnel in enumerate(site.funnels)
        for r in raw[f"funnel_{n}"][1]
    ]
    return {
        "goals": (["goal", "visitors", "conversions", "conversion_rate"], goals),
        "funnels": (
            ["funnel", "step", "goal", "visits", "visitors", "drop_off", "conversion_rate"],
            steps,
        ),
    }


RawTable = tuple[list[str], list[dict[str, Any]]]


def behaviour_tables(raw: dict[str, RawTable], k: int) -> dict[str, RawTable]:
    """The behaviour tables from their queries: web vitals as a row per vital, the vitals
    per page as their 75th percentiles (each withheld below k page views that measured
    it), rage and dead clicks below k withheld."""
    (total,) = raw["web_vitals"][1] or [{}]
    shaped = vitals_row(total, k) if total else {}
    parts = ("p75", "good", "needs_improvement", "poor")
    vitals = [
        {
            "vital": name.upper(),
            "pageviews": total.get(f"{name}_samples") or 0,
            "visitors": total.get(f"{name}_visitors") or 0,
        }
        | {part: shaped.get(name, {}).get(part) for part in parts}
        for name in VITALS
    ]
    pages = [
        {"page": r["page"], "pageviews": r["pageviews"], "visitors": r["visitors"]}
        | {
            f"{name}_p75": r[f"{name}_p75"] if (r[f"{name}_visitors"] or 0) >= k else None
            for name in VITALS
        }
        for r in raw["vitals_by_page"][1]
    ][:VITALS_PAGES]
    columns, clicks = raw["click_elements"]
    return {
        "web_vitals": (["vital", "pageviews", "visitors", *parts], vitals),
        "vitals_by_page": (
            ["page", "pageviews", "visitors", *(f"{n}_p75" for n in VITALS)],
            pages,
        ),
        "click_elements": (
            [c for c in columns if c not in ("suppressed", *(f"{n}_visitors" for n in SUB_COUNTS))],
            withhold_sub_counts([dict(r) for r in clicks], k),
        ),
    }


def report_params(site: Site, date_from: dt.date, date_to: dt.date) -> dict[str, Any]:
    return {**params(site.id, date_from, date_to), **goal_params(site.goals)}


def run_queries(
    con: duckdb.DuckDBPyConnection, site: Site, date_from: dt.date, date_to: dt.date
) -> dict[str, RawTable]:
    """Every report query on one DuckDB connection, its visits cut once; raw rows."""
    values = report_params(site, date_from, date_to)
    for statement in SHARED_TABLES:
        con.execute(statement, bind(statement, values))
    out = {}
    for name, sql in queries(shared=True, site=site).items():
        cursor = con.execute(sql, bind(sql, values))
        columns = [d[0] for d in cursor.description]  # kept for a table with no rows
        out[name] = (columns, [dict(zip(columns, r, strict=True)) for r in cursor.fetchall()])
    return out


def duckdb_rows(
    data_dir: Path, site: Site, date_from: dt.date, date_to: dt.date
) -> dict[str, RawTable]:
    con = open_views(data_dir)
    try:
        return run_queries(con, site, date_from, date_to)
    finally:
        con.close()


def compute(
    data_dir: Path,
    site: Site,
    date_from: dt.date,
    date_to: dt.date,
    epsilon: float | None = None,
    engine: str = "duckdb",
    spark_master: str = "local[2]",
) -> list[Table]:
    if engine == "spark":
        from pipelines.analysis.report_spark import spark_rows

        # Spark reads the files of the tables' current Delta version; files a later commit
        # replaces stay for the readers' grace, so none is deleted under it.
        raw = spark_rows(
            data_dir, report_params(site, date_from, date_to), queries(site=site), spark_master
        )
    elif engine == "duckdb":
        raw = duckdb_rows(data_dir, site, date_from, date_to)
    else:
        raise ValueError(f"unknown engine {engine!r}")
    raw |= goal_tables(site, raw) | behaviour_tables(raw, site.k)
    today = dt.datetime.now(dt.UTC).date()
    tables = []
    for name in TABLES:
        columns, rows = raw[name]
        if name == "daily":
            # Today's numbers are still growing: the day says so, in the table and the chart.
            columns = [*columns, "partial"]
            rows = [{**r, "partial": "yes" if r["date"] == today else ""} for r in rows]
        if epsilon is not None:
            rows = add_noise(rows, columns, epsilon)  # noise first: suppression sees noisy counts
        tables.append(suppress(name, columns, rows, site.k, noisy=epsilon is not None))
    return tables


def _cell(value: Any, column: str, k: int) -> str:
    if value is None and (column in COUNT_COLUMNS or column in RATE_OF):
        return WITHHELD
    if isinstance(value, str):  # names and targets the site's visitors chose
        return spreadsheet_safe(value)
    return "" if value is None else str(value)


def write_tables(tables: list[Table], out: Path, k: int) -> None:
    for t in tables:
        with (out / f"{t.name}.csv").open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(t.columns)
            for row in t.rows:
                writer.writerow([_cell(row[c], c, k) for c in t.columns])
        arrow = (
            pa.Table.from_pylist(
                [
                    {
                        **{c: (str(r[c]) if c == "date" else r[c]) for c in t.columns},
                        "suppressed": s,
                    }
                    for r, s in zip(t.rows, t.suppressed, strict=True)
                ]
            )
            if t.rows
            else pa.table({c: pa.array([], pa.string()) for c in [*t.columns, "suppressed"]})
        )
        pq.write_table(arrow, out / f"{t.name}.parquet", compression="zstd")


def _chart(
    kind: str,
    labels: list[str],
    values: list[float | None],
    title: str,
    partial: frozenset[str] = frozenset(),
) -> str:
    """A chart as an inline PNG; points of a partial day are hollow, reached by a dashed line."""
    fig, ax = plt.subplots(figsize=(6, 2.6), dpi=100)
    shown = [(lbl, v) for lbl, v in zip(labels, values, strict=True) if v is not None]
    xs, ys = [s[0] for s in shown], [s[1] for s in shown]
    if kind == "line":
        whole = [i for i, x in enumerate(xs) if x not in partial]
        ax.plot([xs[i] for i in whole], [ys[i] for i in whole], marker="o", color="C0")
        for i, x in enumerate(xs):
            if x in partial:
                if i:
                    ax.plot(xs[i - 1 : i + 1], ys[i - 1 : i + 1], linestyle="--", color="C0")
                ax.plot([x], [ys[i]], marker="o", markerfacecolor="white", color="C0")
        if partial:
            title = f"{title} ({', '.join(sorted(partial))}: partial)"
        ax.tick_params(axis="x", labelrotation=30)
    else:
        ax.barh(xs[::-1], ys[::-1])
    ax.set_title(title)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def render_html(
    tables: list[Table],
    site: Site,
    date_from: dt.date,
    date_to: dt.date,
    privacy: Privacy | None = None,
) -> str:
    by = {t.name: t for t in tables}
    partial = frozenset(str(r["date"]) for r in by["daily"].rows if r.get("partial") == "yes")
    charts = [
        _chart(
            kind,
            [str(r[label]) for r in rows],
            [r[value] for r in rows],
            title,
            partial if table == "daily" else frozenset(),
        )
        for kind, table, label, value, title in CHARTS
        # every day on a line chart; the top ten of a ranking
        for rows in [by[table].rows if kind == "line" else by[table].rows[:10]]
    ]
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>clearcount report: {html.escape(site.id)}</title>",
        "<style>body{font-family:system-ui,sans-serif;margin:2rem;color:#1d2330}"
        "table{border-collapse:collapse;margin:0 0 2rem}"
        "td,th{border:1px solid #ccd;padding:2px 8px}"
        "img{display:block;margin:1rem 0}</style></head><body>",
        f"<h1>{html.escape(site.id)}: {date_from} to {date_to}</h1>",
        *(
            [
                f"<p><strong>{', '.join(sorted(partial))} is today:</strong> its numbers are still "
                "growing (the daily table marks it partial).</p>"
            ]
            if partial
            else []
        ),
        f"<p>Counts below k = {site.k} are withheld; where one value could be worked out "
        "from a total, a second is withheld with it. Withheld rows follow the shown ones in "
        "the order of their labels, so their place says nothing of their size.</p>",
    ]
    if privacy is not None:
        d = privacy.describe()
        parts.append(
            f"<p><strong>Differential privacy:</strong> privacy unit: {d['privacy_unit']}; "
            f"ε = {d['epsilon_per_statistic']} per count column, {d['count_columns']} columns, "
            f"total budget ε = {d['total_epsilon']} ({d['composition']}). {d['mechanism']}. "
            f"Rates and durations: {d['rates_and_durations']}.</p>"
        )
    parts += [f"<img alt='chart' src='{src}'>" for src in charts]
    for t in tables:
        parts.append(f"<h2>{html.escape(t.name.replace('_', ' '))}</h2>")
        if t.name in TABLE_NOTES:
            parts.append(f"<p>{html.escape(TABLE_NOTES[t.name])}</p>")
        parts.append("<table><tr>")
        parts += [f"<th>{html.escape(c)}</th>" for c in t.columns]
        parts.append("</tr>")
        for row in t.rows:
            cells = "".join(f"<td>{html.escape(_cell(row[c], c, site.k))}</td>" for c in t.columns)
            parts.append(f"<tr>{cells}</tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    return "".join(parts)


def build_report(
    data_dir: Path,
    site: Site,
    date_from: dt.date,
    date_to: dt.date,
    out: Path,
    epsilon: float | None = None,
    engine: str = "duckdb",
    spark_master: str = "local[2]",
) -> list[Table]:
    if epsilon is not None and epsilon <= 0:
        raise ValueError("epsilon must be positive")
    out.mkdir(parents=True, exist_ok=True)
    tables = compute(data_dir, site, date_from, date_to, epsilon, engine, spark_master)
    privacy = None
    if epsilon is not None:
        # An event falls in one row of a table, so a column's rows compose in parallel;
        # the columns of all tables compose sequentially.
        columns = sum(sum(c in COUNT_COLUMNS for c in t.columns) for t in tables)
        privacy = Privacy(epsilon, columns)
        (out / "privacy.json").write_text(
            json.dumps(privacy.describe(), indent=2), encoding="utf-8"
        )
    write_tables(tables, out, site.k)
    page = render_html(tables, site, date_from, date_to, privacy)
    (out / "report.html").write_text(page, encoding="utf-8")
    return tables
