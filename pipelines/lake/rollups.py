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
pure function of the events version it read, so two collectors refreshing at once
write the same rows, and one that read an older version than the table already
reflects does not commit. An erasure rewrites the sessions rows like any other
table's, and the next refresh rebuilds those days from the erased events.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

import duckdb
import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake

from pipelines.lake.commit import partition_predicate, retrying
from pipelines.lake.tables import PARTITION_BY, TABLE_SCHEMAS, WRITER, Lake

log = logging.getLogger("clearcount.rollups")

APP_ID = "clearcount-rollups"
SESSIONS_SQL = (Path(__file__).parent / "sessions.sql").read_text(encoding="utf-8")
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
                "keep_from": first,
                "keep_to": last,
            },
        ).to_arrow_table()
    finally:
        con.close()
    return rows.select(TABLE_SCHEMAS["sessions"].names).cast(TABLE_SCHEMAS["sessions"])


def _commit(
    lake: Lake, site: str, days: list[dt.date], rows: pa.Table, version: int | None
) -> bool:
    """Overwrite the site's days with ``rows``; with ``version``, record it as reflected.
    Not committed when the table already reflects a later events version."""
    day_list = ", ".join(f"'{d.isoformat()}'" for d in days)
    predicate = f"{partition_predicate(site)} AND date IN ({day_list})"

    def change() -> bool:
        sessions = lake.table("sessions")
        done = sessions.transaction_version(APP_ID)
        if version is not None and done is not None and done >= version:
            return False
        write_deltalake(
            sessions,
            rows,
            mode="overwrite",
            predicate=predicate,
            partition_by=PARTITION_BY,
            writer_properties=WRITER,
            commit_properties=CommitProperties(
                app_transactions=[Transaction(app_id=APP_ID, version=version)]
            )
            if version is not None
            else None,
        )
        return True

    return retrying(change, "refresh sessions")


def refresh(lake: Lake) -> RefreshStats:
    """Bring the sessions rollup up to the events table's current version."""
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
        last = i == len(work) - 1
        if not _commit(lake, site, run, rows, target if last else None):
            return stats  # another collector reflects a later version already
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
            commit_properties=CommitProperties(
                app_transactions=[Transaction(app_id=APP_ID, version=version)]
            ),
        )

    retrying(change, "record sessions version")
