"""The loader: closed spool segments → the lake's Delta tables, exactly once.

Every collector runs its own loader against the shared lake. A round numbers
the segments it found (the number is written into the segment's name before
anything is committed, from a counter kept beside the spool), then commits
each table's new rows in one Delta transaction that carries the collector's
id and the highest segment number it holds (a Delta ``txn`` action). Only
then are the segments deleted. After a crash at any point, the next round
finds the same numbered segments and, per table, skips every segment whose
number the table's transaction version already covers: nothing lost,
nothing twice, whichever collectors commit meanwhile.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import logging
import os
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import CommitProperties, Transaction, write_deltalake
from pyarrow import json as pa_json

from pipelines.lake.commit import retrying, vacuum_all
from pipelines.lake.compact import compact, record
from pipelines.lake.files import sweep_orphans
from pipelines.lake.rollups import RefreshStats
from pipelines.lake.rollups import refresh as refresh_rollups
from pipelines.lake.tables import (
    PARTITION_BY,
    SPOOL_SCHEMA,
    TABLE_OF_KIND,
    TABLE_SCHEMAS,
    WRITER,
    Lake,
)
from pipelines.rights.erasure import (
    drop_tombstoned,
    erase_from_failed_lines,
    erase_late_rows,
    pending_requests,
    process_pending,
)
from pipelines.rights.retention import apply_retention
from service import metrics
from service.ingest.spool import (
    claim_abandoned,
    fsync_dir,
    fsync_path,
    ready_segments,
    spool_dirs,
    write_durably,
)
from service.privacy.keys import KeyStore, keys_location
from service.privacy.tombstones import Tombstones
from service.settings import Settings
from service.sites import load_sites

log = logging.getLogger("clearcount.loader")

# A round commits at most this many bytes of segments (and one segment at least), to bound
# the memory one commit needs after a backlog.
BYTES_PER_COMMIT = 128 * 1024 * 1024
NUMBERED = "n"
COLLECTOR_ID = re.compile(r"clearcount-[0-9a-f]{16}")


class LoadError(Exception):
    """The loader cannot go on without losing rows; the message says what to do."""


# How often a following loader deletes files replaced longer than the readers' grace ago.
VACUUM_EVERY_S = 30.0  # numbered segments are named n<12-digit number>-<original name>


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
            # 1 MiB blocks parsed on every core: half the time of one 16 MiB block.
            read_options=pa_json.ReadOptions(use_threads=True, block_size=1 << 20),
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


def table_rows(records: pa.Table) -> Iterator[tuple[str, pa.Table]]:
    """(table, rows with the table's schema) for each table the records feed.

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
            rows = rows.set_column(1, "date", pc.cast(rows["date"], pa.date32()))
        else:
            received = pc.cast(rows["received_at"], pa.timestamp("ms", tz="UTC"))
            rows = rows.set_column(
                rows.schema.get_field_index("received_at"), "received_at", received
            )
            # The spool's "date" field belongs to denied counts; events take theirs from the time.
            day = pc.cast(pc.cast(received, pa.timestamp("ms")), pa.date32())
            rows = rows.drop_columns(["date"]).append_column("date", day)
        schema = TABLE_SCHEMAS[table_name]
        yield table_name, rows.select(schema.names).cast(schema)


def _quarantine_segment(segment: Path, failed_dir: Path, bad: list[bytes]) -> None:
    """Keep unreadable lines for inspection, with an error file that says why."""
    target = failed_dir / segment.name
    target.write_bytes(b"\n".join(bad) + b"\n")
    (failed_dir / f"{segment.name}.error").write_text(
        f"{len(bad)} line(s) were not valid JSON records; the other lines were loaded\n",
        encoding="utf-8",
    )


# ---- numbering -----------------------------------------------------------------------------


def collector_id(data_dir: Path) -> str:
    """This collector's name in the lake's transaction log: random, made once per data
    directory, so a restarted collector recognises its own commits."""
    path = data_dir / "collector.id"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".collector.id.{secrets.token_hex(4)}")
        tmp.write_bytes(f"clearcount-{secrets.token_hex(8)}\n".encode())
        fsync_path(tmp)
        try:
            os.link(tmp, path)  # the first of two racing processes wins
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
        fsync_dir(data_dir)
    name = path.read_text(encoding="utf-8").strip()
    if not COLLECTOR_ID.fullmatch(name):
        raise LoadError(f"{path} does not hold a collector id; remove it to make a new one")
    return name


def segment_number(segment: Path) -> int | None:
    name = segment.name
    if name.startswith(NUMBERED) and name[1:13].isdigit() and name[13:14] == "-":
        return int(name[1:13])
    return None


def number_segments(spool_dir: Path, segments: list[Path]) -> list[tuple[int, Path]]:
    """(number, segment) for each segment, numbering the new ones after every number
    given before. The counter is durable before any name uses its value."""
    counter = spool_dir / "loader.seq"
    last = int(counter.read_text() or 0) if counter.exists() else 0
    numbered, new = [], []
    for segment in segments:
        number = segment_number(segment)
        if number is None:
            new.append(segment)
        else:
            numbered.append((number, segment))
            last = max(last, number)
    if new:
        write_durably(counter, str(last + len(new)).encode())
        for segment in new:
            last += 1
            target = segment.with_name(f"{NUMBERED}{last:012d}-{segment.name}")
            os.rename(segment, target)
            numbered.append((last, target))
        fsync_dir(new[0].parent)
    return sorted(numbered)


def by_size(segments: list[tuple[int, Path]], limit: int) -> list[tuple[int, Path]]:
    """The first segments, in number order, that fit in ``limit`` bytes (at least one)."""
    batch: list[tuple[int, Path]] = []
    size = 0
    for number, segment in segments:
        size += segment.stat().st_size
        if batch and size > limit:
            break
        batch.append((number, segment))
    return batch


# ---- loading -------------------------------------------------------------------------------


def _append(lake: Lake, table: str, rows: pa.Table, app_id: str, version: int) -> bool:
    """One commit of ``rows`` carrying (``app_id``, ``version``), unless the table already
    holds it: a retry after a commit whose answer was lost must not commit twice."""
    current = lake.table(table)
    if (current.transaction_version(app_id) or 0) >= version:
        return False
    write_deltalake(
        current,
        rows,
        mode="append",
        partition_by=PARTITION_BY,
        writer_properties=WRITER,
        commit_properties=CommitProperties(
            app_transactions=[Transaction(app_id=app_id, version=version)]
        ),
    )
    return True


def commit_segments(
    data_dir: Path,
    lake: Lake,
    segments: list[tuple[int, Path]],
    keys: KeyStore | None = None,
    tombstones: Tombstones | None = None,
    fresh: frozenset[int] = frozenset(),
) -> LoadStats:
    """Commit the numbered segments' rows, each table once, skipping what a table already
    holds; the segments stay until ``load_segments`` deletes them. ``fresh`` are the
    numbers given this round: no table can hold them yet, unless this collector's id
    or counter was copied or rolled back, which would lose rows and is refused."""
    stats = LoadStats(segments=len(segments))
    if not segments:
        return stats
    app_id = collector_id(data_dir)
    _, _, failed_dir = spool_dirs(data_dir / "spool")
    parsed: list[tuple[int, dict[str, pa.Table]]] = []
    for number, segment in segments:
        records, bad = parse_segment(segment.read_bytes())
        if keys is not None and tombstones is not None:
            records, erased = drop_tombstoned(records, keys, tombstones)
            stats.erased += erased
        parsed.append((number, dict(table_rows(records))))
        if bad:
            _quarantine_segment(segment, failed_dir, bad)
            stats.bad_lines += len(bad)
            log.error(
                "segment had unreadable lines", extra={"segment": segment.name, "lines": len(bad)}
            )
    top = segments[-1][0]
    committed: list[pa.Table] = []
    for table in TABLE_SCHEMAS:
        if not any(table in rows for _, rows in parsed):
            continue
        # The table's own record of what this collector committed, read fresh: after a
        # crash some tables may hold a round's rows and others not.
        done = lake.table(table).transaction_version(app_id) or 0
        if fresh and min(fresh) <= done:
            raise LoadError(
                f"{table} already holds segment {done} of collector {app_id}, numbered again "
                f"here: this data directory is a copy of another collector's (give each "
                f"collector its own by removing collector.id) or its spool/loader.seq went back"
            )
        parts = [rows[table] for number, rows in parsed if number > done and table in rows]
        if not parts:
            continue
        rows = pa.concat_tables(parts)
        if retrying(partial(_append, lake, table, rows, app_id, top), f"load {table}"):
            stats.rows[table] += rows.num_rows
            metrics.ROWS_LOADED.labels(table).inc(rows.num_rows)
            committed.append(rows)
    if keys is not None and tombstones is not None and committed:
        # A forget accepted while this round ran: its rows here are erased all the same.
        erase_late_rows(committed, keys, tombstones, dt.datetime.now(dt.UTC))
    return stats


def load_segments(
    data_dir: Path,
    lake: Lake,
    segments: list[tuple[int, Path]],
    keys: KeyStore | None = None,
    tombstones: Tombstones | None = None,
    fresh: frozenset[int] = frozenset(),
) -> LoadStats:
    """Commit the numbered segments, then delete them: a crash in between leaves them for
    the next round, whose commits skip what the tables already hold."""
    stats = commit_segments(data_dir, lake, segments, keys, tombstones, fresh)
    for _, segment in segments:
        segment.unlink()
    if segments:
        fsync_dir(segments[0][1].parent)
    return stats


@contextlib.contextmanager
def loader_lock(data_dir: Path) -> Iterator[None]:
    """One loader per collector: ``clearcount serve``'s and a one-shot command's take turns
    on the local spool. Collectors sharing a lake need no lock: Delta orders them."""
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(data_dir / ".loader.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def load_once(data_dir: Path, *, wait: bool = True, lake: Lake | None = None) -> LoadStats:
    """Drain every closed (or abandoned) segment into the lake, and carry erasures on.

    With ``wait`` (one-shot commands) it returns once every erasure is complete,
    which takes the readers' grace; ``follow`` does not wait, and completes
    them on later rounds, with one ``lake`` kept from round to round.
    """
    spool_dir = data_dir / "spool"
    total = LoadStats()
    settings = Settings.from_env()
    lake = lake or Lake.of(data_dir)
    keys = KeyStore(keys_location(data_dir))
    tombstones = Tombstones(keys.objects)
    with loader_lock(data_dir):
        tombstones.refresh()
        claim_abandoned(spool_dir)
        _, _, failed_dir = spool_dirs(spool_dir)
        erase_from_failed_lines(failed_dir, keys, tombstones)
        ready = ready_segments(spool_dir)
        while ready:
            unnumbered = {p.name for p in ready if segment_number(p) is None}
            batch = by_size(number_segments(spool_dir, ready), BYTES_PER_COMMIT)
            fresh = frozenset(n for n, p in batch if p.name[14:] in unnumbered)
            total.add(load_segments(data_dir, lake, batch, keys, tombstones, fresh))
            ready = ready_segments(spool_dir)
        # Erasures last: everything spooled before the request is in the lake by now.
        total.erasures = process_pending(data_dir, lake, keys)
    if wait:
        while pending_requests(keys.objects):
            threading.Event().wait(min(1.0, max(settings.reader_grace_s / 4, 0.1)))
            with loader_lock(data_dir):
                total.erasures += process_pending(data_dir, lake, keys)
        # a one-shot load leaves the dashboard's rollup current too
        refresh_sessions(lake, keys, tombstones)
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
    """Retention, compaction, salt rotation, expired tombstones and the sweep of orphaned
    files once per UTC day; a marker file records the day done. Replaced files are
    deleted by later rounds, once the readers' grace allows."""
    marker = data_dir / "run" / f"maintenance-{today.isoformat()}"
    if marker.exists():
        return False
    keys = KeyStore(keys_location(data_dir))
    keys.daily_salt(today)  # destroys expired salts
    Tombstones(keys.objects).purge_expired(today)
    lake = Lake.of(data_dir)
    apply_retention(data_dir, lake, load_sites(sites_path), today)
    compacted = compact(lake)
    if compacted:
        record(data_dir, compacted, actor="loader")
    for table in TABLE_SCHEMAS:
        sweep_orphans(lake, table)
    marker.parent.mkdir(parents=True, exist_ok=True)
    for old in marker.parent.glob("maintenance-*"):
        old.unlink()
    marker.touch()
    return True


@dataclass
class RollupPacing:
    """When ``follow`` refreshes the sessions rollup: after every round while a refresh is
    cheap, and at most a tenth of the time when it is not (a big site's day costs more
    to rebuild than a round of loading), so loading never waits long on the rollup."""

    data_dir: Path
    share: float = 0.1
    longest_wait_s: float = 60.0  # after a first build over a long history, say
    next_at: float = 0.0

    def __post_init__(self) -> None:
        self.keys = KeyStore(keys_location(self.data_dir))
        self.tombstones = Tombstones(self.keys.objects)

    def maybe_refresh(self, lake: Lake, *, now_anyway: bool = False) -> None:
        now = time.monotonic()
        if now < self.next_at and not now_anyway:
            return
        self.tombstones.refresh()
        stats = refresh_sessions(lake, self.keys, self.tombstones)
        self.next_at = now + min(stats.seconds / self.share, self.longest_wait_s)


def refresh_sessions(lake: Lake, keys: KeyStore, tombstones: Tombstones) -> RefreshStats:
    """The sessions rollup brought up to date, without the rows of erased pseudonyms."""
    return refresh_rollups(lake, lambda rows: drop_tombstoned(rows, keys, tombstones)[0])


def follow(
    data_dir: Path, interval_s: float, stop: threading.Event, sites_path: Path | None = None
) -> None:
    """Load until ``stop`` is set, then drain once more and refresh the sessions rollup: a
    graceful shutdown loses nothing and leaves the rollup current.

    With ``sites_path`` (as ``clearcount serve`` runs it) retention, compaction and
    salt rotation run once a day too, and replaced files are vacuumed as the grace allows.
    """
    vacuumed = 0.0
    lake = Lake.of(data_dir)
    rollups = RollupPacing(data_dir)
    while not stop.is_set():
        try:
            load_once(data_dir, wait=False, lake=lake)
            rollups.maybe_refresh(lake)
            if sites_path is not None:
                daily_maintenance(data_dir, sites_path, dt.datetime.now(dt.UTC).date())
                if time.monotonic() - vacuumed > VACUUM_EVERY_S:
                    vacuum_all(lake)
                    vacuumed = time.monotonic()
        except Exception:  # storage errors on disk or S3; the spool keeps everything
            log.exception("load failed; retrying")
        stop.wait(interval_s)
    load_once(data_dir, wait=False, lake=lake)
    # a graceful stop leaves the rollup as current as the events it drained
    try:
        rollups.maybe_refresh(lake, now_anyway=True)
    except Exception:  # the next start refreshes it; the events are all loaded
        log.exception("sessions not refreshed at stop")
