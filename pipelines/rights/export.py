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

from pipelines.lake.tables import open_views
from service.ingest.spool import iter_segments

TABLES = ("events", "quarantine")


def _lake_rows(
    con: duckdb.DuckDBPyConnection, table: str, site: str, key: int
) -> list[dict[str, Any]]:
    # The table name comes from TABLES, never from the request.
    cursor = con.execute(
        f"SELECT * FROM {table} WHERE site = ? AND visitor_key = ? ORDER BY received_at",  # noqa: S608
        [site, key],
    )
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


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
    con = open_views(data_dir)
    try:
        for table in TABLES:
            for row in _lake_rows(con, table, site, key):
                row["table"] = table
                rows.append(row)
    finally:
        con.close()
    rows.extend(_spool_rows(data_dir / "spool", site, key))
    return rows
