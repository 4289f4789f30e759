"""The gunicorn worker stops accepting while all its threads are busy, and resumes after."""

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

from service.worker import BalancedThreadWorker


class Log:
    def __getattr__(self, name: str) -> Any:
        return getattr(logging.getLogger("test-worker"), name)


@pytest.fixture
def worker() -> Iterator[tuple[BalancedThreadWorker, socket.socket, threading.Event]]:
    listener = socket.create_server(("127.0.0.1", 0))
    cfg = Config()
    cfg.set("threads", 2)
    w = BalancedThreadWorker(1, 0, [listener], None, 30, cfg, Log())
    # What init_process prepares, without entering the worker's loop.
    w.tpool = w.get_thread_pool()
    w.poller = selectors.DefaultSelector()
    w.method_queue.init()
    release = threading.Event()

    def handle(conn: Any) -> bool:
        release.wait(10)  # a request in progress holds its thread
        return False  # then the connection closes

    w.handle = handle  # type: ignore[method-assign]
    yield w, listener, release
    release.set()
    w.tpool.shutdown(wait=True)
    w.poller.close()
    w.method_queue.close()
    w.tmp.close()  # the heartbeat file every gunicorn worker opens
    listener.close()


def listening(w: BalancedThreadWorker, listener: socket.socket) -> bool:
    return any(key.fileobj is listener for key in w.poller.get_map().values())


def connect(listener: socket.socket) -> socket.socket:
    return socket.create_connection(listener.getsockname(), timeout=5)


def test_accepts_only_while_a_thread_is_free(
    worker: tuple[BalancedThreadWorker, socket.socket, threading.Event],
) -> None:
    w, listener, release = worker
    w.set_accept_enabled(True)
    assert listening(w, listener)

    clients = [connect(listener) for _ in range(3)]
    w.accept(listener)
    assert listening(w, listener)  # one of two threads busy
    w.accept(listener)
    assert w.busy == 2
    assert not listening(w, listener)  # the third connection waits for another worker
    w.set_accept_enabled(True)  # what run() asks on its next turn
    assert not listening(w, listener)

    for client in clients:
        client.close()  # so the worker's graceful close need not wait for them
    release.set()
    deadline = time.monotonic() + 10
    while w.busy and time.monotonic() < deadline:
        w.method_queue.run_callbacks(None)  # finish_request, on the main thread
        time.sleep(0.01)
    assert w.busy == 0
    w.set_accept_enabled(True)
    assert listening(w, listener)
