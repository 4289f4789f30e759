"""The report's aggregates on PySpark, for lakes beyond one machine.

The queries are the DuckDB ones, transpiled by sqlglot, so both engines
answer the same questions by construction (a test checks they agree); Spark
reads the hive-partitioned lake's live files. ``master`` is ``local[2]`` here,
or a cluster URL where users have one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlglot

from pipelines.lake.commit import live_files

RawTable = tuple[list[str], list[dict[str, Any]]]


def spark_rows(
    data_dir: Path,
    args: dict[str, Any],
    queries: dict[str, str],
    master: str = "local[2]",
) -> dict[str, RawTable]:
    """Each query (DuckDB's dialect, transpiled by sqlglot) on Spark over the lake's live
    files, with ``args`` as its named parameters; raw rows by query name."""
    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.master(master)
        .appName("clearcount-report")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "8")
    )
    if master.startswith("local"):
        builder = builder.config("spark.driver.host", "127.0.0.1").config(
            "spark.driver.bindAddress", "127.0.0.1"
        )
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    try:
        lake = data_dir / "lake"
        for table in ("events", "quarantine", "denied_counts"):
            # The files the DuckDB views show: none that a change is swapping in or out.
            files = [str(p) for p in live_files(lake, table)]
            frame = spark.read.option("basePath", str(lake / table)).parquet(*files)
            frame.where("site <> '_schema'").createOrReplaceTempView(table)
        out: dict[str, RawTable] = {}
        for name, duckdb_sql in queries.items():
            frame = spark.sql(
                sqlglot.transpile(duckdb_sql, read="duckdb", write="spark")[0], args=args
            )
            out[name] = (frame.columns, [row.asDict() for row in frame.collect()])
        return out
    finally:
        spark.stop()
