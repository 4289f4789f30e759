"""spool: append-only, crash-safe segments of minimized records on local disk.

A segment's state is the folder it sits in, changed only by atomic renames:

    active/<name>.seg   open for appends; its writer holds an exclusive flock
    ready/<name>.seg    closed; waiting for the loader
    failed/<name>.seg   held lines the loader could not read, with <name>.error beside it

A writer that dies (even by SIGKILL) releases its flock, so the loader can tell
an abandoned active segment from a live one and claim it. Appends use group
commit: the first waiting thread writes and fsyncs everything queued so far,
and every thread in that group is released by the one fsync.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

SEGMENT_SUFFIX = ".seg"


class SpoolUnavailable(Exception):
    """The spool cannot make records durable now; the client should retry (503)."""


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def spool_dirs(spool_dir: Path) -> tuple[Path, Path, Path]:
    dirs = (spool_dir / "active", spool_dir / "ready", spool_dir / "failed")
    for d in dirs:
        d.mkdir(parents=True, exist_ok=True)
    return dirs


class _Ticket:
    """One append waiting for durability; its lock is released by the flusher."""

    __slots__ = ("data", "done", "error")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.error: BaseException | None = None
        self.done = threading.Lock()
        self.done.acquire()


@dataclass
class _Segment:
    path: Path
    fd: int
    opened_at: float
    size: int = 0


@dataclass
class SpoolWriter:
    """One per process; threads share it. ``append`` returns once the bytes are durable.

    Group commit: a flusher thread takes everything queued, writes it with one
    ``write`` and one ``fdatasync``, and releases each waiting ticket. While it
    is in the kernel (without the GIL), the next group queues up.
    """

    spool_dir: Path
    max_bytes: int = 4 * 1024 * 1024
    max_age_s: float = 2.0
    fsync: bool = True
    _cond: threading.Condition = field(default_factory=threading.Condition, init=False)
    _pending: list[_Ticket] = field(default_factory=list, init=False)
    _segment: _Segment | None = field(default=None, init=False)
    _closed: bool = field(default=False, init=False)
    _rotate_requested: threading.Event | None = field(default=None, init=False)
    _flusher: threading.Thread | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.active_dir, self.ready_dir, _ = spool_dirs(self.spool_dir)

    def append(self, lines: Iterable[bytes]) -> None:
        """Write newline-terminated records; raise SpoolUnavailable if they are not durable."""
        ticket = _Ticket(b"".join(lines))
        if not ticket.data:
            return
        with self._cond:
            if self._closed:
                raise SpoolUnavailable("spool writer is closed")
            if self._flusher is None:
                # Started lazily: gunicorn forks workers after the app is built.
                self._flusher = threading.Thread(target=self._flush_loop, daemon=True)
                self._flusher.name = "clearcount-spool-flusher"
                self._flusher.start()
            self._pending.append(ticket)
            if len(self._pending) == 1:
                self._cond.notify()
        ticket.done.acquire()
        if ticket.error is not None:
            raise SpoolUnavailable(str(ticket.error)) from ticket.error

    def _flush_loop(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed and self._rotate_requested is None:
                    self._cond.wait()
                group, self._pending = self._pending, []
                closing, rotated = self._closed, self._rotate_requested
                self._rotate_requested = None
            self._flush(group)
            if closing:
                self._rotate_if(lambda seg: True)
                return
            if rotated is not None:
                self._rotate_if(self._aged)
                rotated.set()

    def _flush(self, group: list[_Ticket]) -> None:
        if not group:
            return
        error: BaseException | None = None
        try:
            self._write_group(b"".join(t.data for t in group))
        except OSError as exc:
            error = exc
        for t in group:
            t.error = error
            t.done.release()

    def _aged(self, seg: _Segment) -> bool:
        return time.monotonic() - seg.opened_at >= self.max_age_s

    def _rotate_if(self, condition: Callable[[_Segment], bool]) -> None:
        seg = self._segment
        if seg is not None and condition(seg):
            with contextlib.suppress(OSError):
                self._rotate()

    def _write_group(self, data: bytes) -> None:
        seg = self._segment
        if seg is not None and (seg.size >= self.max_bytes or self._aged(seg)):
            self._rotate()
            seg = None
        if seg is None:
            seg = self._segment = self._open_segment()
        try:
            view = memoryview(data)
            while view:
                written = os.write(seg.fd, view)
                view = view[written:]
            if self.fsync:
                os.fdatasync(seg.fd)
        except OSError:
            # Cut back to the last durable record so no torn line sits mid-segment,
            # then close the segment; the next append starts a fresh one.
            with contextlib.suppress(OSError):
                os.ftruncate(seg.fd, seg.size)
            with contextlib.suppress(OSError):
                self._rotate()
            raise
        seg.size += len(data)

    def _open_segment(self) -> _Segment:
        name = f"{time.time_ns():020d}-{os.getpid()}-{secrets.token_hex(4)}{SEGMENT_SUFFIX}"
        # Lock before the name becomes visible, so the loader never mistakes it for abandoned.
        tmp = self.active_dir / f".{name}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.rename(tmp, self.active_dir / name)
        fsync_dir(self.active_dir)
        return _Segment(self.active_dir / name, fd, time.monotonic())

    def _rotate(self) -> None:
        seg, self._segment = self._segment, None
        if seg is None:
            return
        try:
            if seg.size:
                os.rename(seg.path, self.ready_dir / seg.path.name)
                fsync_dir(self.ready_dir)
            else:
                seg.path.unlink()
            fsync_dir(self.active_dir)
        finally:
            os.close(seg.fd)

    def rotate_if_stale(self, timeout_s: float = 5.0) -> None:
        """Have the flusher close a segment that has aged out, so quiet traffic loads too."""
        with self._cond:
            if self._flusher is None or self._closed:
                return
            if self._rotate_requested is None:
                self._rotate_requested = threading.Event()
                self._cond.notify()
            done = self._rotate_requested
        done.wait(timeout_s)

    def close(self) -> None:
        """Flush what is queued, hand the open segment to the loader; later appends fail."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            flusher = self._flusher
            self._cond.notify()
        if flusher is not None:
            flusher.join()
        else:
            self._rotate()


def claim_abandoned(spool_dir: Path) -> list[Path]:
    """Move active segments whose writer has died into ready/; return them."""
    active, ready, _ = spool_dirs(spool_dir)
    claimed = []
    for path in sorted(active.iterdir()):
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue  # its writer rotated it meanwhile
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live writer holds it
            if path.name.startswith("."):
                path.unlink()  # died between create and rename: never written to
                continue
            target = ready / path.name
            os.rename(path, target)
            claimed.append(target)
        except FileNotFoundError:
            continue
        finally:
            os.close(fd)
    if claimed:
        fsync_dir(ready)
        fsync_dir(active)
    return claimed


def ready_segments(spool_dir: Path) -> list[Path]:
    _, ready, _ = spool_dirs(spool_dir)
    return sorted(p for p in ready.iterdir() if p.suffix == SEGMENT_SUFFIX)


def read_records(path: Path) -> tuple[list[bytes], list[bytes]]:
    """(complete lines, unreadable middle lines). A torn last line was never acknowledged."""
    data = path.read_bytes()
    lines = data.split(b"\n")
    # Everything after the final newline is a write that never completed its fsync.
    complete = lines[:-1]
    return [line for line in complete if line], []


def backlog_bytes(spool_dir: Path) -> int:
    total = 0
    for sub in ("active", "ready"):
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(spool_dir / sub):
                with contextlib.suppress(FileNotFoundError):
                    total += entry.stat().st_size
    return total


def oldest_ready_age_s(spool_dir: Path, now: float | None = None) -> float:
    now = time.time() if now is None else now
    oldest = None
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(spool_dir / "ready"):
            with contextlib.suppress(FileNotFoundError):
                mtime = entry.stat().st_mtime
                oldest = mtime if oldest is None else min(oldest, mtime)
    return 0.0 if oldest is None else max(0.0, now - oldest)


def iter_segments(spool_dir: Path) -> Iterator[Path]:
    """Every segment not yet loaded, active ones included (for export and erasure)."""
    active, ready, _ = spool_dirs(spool_dir)
    for d in (ready, active):
        for p in sorted(d.iterdir()):
            if p.suffix == SEGMENT_SUFFIX and not p.name.startswith("."):
                yield p
