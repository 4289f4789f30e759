"""The main thread hands a request to a thread only once it is whole, or can never be."""

from __future__ import annotations

import pytest

from service.request_buffer import (
    MAX_BODY_BYTES,
    MAX_HEAD_BYTES,
    RequestBuffer,
    Verdict,
    chunked_verdict,
)

WAIT, READY, CONTINUE = Verdict.WAIT, Verdict.READY, Verdict.SEND_CONTINUE
MALFORMED, TOO_LARGE = Verdict.MALFORMED_BODY, Verdict.BODY_TOO_LARGE
HEAD = b"POST /api/event HTTP/1.1\r\nHost: x\r\n"


def feed_all(*parts: bytes) -> list[Verdict]:
    buffer = RequestBuffer()
    return [buffer.feed(p) for p in parts]


@pytest.mark.parametrize(
    ("parts", "verdicts"),
    [
        # The head arrives a line at a time (slowloris): wait until its blank line.
        (
            (b"GET / HTTP/1.1\r\n", b"Host: x\r\n", b"X-a: 1\r\n", b"\r\n"),
            [WAIT, WAIT, WAIT, READY],
        ),
        # The blank line split across reads.
        ((b"GET / HTTP/1.1\r\nHost: x\r\n\r", b"\n"), [WAIT, READY]),
        # A body of Content-Length bytes, arriving slowly.
        ((HEAD + b"Content-Length: 4\r\n\r\n", b"ab", b"cd"), [WAIT, WAIT, READY]),
        ((HEAD + b"Content-Length: 0\r\n\r\n",), [READY]),
        # Pipelined: the first request is whole, the rest goes along.
        ((b"GET / HTTP/1.1\r\n\r\nGET /x HTT",), [READY]),
        # Chunked, a chunk at a time, then the last chunk and its blank line.
        (
            (HEAD + b"Transfer-Encoding: chunked\r\n\r\n", b"2\r\nab\r\n", b"0\r\n", b"\r\n"),
            [WAIT, WAIT, WAIT, READY],
        ),
        ((HEAD + b"Transfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\nX-T: 1\r\n\r\n",), [READY]),
        # A body that can never be whole is refused at once, without a thread.
        ((HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n",), [MALFORMED]),
        ((HEAD + b"Transfer-Encoding: chunked\r\n\r\n-1\r\n",), [MALFORMED]),
        ((HEAD + b"Transfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n",), [TOO_LARGE]),
        ((HEAD + b"Transfer-Encoding: chunked\r\n\r\n2\r\nabXX",), [MALFORMED]),
        ((HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + b"1" * 2000,), [MALFORMED]),
        # A head the parser must judge (conflicting or unknown framing) goes to it at once.
        ((HEAD + b"Transfer-Encoding: gzip\r\n\r\n",), [READY]),
        ((HEAD + b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",), [READY]),
        ((HEAD + b"Content-Length: 1\r\nContent-Length: 2\r\n\r\n",), [READY]),
        ((HEAD + b"Content-Length: -1\r\n\r\n",), [READY]),
        ((HEAD + f"Content-Length: {MAX_BODY_BYTES + 1}\r\n\r\n".encode(),), [TOO_LARGE]),
        ((HEAD + b"Content-Length: " + b"9" * 5000 + b"\r\n\r\n",), [TOO_LARGE]),
        ((b"GET /" + b"a" * (MAX_HEAD_BYTES + 1),), [Verdict.HEAD_TOO_LARGE]),
    ],
)
def test_verdicts(parts: tuple[bytes, ...], verdicts: list[Verdict]) -> None:
    assert feed_all(*parts) == verdicts


def test_a_chunked_body_over_the_limit_is_handed_over_without_waiting() -> None:
    chunk = b"%x\r\n" % 40_000 + b"a" * 40_000 + b"\r\n"
    assert chunked_verdict(chunk) == WAIT  # 40,000 bytes so far: the next chunk may come
    assert chunked_verdict(chunk + b"%x\r\n" % 40_000) == TOO_LARGE


def test_expect_100_continue_is_answered_here_and_removed_from_the_head() -> None:
    buffer = RequestBuffer()
    head = HEAD + b"Expect: 100-continue\r\nContent-Length: 2\r\n\r\n"
    assert buffer.feed(head) == CONTINUE
    assert b"100-continue" not in buffer.data
    assert buffer.feed(b"ok") == READY
    assert bytes(buffer.data) == HEAD + b"Content-Length: 2\r\n\r\nok"


def test_expect_with_the_body_already_sent_needs_no_continue() -> None:
    head = HEAD + b"Expect: 100-continue\r\nContent-Length: 2\r\n\r\nok"
    assert feed_all(head) == [READY]
