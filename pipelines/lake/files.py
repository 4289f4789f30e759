"""The files under a table's folder, whatever the log says: for the checks the log cannot make.

Delta's vacuum deletes only files the log says were removed. A file written
for a commit that never happened (the writer crashed, or lost a race and
redid its work under new names) is named by no commit at all: these orphans
are found by listing the folder, and deleted once they are older than any
write still in flight could be.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyarrow import fs

from pipelines.lake.tables import Lake
from service.storage.location import s3_endpoint, s3_region

# A write in flight is committed or abandoned well within this; older orphans are garbage.
ORPHAN_AGE_S = 600.0


@dataclass(frozen=True)
class StoredFile:
    path: str  # relative to the table's folder: site=<id>/date=<day>/<name>.parquet
    modified: float  # epoch seconds


def filesystem(lake: Lake) -> tuple[fs.FileSystem, str]:
    """A pyarrow filesystem for the lake and the lake's root on it."""
    location = lake.location
    if location.path is not None:
        return fs.LocalFileSystem(), str(location.path)
    endpoint = s3_endpoint()
    s3 = fs.S3FileSystem(
        region=s3_region(),
        endpoint_override=endpoint.split("://", 1)[-1] if endpoint else None,
        scheme="http" if endpoint and endpoint.startswith("http://") else "https",
    )
    return s3, f"{location.bucket}/{location.prefix}".rstrip("/")


def stored_files(lake: Lake, table: str, site: str | None = None) -> list[StoredFile]:
    """Every Parquet file under the table's folder (of one site's partitions, if given)."""
    filesystem_, root = filesystem(lake)
    base = f"{root}/{table}" + (f"/site={site}" if site else "")
    try:
        infos = filesystem_.get_file_info(fs.FileSelector(base, recursive=True))
    except FileNotFoundError:
        return []
    out = []
    for info in infos:
        if info.type == fs.FileType.File and info.path.endswith(".parquet"):
            relative = info.path[len(f"{root}/{table}/") :]
            if not relative.startswith("_delta_log"):
                modified = info.mtime.timestamp() if info.mtime is not None else time.time()
                out.append(StoredFile(relative, modified))
    return out


def live_files(lake: Lake, table: str) -> set[str]:
    """The files the table's current version names, relative to its folder."""
    prefix = lake.uri(table).rstrip("/") + "/"
    return {uri.split(prefix, 1)[-1] for uri in lake.table(table).file_uris()}


def removed_files(lake: Lake, table: str) -> set[str]:
    """Files some commit removed that the log still remembers (vacuum's to delete)."""
    removed: list[str] = lake.table(table).vacuum(
        retention_hours=0, dry_run=True, enforce_retention_duration=False
    )
    return set(removed)


def orphans(lake: Lake, table: str, site: str | None = None) -> list[StoredFile]:
    """Files no commit names, live or removed."""
    known = live_files(lake, table) | removed_files(lake, table)
    return [f for f in stored_files(lake, table, site) if f.path not in known]


def delete(lake: Lake, table: str, path: str) -> None:
    filesystem_, root = filesystem(lake)
    filesystem_.delete_file(f"{root}/{table}/{path}")


def sweep_orphans(lake: Lake, table: str, older_than_s: float = ORPHAN_AGE_S) -> int:
    """Delete orphans older than any write in flight; how many were deleted."""
    cutoff = time.time() - older_than_s
    old = [f for f in orphans(lake, table) if f.modified < cutoff]
    for f in old:
        delete(lake, table, f.path)
    return len(old)


def holding(
    lake: Lake, table: str, path: str, wanted: set[tuple[str, int]]
) -> set[tuple[str, int]]:
    """Which of the (column, key) pseudonyms the file holds, read once for all of them."""
    filesystem_, root = filesystem(lake)
    columns = sorted({column for column, _ in wanted})
    with filesystem_.open_input_file(f"{root}/{table}/{path}") as source:
        parquet = pq.ParquetFile(source)
        present = [c for c in columns if c in parquet.schema_arrow.names]
        data = parquet.read(columns=present)
    found: set[tuple[str, int]] = set()
    for column in present:
        keys = pa.array(sorted({key for c, key in wanted if c == column}), pa.int64())
        hits = pc.filter(keys, pc.is_in(keys, value_set=pc.unique(data[column].drop_null())))
        found |= {(column, key) for key in hits.to_pylist()}
    return found
