"""A warning in the log when a site's page posts from an Origin the site does not list.

The usual cause is a sites file that names another port or host than the page
is served from: every beacon POST then gets a 403 the page never shows. The
warning names the site and the refused Origin, so the operator knows what to
add. It says nothing of the visitor, and it names the Origin only when that is
a plain ``scheme://host[:port]`` whose host is a name or a loopback address:
an Origin header is client-supplied text, and a public IP literal is as good
as a client address. Each (site, Origin) is warned about once per worker, and
only so many distinct ones, so a hostile client cannot flood the log.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import re
import threading
from collections.abc import Iterable

log = logging.getLogger("clearcount.http")

MAX_WARNINGS = 100
_ORIGIN = re.compile(r"^https?://(\[[0-9a-f:.]+\]|[a-z0-9.-]{1,253})(:\d{1,5})?$")

_warned: set[tuple[str, str]] = set()
_lock = threading.Lock()


def shown_origin(origin: str) -> str:
    """The Origin as it may appear in the log, or a description of it when it may not."""
    match = _ORIGIN.match(origin.lower())
    if match is None:
        return "(not a plain origin)"
    host = match.group(1).strip("[]")
    with contextlib.suppress(ValueError):
        if not ipaddress.ip_address(host).is_loopback:
            return "(an IP address)"
    return origin.lower()


def warn_refused_origin(sites: Iterable[str], origin: str | None) -> None:
    """Log, once per site and Origin, that the site's ``origins`` do not list ``origin``."""
    if origin is None:
        return
    shown = shown_origin(origin)
    for site in sites:
        with _lock:
            if (site, shown) in _warned or len(_warned) >= MAX_WARNINGS:
                continue
            _warned.add((site, shown))
        log.warning(
            "origin refused: not in the site's origins in the sites file",
            extra={"site": site, "origin": shown},
        )
