"""Shared code for the analyst notebooks: find the data, open the views read-only, run a query.

Each query lives in ``pipelines/sql/analysis/<name>.sql`` with bound
parameters; notebooks call ``query(con, "<name>", site=...)`` and get a
pandas DataFrame, which Jupyter shows as a table and matplotlib plots by column.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import duckdb

QUERIES = Path(__file__).parent / "sql" / "analysis"
CHECKOUT = Path(__file__).resolve().parents[1]


def data_dir() -> Path:
    """``CLEARCOUNT_DATA_DIR``, else the project's ``./data`` wherever the kernel runs.

    JupyterLab starts a notebook's kernel in the notebook's own folder, where a
    relative ``./data`` names nothing; in a checkout the project's folder is
    where ``make run`` and ``clearcount demo`` put the data by default.
    """
    configured = os.environ.get("CLEARCOUNT_DATA_DIR")
    if configured:
        return Path(configured)
    if (CHECKOUT / "pyproject.toml").exists():
        return CHECKOUT / "data"
    return Path("./data")


def open_views(directory: Path | None = None) -> duckdb.DuckDBPyConnection:
    """The views, read-only: safe while the collector ingests and loads."""
    path = (directory or data_dir()) / "clearcount.duckdb"
    if not path.exists():
        raise FileNotFoundError(
            f"{path} does not exist: start the collector (make run) or send demo traffic "
            "(clearcount demo) first, or set CLEARCOUNT_DATA_DIR to the data directory"
        )
    return duckdb.connect(str(path), read_only=True)


def query(con: duckdb.DuckDBPyConnection, name: str, **params: Any) -> Any:
    """The named query's result as a pandas DataFrame (typed Any: pandas ships no stubs)."""
    sql = (QUERIES / f"{name}.sql").read_text(encoding="utf-8")
    wanted = {
        key: value
        for key, value in {"site": None, "limit": 10, **params}.items()
        if f"${key}" in sql
    }
    return con.execute(sql, wanted).df()
