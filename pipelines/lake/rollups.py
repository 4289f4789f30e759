"""The ``sessions`` rollup: what lets the dashboard read a month without scanning it.

A row per visit and UTC day the visit has events on (``sessions.sql``), partitioned
like ``events`` by site and day. The Stats API and the dashboard read their totals,
days, hours and breakdowns from it; the metrics layer's ground-truth tests hold its
numbers equal to the same metrics over raw events.

The rollup follows the events table, not the spool: a refresh compares the events
version it last reflected (a Delta ``txn`` of app ``clearcount-rollups`` on the
sessions table) with the current one, finds the partitions whose files changed in
between (loads, compaction, retention, erasure alike), and rebuilds those days and
the day on each side (a visit may cross midnight), each run of days in one commit
that overwrites exactly those partitions. Any collector may refresh: a rebuild is a
pure function of the events version it read, and every row says which version that
was, so a refresh never writes over a day rebuilt from a later version, and stops
once the table reflects its version or a later one. An erasure rewrites the sessions
rows like any other table's, a refresh leaves out the rows of pseudonyms whose
erasure is under way (their tombstones), and the next refresh rebuilds those days
from the erased events.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake

from pipelines.analysis.metrics.query import VISITS_SQL
from pipelines.lake.commit import partition_predicate, retrying
from pipelines.lake.tables import PARTITION_BY, TABLE_SCHEMAS, WRITER, Lake

log = logging.getLogger("clearcount.rollups")

APP_ID = "clearcount-rollups"
# The metrics' own visits (one definition of a visit), then the rollup's rows. The rollup
# reads the visitors' numbered events several times: computed once (MATERIALIZED).
SESSIONS_SQL = (
    VISITS_SQL.replace("numbered AS (", "numbered AS MATERIALIZED (", 1).rstrip()
    + ",\n"
    + (Path(__file__).parent / "sessions.sql").read_text(encoding="utf-8")
)
# Days rebuilt by one query: bounds the memory of a first build over a long history.
DAYS_PER_QUERY = 7
_PARTITION = re.compile(r"site=([^/]+)/date=(\d{4}-\d{2}-\d{2})/")


@dataclass
class RefreshStats:
    events_version: int = -1
    days: int = 0
    rows: int = 0
    seconds: float = 0.0
    sites: set[str] = field(default_factory=set)


def reflected_version(lake: Lake) -> int | None:
    """The events version the sessions table reflects; None before its first build."""
    version = lake.table("sessions").transaction_version(APP_ID)
    return None if version is None else int(version)


def is_current(lake: Lake) -> bool:
    return reflected_version(lake) == lake.table("events").version()


def _partitions(uris: Iterable[str]) -> set[tuple[str, dt.date]]:
    out = set()
    for uri in uris:
        match = _PARTITION.search(uri)
        if match:
            out.add((unquote(match.group(1)), dt.date.fromisoformat(match.group(2))))
    return out


def changed_partitions(
    lake: Lake, since: int | None, events: DeltaTable
) -> set[tuple[str, dt.date]]:
    """The (site, day) partitions of events whose files differ between version ``since``
    and ``events``' version: all of them (and all the rollup holds) when ``since`` is None
    or its log is gone."""
    now = set(events.file_uris())
    if since is not None:
        try:
            before = set(
                DeltaTable(
                    lake.uri("events"), version=since, storage_options=lake.options
                ).file_uris()
            )
            return _partitions(now ^ before)
        except Exception as exc:  # the log of that version was cleaned up: rebuild all
            log.info("rebuilding every day", extra={"error": type(exc).__name__})
    return _partitions(now) | _partitions(lake.table("sessions").file_uris())


def _runs(days: set[dt.date]) -> Iterator[list[dt.date]]:
    """Consecutive days in runs of at most ``DAYS_PER_QUERY``."""
    run: list[dt.date] = []
    for day in sorted(days):
        if (run and (day - run[-1]).days > 1) or len(run) == DAYS_PER_QUERY:
            yield run
            run = []
        run.append(day)
    if run:
        yield run


def build(events: DeltaTable, site: str, days: list[dt.date]) -> pa.Table:
    """The sessions rows of ``site`` on ``days`` (consecutive), from this events version."""
    first, last = days[0], days[-1]
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.register("events", events.to_pyarrow_dataset())
        rows = con.execute(
            SESSIONS_SQL,
            {
                "site": site,
                "scan_from": first - dt.timedelta(days=1),
                "scan_to": last + dt.timedelta(days=1),
                "date_from": first,
                "date_to": last,
                "events_version": events.version(),
            },
        ).to_arrow_table()
    finally:
        con.close()
    return rows.select(TABLE_SCHEMAS["sessions"].names).cast(TABLE_SCHEMAS["sessions"])


def _commit(
    lake: Lake, site: str, days: list[dt.date], rows: pa.Table, version: int, last: bool
) -> bool:
    """Overwrite the site's days with ``rows`` built from events ``version``; the last
    commit of a refresh records the version as reflected. False, and nothing written, once
    the table reflects that version or a later one. A day another refresh already rebuilt
    from a later version is left as it is (its rows say which version they came from), so
    a slow refresh never puts older rows over newer ones."""

    def change() -> bool:
        sessions = lake.table("sessions")
        done = sessions.transaction_version(APP_ID)
        if done is not None and done >= version:
            return False
        newer = _days_built_after(sessions, site, days, version)
        kept = [d for d in days if d not in newer]
        chosen = rows
        if newer:
            chosen = rows.filter(pc.is_in(rows["date"], pa.array(kept, pa.date32())))
        if kept:
            day_list = ", ".join(f"'{d.isoformat()}'" for d in kept)
            write_deltalake(
                sessions,
                chosen,
                mode="overwrite",
                predicate=f"{partition_predicate(site)} AND date IN ({day_list})",
                partition_by=PARTITION_BY,
                writer_properties=WRITER,
                commit_properties=_txn(version) if last else None,
            )
        elif last:
            _record(lake, version)
        return True

    return retrying(change, "refresh sessions")


def _days_built_after(
    sessions: DeltaTable, site: str, days: list[dt.date], version: int
) -> set[dt.date]:
    found = sessions.to_pyarrow_dataset().to_table(
        columns=["date", "events_version"],
        filter=(ds.field("site") == site)
        & ds.field("date").isin(days)
        & (ds.field("events_version") > version),
    )
    return set(found["date"].to_pylist())


def _txn(version: int) -> CommitProperties:
    return CommitProperties(app_transactions=[Transaction(app_id=APP_ID, version=version)])


def refresh(lake: Lake, erased: Callable[[pa.Table], pa.Table] | None = None) -> RefreshStats:
    """Bring the sessions rollup up to the events table's current version. ``erased``
    removes the rows of pseudonyms whose erasure is under way (their tombstones): a
    rebuild from events read before an erasure must not put them back."""
    started = time.monotonic()
    events = lake.table("events")
    target = events.version()
    stats = RefreshStats(events_version=target)
    since = reflected_version(lake)
    if since is not None and since >= target:
        return stats
    by_site: dict[str, set[dt.date]] = defaultdict(set)
    for site, day in changed_partitions(lake, since, events):
        by_site[site] |= {day - dt.timedelta(days=1), day, day + dt.timedelta(days=1)}
    work = [(site, run) for site in sorted(by_site) for run in _runs(by_site[site])]
    for i, (site, run) in enumerate(work):
        rows = build(events, site, run)
        if erased is not None:
            rows = erased(rows)
        if not _commit(lake, site, run, rows, target, last=i == len(work) - 1):
            return stats  # another collector reflects this version or a later one already
        stats.days += len(run)
        stats.rows += rows.num_rows
        stats.sites.add(site)
    if not work:
        _record(lake, target)
    stats.seconds = time.monotonic() - started
    if stats.days:
        log.info(
            "sessions refreshed",
            extra={"days": stats.days, "rows": stats.rows, "seconds": round(stats.seconds, 3)},
        )
    return stats


def _record(lake: Lake, version: int) -> None:
    """Record ``version`` as reflected when it changed no partition (an empty commit)."""
    empty = TABLE_SCHEMAS["sessions"].empty_table()

    def change() -> None:
        sessions = lake.table("sessions")
        done = sessions.transaction_version(APP_ID)
        if done is not None and done >= version:
            return
        write_deltalake(
            sessions,
            empty,
            mode="append",
            partition_by=PARTITION_BY,
            commit_properties=_txn(version),
        )

    retrying(change, "record sessions version")
