"""Erasure: remove every row of one pseudonym from the lake and from what is still spooled.

A request is made durable first, in the erasure queue of the shared keys
location (``--keys``), together with a tombstone that makes every collector
and every loader drop the pseudonym's later events. Every loader carries the
queue forward: it rewrites the partitions holding the pseudonym without its
rows, one Delta commit per table (so readers see all of the visitor's rows
in a table or none) whose predicate names only the site and the days, and
does it again whenever a loader that had not yet seen the tombstone
committed more of them. Once nothing was found for the readers' grace, the
replaced files are vacuumed, a receipt that holds no identifier is written,
and the request is deleted: from then on no byte of the lake (data files,
Delta log, checkpoints, statistics: the tables keep no statistics of
pseudonyms) nor of the keys location holds the pseudonym.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import functools
import operator
import re
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
from deltalake import write_deltalake

from pipelines.lake import files
from pipelines.lake.commit import partition_predicate, reader_grace, retrying
from pipelines.lake.tables import TABLE_SCHEMAS, WRITER, Lake
from pipelines.rights import audit
from service.ingest.spool import write_durably
from service.privacy.keys import KeyStore
from service.privacy.tombstones import Tombstones, tombstone_name
from service.storage.objects import Objects

ERASABLE = {  # table → pseudonym columns it holds
    "events": ("visitor_key", "user_key"),
    "quarantine": ("visitor_key", "user_key"),
    "consent_log": ("visitor_key",),
    "sessions": ("visitor_key",),  # the rollup: rebuilt from the erased events afterwards
}
COLUMNS = ("visitor_key", "user_key")
PENDING = "erasure/pending"
RECEIPTS = "erasure/receipts"


@dataclass(frozen=True)
class ErasureRequest:
    id: str
    site: str
    column: str  # visitor_key or user_key
    key: int
    requested_at: str


def request_erasure(
    keys: KeyStore,
    site: str,
    column: str,
    key: int,
    *,
    block_days: int,
    now: dt.datetime,
) -> ErasureRequest:
    """Durable in the shared keys location before it returns: the tombstone first, then the
    request (an fsynced file, or an S3 object)."""
    if column not in COLUMNS:
        raise ValueError(f"cannot erase by {column}")
    request = ErasureRequest(
        id=f"{now.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(6)}",
        site=site,
        column=column,
        key=key,
        requested_at=now.isoformat(timespec="seconds"),
    )
    Tombstones(keys.objects).add(
        tombstone_name(keys.site_secret(site), column, key),
        now.date() + dt.timedelta(days=block_days),
    )
    keys.objects.put(f"{PENDING}/{request.id}.json", orjson.dumps(request.__dict__))
    return request


def backlog(objects: Objects, now: dt.datetime) -> tuple[int, int]:
    """How many requests wait (every collector's), and the oldest one's age in seconds,
    from the queue's listing alone: a request's id starts with its UTC acceptance time."""
    ids = [n.rsplit("/", 1)[-1] for n in objects.list(PENDING) if n.endswith(".json")]
    accepted = []
    for request_id in ids:
        with contextlib.suppress(ValueError):
            accepted.append(dt.datetime.strptime(request_id[:15] + "Z", "%Y%m%dT%H%M%S%z"))
    return len(ids), round((now - min(accepted)).total_seconds()) if accepted else 0


def pending_requests(objects: Objects) -> list[ErasureRequest]:
    out = []
    for name in objects.list(PENDING):
        if name.endswith(".json") and (data := objects.get(name)) is not None:
            out.append(ErasureRequest(**orjson.loads(data)))
    return out


Target = tuple[str, str, int]  # (site, pseudonym column, key)


def _target(request: ErasureRequest) -> Target:
    return (request.site, request.column, request.key)


def _days_holding(lake: Lake, table: str, targets: set[Target]) -> dict[Target, set[dt.date]]:
    """The days of ``table`` that hold each pseudonym: one scan of the table for every
    pending request, whatever their number (a flood of forgets costs one read a round)."""
    columns = [c for c in ERASABLE[table] if any(t[1] == c for t in targets)]
    if not columns:
        return {}
    sites = sorted({t[0] for t in targets})
    matches = [
        ds.field(column).isin(
            pa.array(sorted({t[2] for t in targets if t[1] == column}), pa.int64())
        )
        for column in columns
    ]
    wanted = functools.reduce(operator.or_, matches)
    found = (
        lake.table(table)
        .to_pyarrow_dataset()
        .to_table(columns=["site", "date", *columns], filter=ds.field("site").isin(sites) & wanted)
    )
    days: dict[Target, set[dt.date]] = {}
    for row in found.to_pylist():
        for column in columns:
            target = (row["site"], column, row[column])
            if target in targets:
                days.setdefault(target, set()).add(row["date"])
    return days


def _rewrite(
    lake: Lake, table: str, site: str, days: list[dt.date], targets: set[Target]
) -> dict[Target, int]:
    """The site's partitions on ``days`` without any of the pseudonyms' rows, in one
    commit; the rows removed, by pseudonym.

    The commit's predicate names only the site and the days, so the log never
    holds a pseudonym.
    """
    day_list = ", ".join(f"'{d.isoformat()}'" for d in days)
    predicate = f"{partition_predicate(site)} AND date IN ({day_list})"
    columns = [c for c in ERASABLE[table] if any(t[1] == c for t in targets)]

    def change() -> dict[Target, int]:
        current = lake.table(table)
        rows = current.to_pyarrow_dataset().to_table(
            filter=(ds.field("site") == site) & ds.field("date").isin(days)
        )
        hit = pa.array([False] * rows.num_rows, pa.bool_())
        removed: dict[Target, int] = {}
        for column in columns:
            keys = pa.array(sorted({t[2] for t in targets if t[1] == column}), pa.int64())
            matched = pc.fill_null(pc.is_in(rows[column], value_set=keys), False)
            hit = pc.or_(hit, matched)
            for key, n in collections.Counter(rows[column].filter(matched).to_pylist()).items():
                removed[(site, column, key)] = n
        if not removed:
            return {}
        kept = rows.filter(pc.invert(hit)).select(TABLE_SCHEMAS[table].names)
        if kept.num_rows:
            write_deltalake(
                current,
                kept.cast(TABLE_SCHEMAS[table]),
                mode="overwrite",
                predicate=predicate,
                writer_properties=WRITER,
            )
        else:
            current.delete(predicate)
        return removed

    return retrying(change, f"erase from {table}")


def leftovers(lake: Lake, waiting: dict[Target, float]) -> set[Target]:
    """Of the pseudonyms waiting to complete (each with the time its erasure ``settled``),
    those that a file no reader sees still holds: one a commit replaced that vacuum must
    keep for the grace, or an orphan of a write that never committed, young enough to be
    in flight still. Orphans holding them are deleted here when they are old, or when
    they were written before ``settled`` (the erasure's last rewrite, or its acceptance,
    a grace ago): such a file is a crashed write's, or a rewrite's that read the rows the
    erasure removed and so can never commit (a rewrite that lost a race redoes its work
    under new names and leaves its first files behind). Each file is read once, for all
    the pseudonyms together."""
    now = time.time()
    held: set[Target] = set()
    for table, columns in ERASABLE.items():
        mine = {t: settled for t, settled in waiting.items() if t[1] in columns}
        if not mine:
            continue
        live = files.live_files(lake, table)
        removed = files.removed_files(lake, table)
        for site in sorted({t[0] for t in mine}):
            wanted = {(column, key) for s, column, key in mine if s == site}
            for stored in files.stored_files(lake, table, site):
                if stored.path in live:
                    continue  # searched through the table: rewritten until it holds none
                inside = {(site, *pair) for pair in files.holding(lake, table, stored.path, wanted)}
                if not inside:
                    continue
                young = now - stored.modified < files.ORPHAN_AGE_S
                in_flight = any(young and mine[t] <= stored.modified for t in inside)
                if stored.path in removed or in_flight:
                    held |= inside  # kept, so each pseudonym it holds waits a round
                else:
                    files.delete(lake, table, stored.path)
    return held


def _state_name(request: ErasureRequest) -> str:
    return f"{PENDING}/{request.id}.state"


@dataclass
class Removed:
    """What one round removed of one pseudonym."""

    rows: dict[str, int] = field(default_factory=dict)  # by table
    partitions: int = 0


def process_requests(lake: Lake, requests: list[ErasureRequest]) -> dict[Target, Removed]:
    """Rewrite every partition that holds one of the pseudonyms, once per table and site
    for all of them; what was removed, by pseudonym."""
    targets = {_target(r) for r in requests}
    removed: dict[Target, Removed] = {}
    for table in ERASABLE:
        days = _days_holding(lake, table, targets)
        for site in sorted({t[0] for t in days}):
            mine = {t for t in days if t[0] == site}
            union = sorted(set().union(*(days[t] for t in mine)))
            for target, n in _rewrite(lake, table, site, union, mine).items():
                entry = removed.setdefault(target, Removed())
                entry.rows[table] = n
                entry.partitions += len(days[target])
    return removed


def process_pending(data_dir: Path, lake: Lake, keys: KeyStore) -> list[dict[str, Any]]:
    """Carry every accepted request forward; the receipts of those completed now.

    A request completes when a search finds none of its rows and the readers'
    grace has passed since it was accepted and since its last rewrite: loaders
    that had not seen its tombstone have committed by then, and the files the
    rewrites replaced may be vacuumed; and when no file outside the live set
    holds the pseudonym (``leftovers``). Any collector's loader may complete it;
    the receipt is created once, by whichever gets there first.
    """
    objects = keys.objects
    receipts = []
    grace = reader_grace()
    requests = pending_requests(objects)
    if not requests:
        return []
    # The grace is measured to the search, not to after the round's rewrites: a request
    # whose search found nothing is complete only if that search came a grace after its
    # last rewrite (or acceptance), when every loader that had not yet seen its tombstone
    # had committed.
    searched_at = time.time()
    done = process_requests(lake, requests)  # one scan and one commit a table and site
    now = time.time()
    waiting: dict[ErasureRequest, tuple[dict[str, Any], float]] = {}
    for request in requests:
        stored = objects.get(_state_name(request))
        state: dict[str, Any] = (
            orjson.loads(stored)
            if stored
            else {"rows_removed": {}, "partitions_rewritten": 0, "rewritten_at": None}
        )
        removed = done.get(_target(request))
        if removed is not None:
            for table, n in removed.rows.items():
                state["rows_removed"][table] = state["rows_removed"].get(table, 0) + n
            state["partitions_rewritten"] += removed.partitions
            state["rewritten_at"] = now
            objects.put(_state_name(request), orjson.dumps(state))
            continue
        since = state["rewritten_at"] or dt.datetime.fromisoformat(request.requested_at).timestamp()
        if searched_at - since >= grace:
            waiting[request] = (state, since)
    if not waiting:
        return []
    for table in ERASABLE:
        lake.vacuum(table, grace)
    # replaced files within the grace, or young orphans: those complete in a later round
    held = leftovers(lake, {_target(r): since for r, (_, since) in waiting.items()})
    for request, (state, _) in waiting.items():
        if _target(request) in held:
            continue
        receipt = {
            "request_id": request.id,
            "site": request.site,
            "pseudonym_column": request.column,
            "tables_searched": [t for t, c in ERASABLE.items() if request.column in c],
            "partitions_rewritten": state["partitions_rewritten"],
            "rows_removed": state["rows_removed"],
            "requested_at": request.requested_at,
            "completed_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "spool": "events not yet loaded are dropped by every loader while the tombstone lasts",
        }
        if objects.create(
            f"{RECEIPTS}/{request.id}.json", orjson.dumps(receipt, option=orjson.OPT_INDENT_2)
        ):
            audit.record(
                data_dir,
                "erasure",
                actor="loader",
                site=request.site,
                request_id=request.id,
                rows_removed=receipt["rows_removed"],
            )
            receipts.append(receipt)
        objects.delete(f"{PENDING}/{request.id}.json")
        objects.delete(_state_name(request))
    return receipts


_KEYS_IN_LINE = re.compile(rb'"(visitor_key|user_key)":(-?\d{1,20})')
_SITE_IN_LINE = re.compile(rb'"site":"([A-Za-z0-9_.-]{1,64})"')


def erase_from_failed_lines(failed_dir: Path, keys: KeyStore, tombstones: Tombstones) -> int:
    """Lines this collector's loader set aside are spool data too: drop those that name an
    erased pseudonym, recognised by its tombstone as loaders recognise spooled rows."""
    if not tombstones:
        return 0
    removed = 0
    with contextlib.suppress(FileNotFoundError):
        for path in sorted(failed_dir.glob("*.seg")):
            lines = path.read_bytes().split(b"\n")
            kept = [line for line in lines if not _erased_line(line, keys, tombstones)]
            if len(kept) != len(lines):
                removed += len(lines) - len(kept)
                write_durably(path, b"\n".join(kept))
    return removed


def _erased_line(line: bytes, keys: KeyStore, tombstones: Tombstones) -> bool:
    site = _SITE_IN_LINE.search(line)
    if site is None:
        return False
    secret = keys.site_secret(site.group(1).decode())
    return any(
        tombstone_name(secret, column.decode(), int(value)) in tombstones
        for column, value in _KEYS_IN_LINE.findall(line)
    )


def _erased_mask(
    records: pa.Table, keys: KeyStore, tombstones: Tombstones
) -> tuple[pa.Array, list[tuple[str, str, int]]]:
    """Which rows belong to erased pseudonyms, and those pseudonyms as (site, column, key)."""
    drop = pa.array([False] * records.num_rows)
    found: list[tuple[str, str, int]] = []
    for site in pc.unique(records["site"]).to_pylist():
        secret = keys.site_secret(site)
        in_site = pc.equal(records["site"], site)
        for column in COLUMNS:
            if column not in records.column_names:
                continue
            values = pc.unique(pc.filter(records[column], in_site)).to_pylist()
            erased = [
                v
                for v in values
                if v is not None and tombstone_name(secret, column, v) in tombstones
            ]
            if erased:
                found += [(site, column, v) for v in erased]
                hit = pc.and_(
                    in_site,
                    pc.fill_null(pc.is_in(records[column], pa.array(erased, pa.int64())), False),
                )
                drop = pc.or_(drop, hit)
    return drop, found


def drop_tombstoned(
    records: pa.Table, keys: KeyStore, tombstones: Tombstones
) -> tuple[pa.Table, int]:
    """Spooled rows of erased pseudonyms, removed before they reach the lake."""
    if not tombstones or not records.num_rows:
        return records, 0
    drop, _ = _erased_mask(records, keys, tombstones)
    dropped = pc.sum(drop).as_py() or 0
    return records.filter(pc.invert(drop)), int(dropped)


def erase_late_rows(
    committed: list[pa.Table], keys: KeyStore, tombstones: Tombstones, now: dt.datetime
) -> int:
    """Rows a loader committed for a pseudonym whose tombstone it had not yet seen: each
    such pseudonym gets a new erasure request, so its rows go even if the first request
    was completed meanwhile by another collector. How many requests were made."""
    tombstones.refresh()
    if not tombstones:
        return 0
    late: set[tuple[str, str, int]] = set()
    for rows in committed:
        if rows.num_rows:
            late.update(_erased_mask(rows, keys, tombstones)[1])
    for site, column, key in sorted(late):
        request_erasure(keys, site, column, key, block_days=0, now=now)
    return len(late)
