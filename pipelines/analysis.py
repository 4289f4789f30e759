"""Shared code for the analyst notebooks: open the views read-only, run a named query.

Each query lives in ``pipelines/sql/analysis/<name>.sql`` with bound
parameters; notebooks call ``query(con, "<name>", site=...)`` and get rows
as dictionaries, ready for a table or a matplotlib chart.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import duckdb

QUERIES = Path(__file__).parent / "sql" / "analysis"


def data_dir() -> Path:
    return Path(os.environ.get("CLEARCOUNT_DATA_DIR", "./data"))


def open_views(directory: Path | None = None) -> duckdb.DuckDBPyConnection:
    """The views, read-only: safe while the collector ingests and loads."""
    path = (directory or data_dir()) / "clearcount.duckdb"
    return duckdb.connect(str(path), read_only=True)


def query(con: duckdb.DuckDBPyConnection, name: str, **params: Any) -> list[dict[str, Any]]:
    sql = (QUERIES / f"{name}.sql").read_text(encoding="utf-8")
    wanted = {
        key: value
        for key, value in {"site": None, "limit": 10, **params}.items()
        if f"${key}" in sql
    }
    cursor = con.execute(sql, wanted)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def column(rows: list[dict[str, Any]], name: str) -> list[Any]:
    return [row[name] for row in rows]
