"""Changes to the lake's set of files that readers see whole or not at all.

DuckDB's views list a table's files when a query binds and open each of them
again, by path, while it scans. So a file must never change under its name
(the footer read at bind would not match the data read at scan), several
files must appear and disappear together, and a file a running query has
listed must still be there when the query opens it.

Each table has a hidden list, ``<table>/_hidden.csv``, and the views skip
the files it names. A change (compaction, erasure, retention) writes its new
files under new names, lists them as *pending* before they appear, and then,
in one atomic rename of the list, swaps them for the files they replace,
which become *superseded*. Superseded files are deleted only when no reader
has ``clearcount.duckdb`` open, or once ``CLEARCOUNT_READER_GRACE_S`` seconds
have passed (what an erasure is bounded by). Every writer holds the lake
lock, so a pending entry that a writer finds was left by a crash.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import io
import logging
import os
import secrets
import struct
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from service.ingest.spool import fsync_dir, fsync_path, write_durably

log = logging.getLogger("clearcount.commit")

HIDDEN_FILE = "_hidden.csv"
HIDDEN_HEADER = ("file", "state", "since")
PENDING, SUPERSEDED = "pending", "superseded"

# How long a query may take from listing files to reading the hidden list. Only
# waited for when a reader is connected while new files replace old ones.
COMMIT_DELAY_S = 2.0


def reader_grace() -> float:
    """Seconds superseded files stay for connected readers before they are deleted anyway
    (the setting ``reader_grace_s``, read here because every lake writer needs it)."""
    from service.settings import Settings

    return Settings.from_env().reader_grace_s


@dataclass(frozen=True)
class Hidden:
    file: str  # "site=<id>/date=<day>/<name>.parquet", relative to the table
    state: str
    since: float


def hidden_path(lake: Path, table: str) -> Path:
    return lake / table / HIDDEN_FILE


def read_hidden(lake: Path, table: str) -> list[Hidden]:
    try:
        text = hidden_path(lake, table).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    rows = csv.DictReader(io.StringIO(text))
    return [Hidden(r["file"], r["state"], float(r["since"])) for r in rows]


def write_hidden(lake: Path, table: str, entries: Iterable[Hidden]) -> None:
    """Replace the list in one rename: DuckDB reads it in a single open and read."""
    path = hidden_path(lake, table)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HIDDEN_HEADER)
    for e in entries:
        writer.writerow((e.file, e.state, f"{e.since:.3f}"))
    write_durably(path, out.getvalue().encode(), 0o644)


def ensure_hidden_lists(lake: Path, tables: Iterable[str]) -> None:
    for table in tables:
        if not hidden_path(lake, table).exists():
            write_hidden(lake, table, [])


def relative(lake: Path, path: Path) -> tuple[str, str]:
    """(table, file as the hidden list names it) for a file of the lake."""
    table, site, date, name = path.relative_to(lake).parts
    return table, f"{site}/{date}/{name}"


def live_files(lake: Path, table: str, pattern: str = "*/*/*.parquet") -> list[Path]:
    """The files readers see now: on disk and not hidden."""
    hidden = {e.file for e in read_hidden(lake, table)}
    root = lake / table
    return sorted(p for p in root.glob(pattern) if relative(lake, p)[1] not in hidden)


def readers_present(data_dir: Path) -> bool:
    """Whether any process has ``clearcount.duckdb`` open.

    DuckDB holds a POSIX read lock on the file for as long as a read-only
    connection is open; F_GETLK asks about it without taking anything.
    The collector's own readers (stats, export, reports) read through that
    file too, so they count.
    """
    try:
        fd = os.open(data_dir / "clearcount.duckdb", os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        probe = struct.pack("hhqqi", fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)
        kind: int = struct.unpack("hhqqi", fcntl.fcntl(fd, fcntl.F_GETLK, probe))[0]
        return kind != fcntl.F_UNLCK
    finally:
        os.close(fd)


@dataclass
class LakeChange:
    """New files and the files they replace, made visible together by ``commit``.

    The caller holds the lake lock from the first ``new_file`` to ``commit``.
    """

    data_dir: Path
    added: list[tuple[Path, Path]] = field(default_factory=list)  # (temporary, final)
    removed: list[Path] = field(default_factory=list)

    @property
    def lake(self) -> Path:
        return self.data_dir / "lake"

    def new_file(self, directory: Path) -> Path:
        """A temporary path to write one new file to; it gets its final name at commit."""
        directory.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        final = directory / f"c-{stamp}-{secrets.token_hex(6)}.parquet"
        tmp = directory / f".{final.name}.tmp"
        self.added.append((tmp, final))
        return tmp

    def remove(self, path: Path) -> None:
        self.removed.append(path)

    def discard(self) -> None:
        for tmp, _ in self.added:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        self.added.clear()
        self.removed.clear()

    def commit(self) -> None:
        if not self.added and not self.removed:
            return
        lake = self.lake
        by_table: dict[str, list[Hidden]] = {}
        for _, final in self.added:
            by_table.setdefault(relative(lake, final)[0], [])
        for path in self.removed:
            by_table.setdefault(relative(lake, path)[0], [])
        for table in by_table:
            by_table[table] = read_hidden(lake, table)

        now = time.time()
        new_names = {relative(lake, final) for _, final in self.added}
        if self.removed and self.added:
            # New files are listed before they appear, so no reader sees them beside
            # the files they replace.
            for table, name in new_names:
                by_table[table].append(Hidden(name, PENDING, now))
            for table in {t for t, _ in new_names}:
                write_hidden(lake, table, by_table[table])
        for tmp, final in self.added:
            fsync_path(tmp)
            os.rename(tmp, final)
        for directory in {final.parent for _, final in self.added}:
            fsync_dir(directory)
        if self.removed:
            if self.added and readers_present(self.data_dir):
                # A query that listed files before the renames must have read the
                # hidden list by now, or it would miss both the old and new files.
                time.sleep(COMMIT_DELAY_S)
            since = time.time()
            gone = {relative(lake, p) for p in self.removed}
            for table, entries in by_table.items():
                kept = [e for e in entries if (table, e.file) not in new_names | gone]
                kept += [Hidden(name, SUPERSEDED, since) for t, name in gone if t == table]
                write_hidden(lake, table, kept)
        self.added.clear()
        self.removed.clear()


def _tables(lake: Path) -> list[str]:
    return sorted(p.parent.name for p in lake.glob(f"*/{HIDDEN_FILE}"))


def superseded_files(lake: Path) -> list[Path]:
    return [
        lake / table / e.file
        for table in _tables(lake)
        for e in read_hidden(lake, table)
        if e.state == SUPERSEDED
    ]


@contextlib.contextmanager
def lake_lock(data_dir: Path) -> Iterator[None]:
    """One writer of the lake at a time: loaders, erasure, retention and compaction."""
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(data_dir / ".lake.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def changing(data_dir: Path) -> Iterator[LakeChange]:
    """A change committed when the block ends (discarded if it raises), then garbage
    collected; the caller holds the lake lock throughout."""
    change = LakeChange(data_dir)
    try:
        yield change
    except BaseException:
        change.discard()
        raise
    change.commit()
    collect_garbage(data_dir)


def settle(data_dir: Path, poll_s: float = 0.5) -> None:
    """Return once every replaced file is deleted: when readers close the DuckDB file,
    or after the grace. Takes the lake lock only for each pass, so loading goes on."""
    told = False
    while True:
        with lake_lock(data_dir):
            collect_garbage(data_dir)
            if not superseded_files(data_dir / "lake"):
                return
        if not told:
            log.info(
                "replaced files wait for readers of clearcount.duckdb to close",
                extra={"at_most_s": reader_grace()},
            )
            told = True
        time.sleep(poll_s)


def collect_garbage(data_dir: Path) -> int:
    """Delete superseded files no reader can still be reading; the caller holds the lake lock.

    Pending entries found here were left by a crash mid-commit: their files were
    never visible, and they are retired like superseded ones.
    """
    lake = data_dir / "lake"
    tables = _tables(lake)
    deleted = 0
    free = not readers_present(data_dir)
    now, grace = time.time(), reader_grace()
    for table in tables:
        entries = read_hidden(lake, table)
        kept: list[Hidden] = []
        for e in entries:
            if e.state == PENDING:
                e = Hidden(e.file, SUPERSEDED, now)
            if free or now - e.since >= grace:
                path = lake / table / e.file
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    deleted += 1
                    fsync_dir(path.parent)
                if free:
                    _remove_empty_partition(path.parent)
            else:
                kept.append(e)
        if kept != entries:
            write_hidden(lake, table, kept)
    return deleted


def _remove_empty_partition(directory: Path) -> None:
    """Retention can empty a day; its directory goes once no reader could be listing it."""
    for d in (directory, directory.parent):
        try:
            d.rmdir()
        except OSError:
            return
