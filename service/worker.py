"""gunicorn's threaded worker, accepting new connections only while it has a free thread.

The stock gthread worker accepts whenever its poll wakes, however many of its
threads are busy. Workers race for each new connection, and with keep-alive a
connection stays with whoever won it: a burst of connections (a proxy's pool
filling up, a load test starting) often lands on one worker while another
idles, and requests then queue behind busy threads next to an idle process.
This worker stops listening while every thread is busy and starts again when
one frees, so new connections go to a worker that can serve them now.
"""

from __future__ import annotations

from typing import Any

from gunicorn.workers.gthread import ThreadWorker


class BalancedThreadWorker(ThreadWorker):  # type: ignore[misc]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.busy = 0  # requests handed to the pool and not finished; main thread only

    def has_free_thread(self) -> bool:
        return bool(self.busy < self.cfg.threads)

    def set_accept_enabled(self, enabled: bool) -> None:
        super().set_accept_enabled(enabled and self.has_free_thread())

    def enqueue_req(self, conn: Any) -> None:
        self.busy += 1
        super().enqueue_req(conn)
        if not self.has_free_thread():
            self.set_accept_enabled(False)

    def finish_request(self, conn: Any, fs: Any) -> None:
        # Runs on the main thread; run() turns accepting back on at its next turn.
        self.busy -= 1
        super().finish_request(conn, fs)
