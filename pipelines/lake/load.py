"""The loader: closed spool segments → Parquet files in the lake, exactly once.

Each (segment, table, site, date) becomes one file with a name derived from
the segment, written atomically; only then is the segment deleted. A crash
between the two leaves the segment in ready/, and loading it again writes
the files still missing (a file exists whole or not at all): nothing lost,
nothing twice, and no file changes under a reader.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import json as pa_json

from pipelines.lake.commit import changing, collect_garbage, lake_lock, settle, superseded_files
from pipelines.lake.compact import compact, record
from pipelines.lake.tables import (
    SCHEMAS,
    SPOOL_SCHEMA,
    TABLE_OF_KIND,
    ensure_schema_files,
    partition_dir,
    write_parquet_atomic,
)
from pipelines.rights.erasure import (
    drop_tombstoned,
    pending_requests,
    process_pending,
    tombstones_of,
)
from pipelines.rights.retention import apply_retention
from service import metrics
from service.ingest.spool import claim_abandoned, fsync_dir, ready_segments, spool_dirs
from service.privacy.keys import KeyStore
from service.privacy.tombstones import Tombstones
from service.sites import load_sites

log = logging.getLogger("clearcount.loader")


@dataclass
class LoadStats:
    segments: int = 0
    rows: Counter[str] = field(default_factory=Counter)
    bad_lines: int = 0
    erased: int = 0  # spooled rows of erased pseudonyms, dropped before the lake
    erasures: list[dict[str, Any]] = field(default_factory=list)  # receipts

    def add(self, other: LoadStats) -> None:
        self.segments += other.segments
        self.rows.update(other.rows)
        self.bad_lines += other.bad_lines
        self.erased += other.erased


def parse_segment(data: bytes) -> tuple[pa.Table, list[bytes]]:
    """The segment's records as one Arrow table, and any lines that are not records.

    Only bytes up to the last newline count: what follows is a write whose
    fsync never returned, so it was never acknowledged. Arrow's JSON reader
    takes the common case in one call; a segment it cannot read whole is
    read line by line so the bad lines can be set aside.
    """
    complete = data[: data.rfind(b"\n") + 1]
    if not complete:
        return SPOOL_SCHEMA.empty_table(), []
    try:
        table = pa_json.read_json(
            pa.BufferReader(complete),
            read_options=pa_json.ReadOptions(use_threads=False, block_size=1 << 24),
            parse_options=pa_json.ParseOptions(
                explicit_schema=SPOOL_SCHEMA, unexpected_field_behavior="ignore"
            ),
        )
        kinds = pc.is_in(table["k"], pa.array(list(TABLE_OF_KIND)))
        if pc.all(pc.and_(kinds, pc.is_valid(table["site"]))).as_py():
            return table, []
    except pa.ArrowInvalid:
        pass
    records, bad = [], []
    for line in complete.split(b"\n"):
        if not line:
            continue
        try:
            rec = orjson.loads(line)
        except orjson.JSONDecodeError:
            bad.append(line)
            continue
        if (
            isinstance(rec, dict)
            and rec.get("k") in TABLE_OF_KIND
            and isinstance(rec.get("site"), str)
        ):
            records.append(rec)
        else:
            bad.append(line)
    return pa.Table.from_pylist(records, schema=SPOOL_SCHEMA), bad


def partitions(records: pa.Table) -> Iterator[tuple[str, str, str, pa.Table]]:
    """(table, site, date, rows) for each lake partition the records belong to.

    Denied events arrive one record each and leave as one count per site, day,
    type and reason: the lake never holds them one by one.
    """
    for kind, table_name in TABLE_OF_KIND.items():
        rows = records.filter(pc.equal(records["k"], kind))
        if not rows.num_rows:
            continue
        if table_name == "denied_counts":
            counts = rows.group_by(["site", "date", "type", "reason"]).aggregate([("k", "count")])
            rows = counts.rename_columns(["site", "date", "type", "reason", "count"])
        else:
            received = pc.cast(rows["received_at"], pa.timestamp("ms", tz="UTC"))
            rows = rows.set_column(
                rows.schema.get_field_index("received_at"), "received_at", received
            )
            # The spool's "date" field belongs to denied counts; events take theirs from the time.
            rows = rows.drop_columns(["date"]).append_column(
                "date", pc.strftime(received, format="%Y-%m-%d")
            )
        schema = SCHEMAS[table_name]
        keys = (
            rows.group_by(["site", "date"])
            .aggregate([])
            .sort_by([("site", "ascending"), ("date", "ascending")])
        )
        for site, date in zip(keys["site"].to_pylist(), keys["date"].to_pylist(), strict=True):
            mask = pc.and_(pc.equal(rows["site"], site), pc.equal(rows["date"], date))
            part = rows.filter(mask).select(schema.names).cast(schema)
            yield table_name, site, date, part


def _quarantine_segment(segment: Path, failed_dir: Path, bad: list[bytes]) -> None:
    """Keep unreadable lines for inspection, with an error file that says why."""
    target = failed_dir / segment.name
    target.write_bytes(b"\n".join(bad) + b"\n")
    (failed_dir / f"{segment.name}.error").write_text(
        f"{len(bad)} line(s) were not valid JSON records; the other lines were loaded\n",
        encoding="utf-8",
    )


def load_segment(
    segment: Path, lake: Path, failed_dir: Path, erased: tuple[KeyStore, Tombstones] | None = None
) -> LoadStats:
    stats = LoadStats(segments=1)
    records, bad = parse_segment(segment.read_bytes())
    if erased is not None:
        records, stats.erased = drop_tombstoned(records, *erased)
    for table, site, date, rows in partitions(records):
        path = partition_dir(lake, table, site, date) / f"part-{segment.stem}.parquet"
        if not path.exists():  # else written whole before a crash: never rewrite a file in place
            write_parquet_atomic(rows, path)
        stats.rows[table] += rows.num_rows
    if bad:
        _quarantine_segment(segment, failed_dir, bad)
        stats.bad_lines = len(bad)
        log.error(
            "segment had unreadable lines", extra={"segment": segment.name, "lines": len(bad)}
        )
    segment.unlink()
    fsync_dir(segment.parent)
    return stats


def load_once(data_dir: Path, *, wait: bool = True) -> LoadStats:
    """Drain every closed (or abandoned) segment into the lake, and carry erasures on.

    With ``wait`` (one-shot commands) it returns once erasures are complete,
    replaced files deleted; ``follow`` does not wait, and completes them on
    later rounds.
    """
    spool_dir, lake = data_dir / "spool", data_dir / "lake"
    total = LoadStats()
    keys, tombstones = KeyStore(data_dir / "keys"), tombstones_of(data_dir)
    with lake_lock(data_dir):
        ensure_schema_files(lake)
        tombstones.purge_expired(dt.datetime.now(dt.UTC).date())
        tombstones.refresh()
        claim_abandoned(spool_dir)
        _, _, failed_dir = spool_dirs(spool_dir)
        for segment in ready_segments(spool_dir):
            stats = load_segment(segment, lake, failed_dir, (keys, tombstones))
            total.add(stats)
            for table, n in stats.rows.items():
                metrics.ROWS_LOADED.labels(table).inc(n)
        # Erasures last: everything spooled before the request is in the lake by now.
        total.erasures = process_pending(data_dir)
        collect_garbage(data_dir)
    if wait and (pending_requests(data_dir) or superseded_files(lake)):
        settle(data_dir)
        with lake_lock(data_dir):
            total.erasures += process_pending(data_dir)
    if total.segments:
        log.info(
            "loaded",
            extra={
                "segments": total.segments,
                "rows": dict(total.rows),
                "bad_lines": total.bad_lines,
            },
        )
    return total


def daily_maintenance(data_dir: Path, sites_path: Path, today: dt.date) -> bool:
    """Retention, compaction and salt rotation once per UTC day; a marker file records
    the day done. Replaced files are deleted by later rounds, as readers allow."""
    marker = data_dir / "run" / f"maintenance-{today.isoformat()}"
    if marker.exists():
        return False
    KeyStore(data_dir / "keys").daily_salt(today)  # creating today's salt destroys expired ones
    with lake_lock(data_dir):
        with changing(data_dir) as change:
            apply_retention(data_dir, load_sites(sites_path), today, change)
        with changing(data_dir) as change:
            compacted = compact(data_dir, change)
        if compacted:
            record(data_dir, compacted, actor="loader")
    marker.parent.mkdir(parents=True, exist_ok=True)
    for old in marker.parent.glob("maintenance-*"):
        old.unlink()
    marker.touch()
    return True


def follow(
    data_dir: Path, interval_s: float, stop: threading.Event, sites_path: Path | None = None
) -> None:
    """Load until ``stop`` is set, then drain once more: a graceful shutdown loses nothing.

    With ``sites_path`` (as ``clearcount serve`` runs it) retention and salt
    rotation run once a day too.
    """
    while not stop.is_set():
        try:
            load_once(data_dir, wait=False)
            if sites_path is not None:
                daily_maintenance(data_dir, sites_path, dt.datetime.now(dt.UTC).date())
        except OSError:
            log.exception("load failed; retrying")
        stop.wait(interval_s)
    load_once(data_dir, wait=False)
