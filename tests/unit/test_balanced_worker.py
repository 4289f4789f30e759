"""A busy gunicorn worker lets a worker with a free thread take a new connection first,
and still takes it itself when no other worker does."""

from __future__ import annotations

import logging
import selectors
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from gunicorn.config import Config
from gunicorn.workers.gthread import ThreadWorker

from service import worker as worker_module
from service.worker import BUSY_ACCEPT_DELAY_S, BalancedThreadWorker
from tests import patience


class Log:
    def __getattr__(self, name: str) -> Any:
        return getattr(logging.getLogger("test-worker"), name)


Setup = tuple[BalancedThreadWorker, socket.socket, threading.Event]


@pytest.fixture
def worker(monkeypatch: pytest.MonkeyPatch) -> Iterator[Setup]:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    cfg = Config()
    cfg.set("threads", 2)
    w = BalancedThreadWorker(1, 0, [listener], None, 30, cfg, Log())
    # What init_process prepares, without entering the worker's loop.
    w.tpool = w.get_thread_pool()
    w.poller = selectors.DefaultSelector()
    w.method_queue.init()
    release = threading.Event()

    def handle(self: Any, conn: Any) -> bool:
        release.wait(10)  # a whole request in progress holds its thread
        return False  # then the connection closes

    # gunicorn's own handling of a whole request; the worker's reading runs as it is.
    monkeypatch.setattr(ThreadWorker, "handle", handle)
    yield w, listener, release
    release.set()
    w.tpool.shutdown(wait=True)
    w.poller.close()
    w.method_queue.close()
    w.tmp.close()  # the heartbeat file every gunicorn worker opens
    listener.close()


def request(client: socket.socket) -> socket.socket:
    """The client sends a whole request: only then does the worker give it a thread."""
    client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    return client


def drain(w: BalancedThreadWorker) -> None:
    """Run finish_request for every request, as the worker's main loop would."""
    deadline = time.monotonic() + patience.seconds(10)
    while w.busy and time.monotonic() < deadline:
        w.method_queue.run_callbacks(None)
        time.sleep(0.01)


def timed_accept(w: BalancedThreadWorker, listener: socket.socket) -> float:
    start = time.perf_counter()
    w.accept(listener)
    return time.perf_counter() - start


def test_busy_worker_defers_then_accepts(worker: Setup) -> None:
    w, listener, release = worker
    clients = [
        request(socket.create_connection(listener.getsockname(), timeout=patience.seconds(10)))
        for _ in range(3)
    ]
    try:
        timed_accept(w, listener)
        timed_accept(w, listener)
        assert w.busy == 2  # both threads hold a request
        # No other worker is there: the busy one takes the connection, a moment later.
        assert timed_accept(w, listener) >= BUSY_ACCEPT_DELAY_S
        assert (w.busy, w.nr_conns) == (3, 3)
    finally:
        for client in clients:
            client.close()  # so the worker's graceful close need not wait for them
        release.set()
    drain(w)
    assert (w.busy, w.nr_conns) == (0, 0)


def test_worker_with_a_free_thread_wins_the_connection(
    worker: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    w, listener, release = worker
    clients = [
        request(socket.create_connection(listener.getsockname(), timeout=patience.seconds(10)))
        for _ in range(3)
    ]
    taken: list[socket.socket] = []

    def other_worker_accepts(seconds: float) -> None:
        taken.append(listener.accept()[0])  # a worker with a free thread, meanwhile

    monkeypatch.setattr(worker_module.time, "sleep", other_worker_accepts)
    try:
        w.accept(listener)
        assert not taken  # a free thread: accepted at once
        w.accept(listener)
        w.accept(listener)  # busy: it waited, and the other worker took this one
        assert len(taken) == 1
        assert (w.busy, w.nr_conns) == (2, 2)
    finally:
        for sock in (*clients, *taken):
            sock.close()
        release.set()
    monkeypatch.undo()
    drain(w)


def test_a_slow_or_idle_client_holds_no_thread_and_is_dropped_after_its_time(
    worker: Setup,
) -> None:
    w, listener, _release = worker
    w.header_timeout_s = 0.3
    idle = socket.create_connection(listener.getsockname(), timeout=patience.seconds(10))
    slow = socket.create_connection(listener.getsockname(), timeout=patience.seconds(10))
    slow.sendall(b"POST /api/event HTTP/1.1\r\nHost: x\r\n")  # and then nothing more, yet
    try:
        w.accept(listener)
        w.accept(listener)
        drain(w)  # each thread took what had come and handed the connection back
        assert w.busy == 0  # neither has a whole request: no thread is held
        assert len(w.reading) == 2
        time.sleep(0.4)
        w.murder_pending()  # the worker's loop does this on every turn
        assert w.reading == {}
        assert w.nr_conns == 0
        for client in (idle, slow):
            assert client.recv(10) == b""  # dropped
    finally:
        idle.close()
        slow.close()


def test_a_request_completed_later_gets_its_thread(worker: Setup) -> None:
    w, listener, release = worker
    client = socket.create_connection(listener.getsockname(), timeout=patience.seconds(10))
    client.sendall(b"POST /api/event HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n")
    try:
        w.accept(listener)
        drain(w)
        assert w.busy == 0
        client.sendall(b"{}")
        w.wait_for_and_dispatch_events(timeout=patience.seconds(5))
        assert w.busy == 1
        assert w.reading == {}
    finally:
        release.set()
        drain(w)
        client.close()


def test_a_second_quit_signal_inside_the_first_is_ignored(
    worker: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Ctrl-C reaches a worker twice: from the terminal and from gunicorn's master. Handled
    # twice, the second handler waited for good on the pool's shutdown lock the first held.
    w, _listener, _release = worker
    calls: list[int] = []

    def stock_quit(self: Any, sig: int, frame: Any) -> None:
        calls.append(sig)
        self.handle_quit(sig, frame)  # the second signal lands inside the first handler

    monkeypatch.setattr(ThreadWorker, "handle_quit", stock_quit)
    w.handle_quit(2, None)
    assert calls == [2]
