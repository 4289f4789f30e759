"""gunicorn's threaded worker, made to hold up against slow and idle clients, and to let a
worker with a free thread take new connections first.

Slow and idle clients. The stock gthread worker gives every new connection to
a thread at once; the thread waits up to five seconds for a first byte, then
reads the request with blocking reads for as long as the client takes. Two
hundred idle connections, or a few dozen clients sending one header line
every few seconds, so held every thread of every worker. Here a pool thread
takes only what the client has already sent, without waiting, into a buffer
(see ``service/request_buffer.py``), and goes on to gunicorn's handling only
once the request is whole. An unfinished request goes back to the main
thread's poller, which hands it to a thread again when more bytes arrive:
idle and slow connections cost a buffer and a poller entry, never a waiting
thread. A client that has not sent its headers ``header_timeout_s`` after it
first had to wait (on connecting, or after its previous answer on a
kept-alive connection), or its body ``body_timeout_s`` after its headers, is
dropped. The reading is done in the pool thread, not in the main thread: done
there, every request's read and check queued behind one thread, and the bare
endpoint lost about 15 % of its throughput.

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

from service import interrupt
from service.http_errors import REFUSALS, answer_malformed, response_bytes
from service.request_buffer import CONTINUE, RequestBuffer, Verdict
from service.settings import Settings

# Long enough for a woken worker on another CPU to get to its accept, short
# enough that a busy worker still accepts a thousand connections a second.
BUSY_ACCEPT_DELAY_S = 0.001
READ_SIZE = 64 * 1024
READING = object()  # handle()'s answer for a request that is not whole yet


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
        self.quitting = False

    def has_free_thread(self) -> bool:
        return bool(self.busy < self.cfg.threads)

    def accept(self, listener: Any) -> None:
        if not self.has_free_thread():
            time.sleep(BUSY_ACCEPT_DELAY_S)  # the GIL is free meanwhile: our threads work on
        super().accept(listener)  # a connection another worker took meanwhile is EAGAIN here

    def enqueue_req(self, conn: Any) -> None:
        self.busy += 1
        super().enqueue_req(conn)

    def finish_request(self, conn: Any, fs: Any) -> None:
        """On the main thread: a request not yet whole waits in the poller, not in a thread."""
        self.busy -= 1  # finish_request runs on the main thread, as accept does
        if not fs.cancelled() and fs.exception() is None and fs.result() is READING:
            if self.alive:
                self.wait_for_more(conn)
            else:  # stopping: a request still arriving is not waited for
                self.nr_conns -= 1
                conn.close()
            return
        super().finish_request(conn, fs)

    def init_signals(self) -> None:
        """gunicorn's handlers, then SIGINT ignored again under ``clearcount serve``, which
        stops the workers itself with SIGTERM (service.interrupt)."""
        super().init_signals()
        interrupt.keep_ignoring()

    def handle_quit(self, sig: Any, frame: Any) -> None:
        """SIGINT/SIGQUIT: stop at once, and only once.

        Ctrl-C sends SIGINT to the whole process group, and gunicorn's master then sends
        its workers SIGINT again. The second signal could land while the first handler was
        inside the thread pool's shutdown, holding its (non-reentrant) lock: the nested
        handler then waited on that lock for good, and the worker hung until the master
        killed it 20 s later. A repeated quit is now ignored.
        """
        if self.quitting:
            return
        self.quitting = True
        super().handle_quit(sig, frame)

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        """A request the HTTP parser refused, or a failure outside the app: a JSON answer,
        and a log line naming the error's type only (the stock one quotes the request line
        and the client's address)."""
        answer_malformed(self.log, req, client, exc)

    # Reading whole requests before handling them.

    def handle(self, conn: Any) -> Any:
        """In a pool thread: take what the client has sent without waiting for more; handle
        the request once it is whole, else hand the connection back to wait (READING)."""
        if self.cfg.is_ssl:
            return super().handle(conn)
        buffer: RequestBuffer | None = getattr(conn, "request_buffer", None)
        if buffer is None:
            buffer = conn.request_buffer = RequestBuffer()
            # A kept-alive connection may hold bytes read ahead of its last request.
            if conn.parser is not None:
                leftover = conn.parser.unreader.take_buffered()
                if leftover:
                    verdict = buffer.feed(leftover)
                    if verdict is not Verdict.WAIT:
                        return self.judged(conn, verdict)
        try:
            conn.sock.setblocking(False)
            chunk = conn.sock.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return READING
        except OSError:
            chunk = b""
        if not chunk:  # the client went away
            conn.request_buffer = None
            return False
        return self.judged(conn, buffer.feed(chunk))

    def judged(self, conn: Any, verdict: Verdict) -> Any:
        """In a pool thread: act on the buffer's verdict."""
        if verdict is Verdict.WAIT:
            return READING
        if verdict is Verdict.SEND_CONTINUE:
            try:
                conn.sock.send(CONTINUE)  # 25 bytes into an empty socket buffer
            except OSError:
                return False
            return READING
        buffer = conn.request_buffer
        conn.request_buffer = None
        conn.read_deadline = None
        conn.body_clock = False
        if verdict is not Verdict.READY:
            # Never whole: a 4xx in JSON at once, and the connection closes.
            with contextlib.suppress(OSError):
                conn.sock.send(response_bytes(*REFUSALS[verdict.value]))
            return False
        if conn.parser is None:
            conn.parser = http.get_parser(self.cfg, conn.sock, conn.client)
        conn.parser.unreader.unread(bytes(buffer.data))
        conn.data_ready = True  # gunicorn's handle need not wait for a first byte
        return super().handle(conn)

    def wait_for_more(self, conn: Any) -> None:
        """On the main thread: watch the connection for more bytes, with its deadline running
        (the header deadline from the first wait, the body's once the head is in)."""
        now = time.monotonic()
        if conn.request_buffer.head_complete and not getattr(conn, "body_clock", False):
            conn.body_clock = True
            conn.read_deadline = now + self.body_timeout_s
        elif getattr(conn, "read_deadline", None) is None:
            conn.read_deadline = now + self.header_timeout_s
        self.reading[conn] = conn.read_deadline
        self.next_expiry = min(self.next_expiry, conn.read_deadline)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self.on_more_bytes, conn))

    def on_more_bytes(self, conn: Any, _sock: Any) -> None:
        self.poller.unregister(conn.sock)
        self.reading.pop(conn, None)
        self.enqueue_req(conn)  # a thread reads what came, without waiting for more

    def murder_pending(self) -> None:
        """gunicorn calls this on every turn of its loop: drop the readers past their time."""
        super().murder_pending()
        now = time.monotonic()
        if now < self.next_expiry:
            return
        for conn, deadline in list(self.reading.items()):
            if deadline <= now:
                del self.reading[conn]
                with contextlib.suppress(KeyError, ValueError, OSError):
                    self.poller.unregister(conn.sock)
                self.nr_conns -= 1
                conn.close()
        self.next_expiry = min(self.reading.values(), default=float("inf"))
