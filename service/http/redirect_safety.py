"""Which redirect targets ``/r`` may send a browser to: never an open redirect."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

_UNSAFE_CHARS = re.compile(r"[\\\s\x00-\x1f\x7f]")


def safe_redirect_target(to: str, allowed_hosts: Iterable[str]) -> str | None:
    """``to`` itself when it is an absolute http(s) URL on an allowed host, else None.

    Refused: scheme-relative ``//host``, backslashes (browsers read ``\\`` as
    ``/``), whitespace and control characters, userinfo (``allowed@evil``),
    other schemes, hosts that merely end with an allowed name, and hosts no
    Location header can carry (empty labels, names IDNA cannot encode).
    """
    if not to or _UNSAFE_CHARS.search(to):
        return None
    scheme, sep, rest = to.partition(":")
    if not sep or scheme.lower() not in ("http", "https") or not rest.startswith("//"):
        return None
    try:
        parts = urlsplit(to)
        host = parts.hostname
        parts.port  # noqa: B018  raises on a malformed port
    except ValueError:
        return None
    if not host or parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return None
    if ".." in host or host.startswith("."):
        return None  # an empty label: no such host, and no Location header can name it
    host = host.removesuffix(".")
    try:
        host.encode("idna")
    except UnicodeError:
        return None
    if host not in {h.lower().rstrip(".") for h in allowed_hosts}:
        return None
    return to
