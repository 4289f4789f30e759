"""Right of access: every stored event of one pseudonym, from the lake and the spool.

The same work is done whether or not the visitor exists (both scans always
run), so neither the answer's shape nor its timing tells who is known.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import duckdb
import orjson

from pipelines.lake import table_glob
from service.ingest.spool import iter_segments

TABLES = ("events", "quarantine")


def _lake_rows(lake: Path, table: str, site: str, key: int) -> list[dict[str, Any]]:
    glob = table_glob(lake, table)
    con = duckdb.connect()
    try:
        cursor = con.execute(
            "SELECT * FROM read_parquet(?, hive_partitioning = true, union_by_name = true, "
            "hive_types = {'site': VARCHAR, 'date': DATE}) WHERE site = ? AND visitor_key = ? "
            "ORDER BY received_at",
            [glob, site, key],
        )
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        con.close()


def _spool_rows(spool_dir: Path, site: str, key: int) -> list[dict[str, Any]]:
    out = []
    for segment in iter_segments(spool_dir):
        try:
            data = segment.read_bytes()
        except FileNotFoundError:
            continue  # loaded meanwhile: its rows are in the lake now
        for line in data[: data.rfind(b"\n") + 1].split(b"\n"):
            if b'"visitor_key":' + str(key).encode() not in line:
                continue
            rec = orjson.loads(line)
            if (
                rec.get("site") == site
                and rec.get("k") in ("e", "q")
                and rec.get("visitor_key") == key
            ):
                received = dt.datetime.fromtimestamp(rec["received_at"] / 1000, dt.UTC)
                rec.update(received_at=received, date=received.date(), pending_load=True)
                rec.pop("k")
                out.append(rec)
    return out


def export_visitor(data_dir: Path, site: str, key: int) -> list[dict[str, Any]]:
    """The visitor's rows as an analyst sees them, loaded first, then still spooled."""
    rows: list[dict[str, Any]] = []
    for table in TABLES:
        for row in _lake_rows(data_dir / "lake", table, site, key):
            row["table"] = table
            rows.append(row)
    rows.extend(_spool_rows(data_dir / "spool", site, key))
    return rows
