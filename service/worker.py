"""gunicorn's threaded worker, made to hold up against slow and idle clients, and to let a
worker with a free thread take new connections first.

Slow and idle clients. The stock gthread worker gives every new connection to
a thread at once; the thread waits up to five seconds for a first byte, then
reads the request with blocking reads for as long as the client takes. Two
hundred idle connections, or a few dozen clients sending one header line
every few seconds, so held every thread of every worker. Here the main
thread reads each request into memory without blocking (see
``service/request_buffer.py``) and hands it to a thread only once it is
whole: idle and slow connections cost a buffer and a poller entry, never a
thread. A client that has not sent its headers ``header_timeout_s`` after
connecting (or after its previous answer, on a kept-alive connection), or its
body ``body_timeout_s`` after its headers, is dropped.

Fair accepting. The stock worker accepts whenever its poll wakes, however
many of its threads are busy. Workers race for each new connection, and with
keep-alive a connection stays with whoever won it: a burst of connections (a
proxy's pool filling up, a load test starting) often lands on one worker
while another idles. Here a worker whose threads are all busy waits a moment
before accepting, so a worker with a free thread wins the race; when none has
one, the busy worker still accepts, a moment later.
"""

from __future__ import annotations

import contextlib
import selectors
import time
from functools import partial
from typing import Any

from gunicorn import http
from gunicorn.workers.gthread import ThreadWorker

from service.http_errors import REFUSALS, answer_malformed, response_bytes
from service.request_buffer import CONTINUE, RequestBuffer, Verdict
from service.settings import Settings

# Long enough for a woken worker on another CPU to get to its accept, short
# enough that a busy worker still accepts a thousand connections a second.
BUSY_ACCEPT_DELAY_S = 0.001
READ_SIZE = 64 * 1024


class BalancedThreadWorker(ThreadWorker):  # type: ignore[misc]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.busy = 0  # requests handed to the pool and not finished; main thread only
        settings = Settings.from_env()
        self.header_timeout_s = settings.header_timeout_s
        self.body_timeout_s = settings.body_timeout_s
        # Connections whose request is being read, with the moment they are dropped.
        self.reading: dict[Any, float] = {}
        self.next_expiry = float("inf")

    def has_free_thread(self) -> bool:
        return bool(self.busy < self.cfg.threads)

    def accept(self, listener: Any) -> None:
        if not self.has_free_thread():
            time.sleep(BUSY_ACCEPT_DELAY_S)  # the GIL is free meanwhile: our threads work on
        super().accept(listener)  # a connection another worker took meanwhile is EAGAIN here

    def enqueue_req(self, conn: Any) -> None:
        """Every path to a thread comes here; only a whole request goes on to one."""
        if getattr(conn, "request_whole", False) or self.cfg.is_ssl:
            conn.request_whole = False
            self.busy += 1
            super().enqueue_req(conn)
            return
        self.start_reading(conn)

    def finish_request(self, conn: Any, fs: Any) -> None:
        self.busy -= 1  # finish_request runs on the main thread, as accept does
        super().finish_request(conn, fs)

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        """A request the HTTP parser refused, or a failure outside the app: a JSON answer,
        and a log line naming the error's type only (the stock one quotes the request line
        and the client's address)."""
        answer_malformed(self.log, req, client, exc)

    # Reading requests on the main thread.

    def start_reading(self, conn: Any) -> None:
        buffer = RequestBuffer()
        conn.request_buffer = buffer
        conn.sock.setblocking(False)
        self.expire_at(conn, time.monotonic() + self.header_timeout_s)
        # A kept-alive connection may hold bytes read ahead of its last request.
        leftover = conn.parser.unreader.take_buffered() if conn.parser is not None else b""
        if leftover and self.judge(conn, buffer.feed(leftover)):
            return
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self.on_request_bytes, conn))
        # The request is often there already (a kept-alive connection just turned readable,
        # or a client that wrote on connecting): read it now rather than after another poll.
        self.on_request_bytes(conn, conn.sock)

    def on_request_bytes(self, conn: Any, _sock: Any) -> None:
        try:
            chunk = conn.sock.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        if not chunk:  # the client went away
            self.drop(conn)
            return
        buffer: RequestBuffer = conn.request_buffer
        had_head = buffer.head_complete
        verdict = buffer.feed(chunk)
        if buffer.head_complete and not had_head:
            self.expire_at(conn, time.monotonic() + self.body_timeout_s)
        self.judge(conn, verdict)

    def judge(self, conn: Any, verdict: Verdict) -> bool:
        """Act on a verdict; True when the connection left the reading stage."""
        if verdict is Verdict.SEND_CONTINUE:
            try:
                conn.sock.send(CONTINUE)  # 25 bytes into an empty socket buffer
            except OSError:
                self.drop(conn)
                return True
            return False
        if verdict is Verdict.WAIT:
            return False
        if verdict is not Verdict.READY:
            self.refuse(conn, verdict)
            return True
        self.reading.pop(conn, None)
        with contextlib.suppress(KeyError, ValueError):
            self.poller.unregister(conn.sock)  # before a thread reads from it
        data = bytes(conn.request_buffer.data)
        conn.request_buffer = None
        if conn.parser is None:
            conn.parser = http.get_parser(self.cfg, conn.sock, conn.client)
        conn.parser.unreader.unread(data)
        conn.data_ready = True  # no wait for a first byte in the thread
        conn.request_whole = True
        self.enqueue_req(conn)
        return True

    def refuse(self, conn: Any, verdict: Verdict) -> None:
        """Answer a request that can never be whole (4xx, JSON) and close the connection."""
        with contextlib.suppress(OSError):
            conn.sock.send(response_bytes(*REFUSALS[verdict.value]))  # small: fits the buffer
        self.drop(conn)

    def expire_at(self, conn: Any, deadline: float) -> None:
        self.reading[conn] = deadline
        self.next_expiry = min(self.next_expiry, deadline)

    def drop(self, conn: Any) -> None:
        """Close a connection in the reading stage (gone, or too slow)."""
        self.reading.pop(conn, None)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(conn.sock)
        self.nr_conns -= 1
        conn.close()

    def murder_pending(self) -> None:
        """gunicorn calls this on every turn of its loop: drop the readers past their time."""
        super().murder_pending()
        now = time.monotonic()
        if now < self.next_expiry:
            return
        for conn, deadline in list(self.reading.items()):
            if deadline <= now:
                self.drop(conn)
        self.next_expiry = min(self.reading.values(), default=float("inf"))
