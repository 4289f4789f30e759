"""Erasure: remove every row of one pseudonym from the lake and from what is still spooled.

A request is made durable first (``pending/``), together with a tombstone
that makes the collector and the loader drop the pseudonym's later events.
Processing then rewrites each affected partition without the pseudonym's
rows, as new files that replace the old ones in one commit (readers see the
old files or the new ones, never both or neither: pipelines/lake/commit.py). Once
the replaced files are deleted it writes a receipt that holds no identifier
and deletes the request: from then on no byte under the data directory holds
the pseudonym.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.lake.commit import LakeChange, changing, superseded_files
from pipelines.lake.compact import num_rows, partitions, rewrite, small_files
from pipelines.rights import audit
from service.ingest.spool import fsync_dir, write_durably
from service.privacy.keys import KeyStore
from service.privacy.tombstones import Tombstones, tombstone_name

ERASABLE = {  # table → pseudonym columns it holds
    "events": ("visitor_key", "user_key"),
    "quarantine": ("visitor_key", "user_key"),
    "consent_log": ("visitor_key",),
}
COLUMNS = ("visitor_key", "user_key")


def erasure_dir(data_dir: Path) -> Path:
    return data_dir / "erasure"


def tombstones_of(data_dir: Path) -> Tombstones:
    return Tombstones(erasure_dir(data_dir) / "tombstones")


@dataclass(frozen=True)
class ErasureRequest:
    id: str
    site: str
    column: str  # visitor_key or user_key
    key: int
    requested_at: str


def request_erasure(
    data_dir: Path,
    keys: KeyStore,
    site: str,
    column: str,
    key: int,
    *,
    block_days: int,
    now: dt.datetime,
) -> ErasureRequest:
    """Durable before it returns: the request file is fsynced, and so is its tombstone."""
    if column not in COLUMNS:
        raise ValueError(f"cannot erase by {column}")
    request = ErasureRequest(
        id=f"{now.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(6)}",
        site=site,
        column=column,
        key=key,
        requested_at=now.isoformat(timespec="seconds"),
    )
    tombstones_of(data_dir).add(
        tombstone_name(keys.site_secret(site), column, key),
        now.date() + dt.timedelta(days=block_days),
    )
    pending = erasure_dir(data_dir) / "pending"
    pending.mkdir(parents=True, exist_ok=True)
    write_durably(pending / f"{request.id}.json", orjson.dumps(request.__dict__))
    fsync_dir(tombstones_of(data_dir).dir)
    return request


def pending_requests(data_dir: Path) -> list[tuple[Path, ErasureRequest]]:
    pending = erasure_dir(data_dir) / "pending"
    out = []
    with contextlib.suppress(FileNotFoundError):
        for path in sorted(pending.glob("*.json")):
            out.append((path, ErasureRequest(**orjson.loads(path.read_bytes()))))
    return out


def _holds(path: Path, column: str, key: int) -> bool:
    if column not in pq.read_schema(path).names:
        return False
    keys = pq.read_table(path, columns=[column])[column]
    return bool(pc.any(pc.equal(keys, pa.scalar(key, pa.int64()))).as_py())


def erase_from_failed_lines(failed_dir: Path, request: ErasureRequest) -> int:
    """Lines the loader set aside are spool data too: drop the pseudonym's from them."""
    removed = 0
    needle = f'"{request.column}":{request.key}'.encode()
    with contextlib.suppress(FileNotFoundError):
        for path in sorted(failed_dir.glob("*.seg")):
            lines = path.read_bytes().split(b"\n")
            kept = [line for line in lines if needle not in line]
            if len(kept) != len(lines):
                removed += len(lines) - len(kept)
                tmp = path.with_name(f".{path.name}.tmp")
                tmp.write_bytes(b"\n".join(kept))
                os.replace(tmp, path)
    return removed


def process_request(data_dir: Path, change: LakeChange, request: ErasureRequest) -> dict[str, Any]:
    """Rewrite each partition holding the pseudonym without its rows, merging the
    partition's small files on the way; what was searched and removed, no identifier."""
    removed: dict[str, int] = {}
    files_searched = files_rewritten = 0
    replaced: list[str] = []
    lake = data_dir / "lake"

    def keep(rows: pa.Table) -> pa.Table:
        hit = pc.fill_null(
            pc.equal(rows[request.column], pa.scalar(request.key, pa.int64())), False
        )
        return rows.filter(pc.invert(hit))

    for table, columns in ERASABLE.items():
        if request.column not in columns:
            continue
        for _, _, files in partitions(data_dir, table, request.site, include_in_flight=True):
            files_searched += len(files)
            affected = [f for f in files if _holds(f, request.column, request.key)]
            if not affected:
                continue
            targets = sorted(set(affected) | set(small_files(files)))
            before = sum(num_rows(f) for f in targets)
            removed[table] = removed.get(table, 0) + before - rewrite(change, targets, keep)
            files_rewritten += len(affected)
            replaced += [str(f.relative_to(lake)) for f in targets]
    return {
        "request_id": request.id,
        "site": request.site,
        "pseudonym_column": request.column,
        "tables_searched": [t for t, c in ERASABLE.items() if request.column in c],
        "files_searched": files_searched,
        "files_rewritten": files_rewritten,
        "rows_removed": removed,
        "requested_at": request.requested_at,
        "spool": "events not yet loaded are dropped by the loader while the tombstone lasts",
        "replaced": replaced,
    }


def _result_path(request_path: Path) -> Path:
    return request_path.with_suffix(".result")


def process_pending(data_dir: Path) -> list[dict[str, Any]]:
    """Carry every accepted request forward; the receipts of those now complete.

    The caller holds the lake lock and has drained the spool. The rewrite is
    committed at once, so readers stop seeing the rows; a request completes
    when the files it replaced are deleted too (pipelines/lake/commit.py), on this
    call or a later one, which only checks for that. What each rewrite removed
    is kept beside the request, so a restart between commit and completion
    still reports it.
    """
    requests = pending_requests(data_dir)
    if not requests:
        return []
    results: list[tuple[Path, ErasureRequest, dict[str, Any]]] = []
    for path, request in requests:
        stored = _result_path(path)
        previous = orjson.loads(stored.read_bytes()) if stored.exists() else None
        if previous is None or not previous["committed"]:
            with changing(data_dir) as change:
                result = process_request(data_dir, change, request)
                result["set_aside_spool_lines_removed"] = erase_from_failed_lines(
                    data_dir / "spool" / "failed", request
                )
                if previous is not None and not result["files_rewritten"]:
                    result = previous  # rewritten before a restart cut the bookkeeping short
                # Kept before the commit, so a crash right after it still reports the counts.
                write_durably(stored, orjson.dumps(result | {"committed": False}))
            previous = result | {"committed": True}
            write_durably(stored, orjson.dumps(previous))
        results.append((path, request, previous))
    lake = data_dir / "lake"
    waiting = set(superseded_files(lake))
    if any(lake / name in waiting for _, _, r in results for name in r["replaced"]):
        return []
    receipts = []
    receipts_dir = erasure_dir(data_dir) / "receipts"
    receipts_dir.mkdir(parents=True, exist_ok=True)
    for path, request, result in results:
        receipt = {k: v for k, v in result.items() if k not in ("replaced", "committed")}
        receipt["completed_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        write_durably(
            receipts_dir / f"{request.id}.json", orjson.dumps(receipt, option=orjson.OPT_INDENT_2)
        )
        audit.record(
            data_dir,
            "erasure",
            actor="loader",
            site=request.site,
            request_id=request.id,
            rows_removed=receipt["rows_removed"],
        )
        path.unlink()
        _result_path(path).unlink(missing_ok=True)
        fsync_dir(path.parent)
        receipts.append(receipt)
    return receipts


def drop_tombstoned(
    records: pa.Table, keys: KeyStore, tombstones: Tombstones
) -> tuple[pa.Table, int]:
    """Spooled rows of erased pseudonyms, removed before they reach the lake."""
    if not tombstones or not records.num_rows:
        return records, 0
    drop = pa.array([False] * records.num_rows)
    for site in pc.unique(records["site"]).to_pylist():
        secret = keys.site_secret(site)
        in_site = pc.equal(records["site"], site)
        for column in COLUMNS:
            values = pc.unique(pc.filter(records[column], in_site)).to_pylist()
            erased = [
                v
                for v in values
                if v is not None and tombstone_name(secret, column, v) in tombstones
            ]
            if erased:
                hit = pc.and_(
                    in_site,
                    pc.fill_null(pc.is_in(records[column], pa.array(erased, pa.int64())), False),
                )
                drop = pc.or_(drop, hit)
    dropped = pc.sum(drop).as_py() or 0
    return records.filter(pc.invert(drop)), int(dropped)
