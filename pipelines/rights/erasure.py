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

import contextlib
import datetime as dt
import re
import secrets
import time
from dataclasses import dataclass
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


def pending_requests(objects: Objects) -> list[ErasureRequest]:
    out = []
    for name in objects.list(PENDING):
        if name.endswith(".json") and (data := objects.get(name)) is not None:
            out.append(ErasureRequest(**orjson.loads(data)))
    return out


def _days_holding(lake: Lake, table: str, request: ErasureRequest) -> list[dt.date]:
    found = (
        lake.table(table)
        .to_pyarrow_dataset()
        .to_table(
            columns=["date"],
            filter=(ds.field("site") == request.site) & (ds.field(request.column) == request.key),
        )
    )
    return sorted(set(found["date"].to_pylist()))


def _rewrite(lake: Lake, table: str, request: ErasureRequest, days: list[dt.date]) -> int:
    """The partitions without the pseudonym's rows, in one commit; the rows removed.

    The commit's predicate names only the site and the days, so the log never
    holds the pseudonym.
    """
    day_list = ", ".join(f"'{d.isoformat()}'" for d in days)
    predicate = f"{partition_predicate(request.site)} AND date IN ({day_list})"

    def change() -> int:
        current = lake.table(table)
        rows = current.to_pyarrow_dataset().to_table(
            filter=(ds.field("site") == request.site) & ds.field("date").isin(days)
        )
        key = pa.scalar(request.key, pa.int64())
        hit = pc.fill_null(pc.equal(rows[request.column], key), False)
        removed = int(pc.sum(hit).as_py() or 0)
        if not removed:
            return 0
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


def leftovers(lake: Lake, request: ErasureRequest, settled: float) -> bool:
    """Whether a file no reader sees still holds the pseudonym: one a commit replaced that
    vacuum must keep for the grace, or an orphan of a write that never committed, young
    enough to be in flight still. Orphans holding it are deleted here when they are old,
    or when they were written before ``settled`` (the erasure's last rewrite, or its
    acceptance, a grace ago): such a file is a crashed write's, or a rewrite's that read
    the rows the erasure removed and so can never commit (a rewrite that lost a race
    redoes its work under new names and leaves its first files behind)."""
    now = time.time()
    for table, columns in ERASABLE.items():
        if request.column not in columns:
            continue
        live = files.live_files(lake, table)
        removed = files.removed_files(lake, table)
        for stored in files.stored_files(lake, table, request.site):
            if stored.path in live:
                continue  # searched through the table: rewritten until it holds none
            if not files.holds(lake, table, stored.path, request.column, request.key):
                continue
            in_flight = settled <= stored.modified and now - stored.modified < files.ORPHAN_AGE_S
            if stored.path in removed or in_flight:
                return True
            files.delete(lake, table, stored.path)
    return False


def _state_name(request: ErasureRequest) -> str:
    return f"{PENDING}/{request.id}.state"


def process_request(lake: Lake, request: ErasureRequest) -> dict[str, Any]:
    """Rewrite every partition that holds the pseudonym; what was removed, by table."""
    removed: dict[str, int] = {}
    partitions = 0
    for table, columns in ERASABLE.items():
        if request.column not in columns:
            continue
        days = _days_holding(lake, table, request)
        if days and (n := _rewrite(lake, table, request, days)):
            removed[table] = removed.get(table, 0) + n
            partitions += len(days)
    return {"rows_removed": removed, "partitions_rewritten": partitions}


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
    for request in pending_requests(objects):
        stored = objects.get(_state_name(request))
        state: dict[str, Any] = (
            orjson.loads(stored)
            if stored
            else {"rows_removed": {}, "partitions_rewritten": 0, "rewritten_at": None}
        )
        done = process_request(lake, request)
        now = time.time()
        if done["rows_removed"]:
            for table, n in done["rows_removed"].items():
                state["rows_removed"][table] = state["rows_removed"].get(table, 0) + n
            state["partitions_rewritten"] += done["partitions_rewritten"]
            state["rewritten_at"] = now
            objects.put(_state_name(request), orjson.dumps(state))
            continue
        since = state["rewritten_at"] or dt.datetime.fromisoformat(request.requested_at).timestamp()
        if now - since < grace:
            continue
        for table in ERASABLE:
            lake.vacuum(table, grace)
        if leftovers(lake, request, since):
            continue  # replaced files within the grace, or young orphans: a later round
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
