"""spool: append-only, crash-safe segments of minimized records on local disk.

A segment's state is the folder it sits in, changed only by atomic renames:

    active/<name>.seg   open for appends; its writer holds an exclusive flock
    ready/<name>.seg    closed; waiting for the loader
    failed/<name>.seg   held lines the loader could not read, with <name>.error beside it

A writer that dies (even by SIGKILL) releases its flock, so the loader can tell
an abandoned active segment from a live one and claim it. Appends use group
commit: see SpoolWriter.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

SEGMENT_SUFFIX = ".seg"


class SpoolUnavailable(Exception):
    """The spool cannot make records durable now; the client should retry (503)."""


def fsync_path(path: Path) -> None:
    """Flush a file's data, or a directory's entries (what makes a rename durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


fsync_dir = fsync_path


def write_durably(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` in one rename, durable when this returns."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def spool_dirs(spool_dir: Path) -> tuple[Path, Path, Path]:
    dirs = (spool_dir / "active", spool_dir / "ready", spool_dir / "failed")
    for d in dirs:
        d.mkdir(parents=True, exist_ok=True)
    return dirs


class _Waiter:
    """A thread waiting for its bytes to be durable. It is woken exactly once, by the
    thread that settles them, without having to take the writer's lock again."""

    __slots__ = ("end", "error", "lead", "lock")

    def __init__(self, end: int) -> None:
        self.end = end
        self.error: str | None = None  # set when the bytes can never be acknowledged
        self.lead = False  # woken to lead the next sync rather than settled
        self.lock = threading.Lock()
        self.lock.acquire()  # released by whoever wakes this waiter


@dataclass
class _Segment:
    path: Path
    fd: int
    opened_at: float
    size: int = 0  # bytes written
    synced: int = 0  # bytes known durable
    syncing: bool = False  # a leader is inside fdatasync on this fd
    error: str | None = None  # a sync failed: no byte past ``synced`` is ever acknowledged
    retired: bool = False  # renamed to ready/; closed once nobody syncs on it
    waiters: list[_Waiter] = field(default_factory=list)


@dataclass
class SpoolWriter:
    """One per process; threads share it. ``append`` returns once the bytes are durable.

    Group commit, leader and followers: a thread writes its lines under the
    lock; if no sync is running it becomes the leader and calls ``fdatasync``
    with the lock (and the GIL) released, covering every byte written so far.
    Threads that write meanwhile wait; when the sync ends, the leader wakes
    the ones it covered and asks the first of the others to lead the next
    sync. A busy worker pays one flush for a whole group of requests, and
    each waiting thread is woken once: a condition variable's ``notify_all``
    would wake every waiter to re-check, and each wake-up of a thread costs
    the worker a context switch and a hand-off of the GIL.
    """

    spool_dir: Path
    max_bytes: int = 4 * 1024 * 1024
    max_age_s: float = 2.0
    fsync: bool = True
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _segment: _Segment | None = field(default=None, init=False)
    _closed: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self.active_dir, self.ready_dir, _ = spool_dirs(self.spool_dir)

    def append(self, lines: Iterable[bytes]) -> None:
        """Write newline-terminated records; raise SpoolUnavailable if they are not durable."""
        data = b"".join(lines)
        if not data:
            return
        with self._lock:
            if self._closed:
                raise SpoolUnavailable("spool writer is closed")
            try:
                seg = self._write_locked(data)
            except OSError as exc:
                raise SpoolUnavailable(str(exc)) from exc
            if not self.fsync:
                seg.synced = seg.size
                return
            end = seg.size
            waiter = self._settle_or_wait_locked(seg, end)
        while waiter is not None:
            waiter.lock.acquire()
            if not waiter.lead:
                if waiter.error is not None:
                    raise SpoolUnavailable(waiter.error)
                return
            with self._lock:
                waiter = self._settle_or_wait_locked(seg, end)

    def _settle_or_wait_locked(self, seg: _Segment, end: int) -> _Waiter | None:
        """None once bytes up to ``end`` are durable (leading syncs as needed), or a
        waiter queued on the running sync; raise if they never will be."""
        while True:
            if seg.error is not None:
                raise SpoolUnavailable(seg.error)
            if seg.synced >= end:
                return None
            if not seg.syncing:
                self._lead_sync_locked(seg)
                continue
            waiter = _Waiter(end)
            seg.waiters.append(waiter)
            return waiter

    def _wake_locked(self, seg: _Segment) -> None:
        """Release the waiters whose bytes are settled; ask the first other one to lead."""
        pending = []
        for waiter in seg.waiters:
            if seg.error is not None:
                waiter.error = seg.error
                waiter.lock.release()
            elif waiter.end <= seg.synced:
                waiter.lock.release()
            else:
                pending.append(waiter)
        if pending and not seg.syncing:
            pending[0].lead = True
            pending.pop(0).lock.release()
        seg.waiters = pending

    def _lead_sync_locked(self, seg: _Segment) -> None:
        """fdatasync everything written to ``seg`` so far, with the lock released.

        After a failed sync the kernel may have dropped the dirty pages and a
        later sync can report success for them, so the segment is retired and
        no byte written to it after its last good sync is ever acknowledged.
        """
        seg.syncing = True
        target = seg.size
        error: str | None = "the sync was interrupted"
        self._lock.release()
        try:
            os.fdatasync(seg.fd)
            error = None
        except OSError as exc:
            error = str(exc) or type(exc).__name__
        finally:
            # Even when interrupted: the waiters must hear of it, or they wait forever.
            self._lock.acquire()
            seg.syncing = False
            if error is None:
                seg.synced = max(seg.synced, target)
            else:
                seg.error = error
            self._wake_locked(seg)
        if seg.retired:
            os.close(seg.fd)
        elif error is not None and self._segment is seg:
            with contextlib.suppress(OSError):
                self._rotate_locked()

    def _aged(self, seg: _Segment) -> bool:
        return time.monotonic() - seg.opened_at >= self.max_age_s

    def _write_locked(self, data: bytes) -> _Segment:
        seg = self._segment
        if seg is not None and (seg.size >= self.max_bytes or self._aged(seg)):
            self._rotate_locked()
            seg = None
        if seg is None:
            seg = self._segment = self._open_segment()
        try:
            view = memoryview(data)
            while view:
                written = os.write(seg.fd, view)
                view = view[written:]
        except OSError:
            # Cut back to the last complete record so no torn line sits mid-segment,
            # then retire the segment; the next append starts a fresh one.
            with contextlib.suppress(OSError):
                os.ftruncate(seg.fd, seg.size)
            with contextlib.suppress(OSError):
                self._rotate_locked()
            raise
        seg.size += len(data)
        return seg

    def _open_segment(self) -> _Segment:
        name = f"{time.time_ns():020d}-{os.getpid()}-{secrets.token_hex(4)}{SEGMENT_SUFFIX}"
        # Lock before the segment gets its real name: the loader claims only named
        # segments it can lock. The dot-name is visible unlocked for an instant, so
        # the loader removes one only when it is ABANDONED_TMP_AGE_S old.
        tmp = self.active_dir / f".{name}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.rename(tmp, self.active_dir / name)
        fsync_dir(self.active_dir)
        return _Segment(self.active_dir / name, fd, time.monotonic())

    def _rotate_locked(self) -> None:
        """Hand the open segment to the loader: fsync, rename into ready/, close when idle."""
        seg, self._segment = self._segment, None
        if seg is None:
            return
        try:
            if seg.size:
                if seg.error is None:
                    try:
                        os.fdatasync(seg.fd)  # a line in ready/ is durable, acknowledged or not
                    except OSError as exc:
                        seg.error = str(exc) or type(exc).__name__
                        raise
                    seg.synced = seg.size
                os.rename(seg.path, self.ready_dir / seg.path.name)
                fsync_dir(self.ready_dir)
            else:
                seg.path.unlink()
            fsync_dir(self.active_dir)
        finally:
            seg.retired = True
            if not seg.syncing:
                os.close(seg.fd)
            self._wake_locked(seg)

    def rotate_if_stale(self) -> None:
        """Close a segment that has aged out, so the loader sees quiet traffic too."""
        with self._lock:
            seg = self._segment
            if seg is not None and self._aged(seg):
                self._rotate_locked()

    def close(self) -> None:
        """Hand the open segment to the loader; later appends fail."""
        with self._lock:
            self._closed = True
            self._rotate_locked()


ABANDONED_TMP_AGE_S = 60.0


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
                # A writer creates the file, then locks it, then renames it: a young
                # one may be a live writer between create and lock. An old one is a
                # writer that died in between, and was never written to.
                if time.time() - os.fstat(fd).st_mtime >= ABANDONED_TMP_AGE_S:
                    path.unlink()
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


def free_bytes(path: Path) -> int:
    """Bytes an unprivileged writer may still write on ``path``'s filesystem."""
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize


def can_write(spool_dir: Path) -> bool:
    """Whether a small durable write into the spool's directory succeeds now (not just the
    permission bits: a full or read-only filesystem fails here too)."""
    probe = spool_dir / f".ready-probe-{os.getpid()}-{threading.get_ident()}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, b"probe\n")
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        return False
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()
    return True


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
