"""The report's aggregates on PySpark, for lakes beyond one machine.

The queries are the DuckDB ones, transpiled by sqlglot, so both engines
answer the same questions by construction (a test checks they agree); Spark
reads the Delta tables' live files, as the Delta log lists them, with no
Maven download: on a local lake Spark reads those Parquet files itself; on
an S3 lake (``s3a://`` needs Hadoop's S3 jars from Maven) the driver reads
the site's partitions of the period through delta-rs and hands them to
Spark as Arrow. ``master`` is ``local[2]`` here, or a cluster URL where
users have one.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow as pa
from pyarrow import dataset as ds

from pipelines.lake.tables import Lake
from service.extras import require

RawTable = tuple[list[str], list[dict[str, Any]]]
QUERY_THREADS = 4


def spark_rows(
    data_dir: Path,
    args: dict[str, Any],
    queries: dict[str, str],
    master: str = "local[2]",
) -> dict[str, RawTable]:
    """Each query (DuckDB's dialect, transpiled by sqlglot) on Spark over the lake's live
    files, with ``args`` as its named parameters; raw rows by query name."""
    for module in ("pyspark", "sqlglot", "pandas"):
        require(module, extra="spark", feature="report --engine spark")
    from pyspark.sql import SparkSession
    from pyspark.sql.pandas.types import from_arrow_schema

    builder = (
        SparkSession.builder.master(master)
        .appName("clearcount-report")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "8")
        # The files come from the Delta log: listing them in a Spark job of its own, as Spark
        # does past 32 paths, costs a job per table and finds nothing new.
        .config("spark.sql.sources.parallelPartitionDiscovery.threshold", "1000000")
    )
    if master.startswith("local"):
        builder = builder.config("spark.driver.host", "127.0.0.1").config(
            "spark.driver.bindAddress", "127.0.0.1"
        )
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    try:
        lake = Lake.of(data_dir)
        for table in ("events", "quarantine", "denied_counts"):
            delta = lake.table(table)
            # The files of the table's current version, as every Delta reader sees it.
            files = delta.file_uris()
            if files and not lake.location.is_s3:
                # The table's schema, not one file's: files written before a column was
                # added (an earlier version's, converted) read it as null.
                schema = from_arrow_schema(pa.schema(delta.schema().to_arrow()))
                frame = (
                    spark.read.schema(schema).option("basePath", lake.uri(table)).parquet(*files)
                )
            else:
                rows = delta.to_pyarrow_dataset().to_table(
                    filter=(ds.field("site") == args["site"])
                    & (ds.field("date") >= args["scan_from"])
                    & (ds.field("date") <= args["scan_to"])
                )
                frame = (
                    spark.createDataFrame(rows)
                    if rows.num_rows
                    else spark.createDataFrame([], schema=from_arrow_schema(rows.schema))
                )
            frame.createOrReplaceTempView(table)
        # A few queries at once: Spark runs their jobs side by side, and one query's planning
        # and code generation on the driver overlaps another's tasks.
        with ThreadPoolExecutor(QUERY_THREADS) as pool:
            answers = pool.map(lambda sql: run(spark, sql, args), queries.values())
            return dict(zip(queries, answers, strict=True))
    finally:
        spark.stop()


def run(spark: Any, duckdb_sql: str, args: dict[str, Any]) -> RawTable:
    """One query, in DuckDB's dialect, on Spark: its columns and raw rows."""
    import sqlglot

    spark_sql = sqlglot.transpile(duckdb_sql, read="duckdb", write="spark")[0]
    # sqlglot writes DuckDB's quantile_cont(column, p) as a percentile_cont(column, p) that
    # Spark does not take; Spark's percentile(column, p) is the same exact, interpolated
    # percentile.
    spark_sql = spark_sql.replace("PERCENTILE_CONT(", "PERCENTILE(")
    # DuckDB's arg_min_null / arg_max_null (the entry's value, null included) are Spark's
    # min_by / max_by, which sqlglot leaves unnamed.
    spark_sql = spark_sql.replace("ARG_MIN_NULL(", "MIN_BY(").replace("ARG_MAX_NULL(", "MAX_BY(")
    frame = spark.sql(spark_sql, args=args)
    return frame.columns, [row.asDict() for row in frame.collect()]
