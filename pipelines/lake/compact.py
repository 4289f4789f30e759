"""Compaction: a partition's small files merged into few, every row unchanged.

Each loader round adds one file per partition it touches, so a busy day
holds hundreds of small files and every query opens each of them. Delta's
``optimize`` merges each partition's small files into files of about
``TARGET_BYTES`` in one commit; it runs beside appends from every collector
(they never conflict), and is redone if a rewrite (erasure, retention)
commits first. The files it replaced are deleted by ``vacuum`` once the
readers' grace has passed.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from pipelines.lake.commit import retrying
from pipelines.lake.tables import TABLE_SCHEMAS, WRITER, Lake
from pipelines.rights import audit

TARGET_BYTES = 128 * 1024 * 1024


def compact_table(lake: Lake, table: str, site: str | None = None) -> Counter[str]:
    def change() -> dict[str, object]:
        metrics: dict[str, object] = lake.table(table).optimize.compact(
            partition_filters=[("site", "=", site)] if site else None,
            target_size=TARGET_BYTES,
            writer_properties=WRITER,
        )
        return metrics

    metrics = retrying(change, f"compact {table}")
    counts: Counter[str] = Counter()
    merged = int(str(metrics.get("numFilesRemoved", 0)))
    if merged:
        counts["partitions"] += int(str(metrics.get("partitionsOptimized", 0)))
        counts["files_merged"] += merged
        counts["files_written"] += int(str(metrics.get("numFilesAdded", 0)))
    return counts


def compact(lake: Lake, site: str | None = None) -> Counter[str]:
    """Merge the small files of every partition (of one site, if given) that has several."""
    counts: Counter[str] = Counter()
    for table in TABLE_SCHEMAS:
        counts.update(compact_table(lake, table, site))
    return counts


def record(data_dir: Path, counts: Counter[str], actor: str) -> None:
    audit.record(data_dir, "compaction", actor=actor, **dict(counts))
