"""Is a whole HTTP/1.1 request in these bytes yet? The worker asks before it handles one.

A thread that reads a request from the socket holds that thread for as long as
the client takes: a client that sends one header line every few seconds
(slowloris), or a body a byte at a time, would hold it for ever, and a few
dozen such clients hold every thread of every worker. So the collector's
workers read each request into memory without ever waiting for the client,
as a buffering proxy does, and handle it only once it is complete: the head
up to its blank line, and the body its ``Content-Length`` or its chunked
framing announces. What can never be complete (a malformed or impossible
frame, a head or body over its limit) is refused at once, and a head only
the parser can judge goes to it at once, so the client gets its 4xx without
anything waiting for bytes that will never come. This module only judges
bytes: no sockets, no clock.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field

HEAD_END = b"\r\n\r\n"
MAX_HEAD_BYTES = 64 * 1024  # past this the parser refuses the head (431); no need to wait
MAX_BODY_BYTES = 64 * 1024  # the collector's body limit: a larger body gets 413 from the app
MAX_CHUNK_LINE = 1024  # a chunk-size line longer than this is malformed
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"

_EXPECT_LINE = re.compile(rb"\r\nexpect:[ \t]*100-continue[ \t]*(?=\r\n)", re.IGNORECASE)
_HEX = frozenset(b"0123456789abcdefABCDEF")
_FRAMING_HEADER = re.compile(
    rb"\r\n(content-length|transfer-encoding)[ \t]*:([^\r\n]*)", re.IGNORECASE
)


class Verdict(enum.Enum):
    WAIT = "wait"  # more bytes are needed
    READY = "ready"  # hand the bytes to a thread: whole, or for the parser to refuse
    SEND_CONTINUE = "continue"  # answer 100 Continue, then wait for the body
    # Refused here, at once, without a thread: waiting for the rest would never end well.
    HEAD_TOO_LARGE = "head_too_large"  # 431
    BODY_TOO_LARGE = "body_too_large"  # 413, however the body is framed
    MALFORMED_BODY = "malformed_body"  # 400: chunked framing that cannot be read


@dataclass
class RequestBuffer:
    data: bytearray = field(default_factory=bytearray)
    head_end: int = -1  # index just past the head's blank line, once seen
    _body: tuple[str, int] | None = None  # ("length", n) or ("chunked", 0), once the head is in

    @property
    def head_complete(self) -> bool:
        return self.head_end >= 0

    def feed(self, chunk: bytes) -> Verdict:
        """Add bytes read from the client; what to do next."""
        searched_to = len(self.data)
        self.data += chunk
        if self._body is None:
            at = self.data.find(HEAD_END, max(0, searched_to - 3))
            if at < 0:
                return Verdict.HEAD_TOO_LARGE if len(self.data) > MAX_HEAD_BYTES else Verdict.WAIT
            self.head_end = at + len(HEAD_END)
            framing = self._framing(memoryview(self.data)[: self.head_end].tobytes())
            if not isinstance(framing, tuple):
                return framing
            self._body = framing
            if self._expects_continue():
                return Verdict.SEND_CONTINUE
        return self._body_verdict()

    def _expects_continue(self) -> bool:
        """Whether the client waits for 100 Continue before its body; that line is removed,
        since the continue is answered here and the app gets the body already read."""
        if self._body == ("length", 0) or len(self.data) > self.head_end:
            return False
        head = bytes(self.data[: self.head_end])
        stripped, found = _EXPECT_LINE.subn(b"", head, count=1)
        if not found:
            return False
        self.data[: self.head_end] = stripped
        self.head_end = len(stripped)
        return True

    @staticmethod
    def _framing(head: bytes) -> tuple[str, int] | Verdict:
        """How the body is framed; or READY when the parser should judge the head (it refuses
        conflicting or unknown framing), or BODY_TOO_LARGE."""
        lengths: list[bytes] = []
        codings: list[bytes] = []
        for name, value in _FRAMING_HEADER.findall(head):  # one pass in C over the head
            if name.lower() == b"content-length":
                lengths.append(value.strip())
            else:
                codings.append(value.strip().lower())
        if codings:
            return ("chunked", 0) if codings == [b"chunked"] and not lengths else Verdict.READY
        if not lengths:
            return ("length", 0)
        if len(set(lengths)) != 1 or not lengths[0].isdigit():
            return Verdict.READY
        size = int(lengths[0]) if len(lengths[0]) <= 12 else MAX_BODY_BYTES + 1
        return Verdict.BODY_TOO_LARGE if size > MAX_BODY_BYTES else ("length", size)

    def _body_verdict(self) -> Verdict:
        kind, size = self._body or ("length", 0)
        received = len(self.data) - self.head_end
        if kind == "length":
            return Verdict.READY if received >= size else Verdict.WAIT
        return chunked_verdict(bytes(self.data[self.head_end :]))


def chunked_verdict(body: bytes) -> Verdict:
    """READY once the chunked body is whole; a refusal once it is malformed or over the
    limit (an impossible size is refused at its size line); else WAIT."""
    at, total = 0, 0
    while True:
        line_end = body.find(b"\r\n", at)
        if line_end < 0:
            return Verdict.MALFORMED_BODY if len(body) - at > MAX_CHUNK_LINE else Verdict.WAIT
        size_text = body[at:line_end].split(b";", 1)[0].strip()
        if not size_text or not set(size_text) <= _HEX:
            return Verdict.MALFORMED_BODY
        size = int(size_text, 16)
        total += size
        if total > MAX_BODY_BYTES:
            return Verdict.BODY_TOO_LARGE
        at = line_end + 2
        if size == 0:  # the last chunk; then trailer lines, then a blank line
            if body.startswith(b"\r\n", at) or body.find(b"\r\n\r\n", at - 2) >= 0:
                return Verdict.READY
            return Verdict.HEAD_TOO_LARGE if len(body) - at > MAX_HEAD_BYTES else Verdict.WAIT
        if len(body) < at + size + 2:
            return Verdict.WAIT
        if body[at + size : at + size + 2] != b"\r\n":
            return Verdict.MALFORMED_BODY  # the chunk is not followed by its CRLF
        at += size + 2
