"""gunicorn's threaded worker, letting a worker with a free thread take new connections first.

The stock gthread worker accepts whenever its poll wakes, however many of its
threads are busy. Workers race for each new connection, and with keep-alive a
connection stays with whoever won it: a burst of connections (a proxy's pool
filling up, a load test starting) often lands on one worker while another
idles, and requests then queue behind busy threads next to an idle process.
Here a worker whose threads are all busy waits a moment before accepting, so
a worker with a free thread wins the race; when none has one, the busy worker
still accepts, a moment later, and no connection is left waiting.
"""

from __future__ import annotations

import time
from typing import Any

from gunicorn.workers.gthread import ThreadWorker

# Long enough for a woken worker on another CPU to get to its accept, short
# enough that a busy worker still accepts a thousand connections a second.
BUSY_ACCEPT_DELAY_S = 0.001


class BalancedThreadWorker(ThreadWorker):  # type: ignore[misc]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.busy = 0  # requests handed to the pool and not finished; main thread only

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
        self.busy -= 1  # finish_request runs on the main thread, as accept does
        super().finish_request(conn, fs)
