"""The sites file ``clearcount serve`` writes when none exists: a demo that works as it stands.

Its origins follow the address the collector binds, so the demo page records
events on whatever port ``--bind`` names; each site gets a random
``stats_token``, so the Stats API answers out of the box; and a comment
above every key says what it does, so the file documents itself. The file is
created with mode 0600, since it holds those tokens.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})  # noqa: S104 (names, not binds)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    with contextlib.suppress(ValueError):
        return ipaddress.ip_address(host).is_loopback
    return False


def _origin(host: str, port: str) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}" if port == "80" else f"http://{shown}:{port}"


def origins_for_bind(bind: str) -> tuple[str, ...]:
    """The browser Origins a page served by a collector bound to ``bind`` has.

    A loopback bind is reached as its own address and as ``localhost``; a
    wildcard one (``0.0.0.0``, ``::``, as in a container) most often from the
    same machine, through a published port, so as ``127.0.0.1`` and
    ``localhost``; any other host as itself.
    """
    host, sep, port = bind.rpartition(":")
    if not sep or not port.isdigit():
        host, port = "127.0.0.1", "8000"  # a unix socket or odd bind: the documented default
    host = host.strip("[]").lower()
    if host in WILDCARD_HOSTS:
        hosts = ["127.0.0.1", "localhost"]
    elif _is_loopback(host):
        hosts = [host, "localhost"] if host != "localhost" else ["localhost", "127.0.0.1"]
    else:
        hosts = [host]
    return tuple(dict.fromkeys(_origin(h, port) for h in hosts))


def public_url(public: str, bind: str) -> str:
    """The collector's address for absolute URLs: ``public`` (``--public-url``) if set, else
    the first Origin of the bind; never a request's ``Host``, which any client chooses."""
    return public.rstrip("/") or origins_for_bind(bind)[0]


def is_local_url(url: str) -> bool:
    """True when ``url``'s host is this machine (loopback or ``localhost``)."""
    host = urlsplit(url).hostname or ""
    return _is_loopback(host.lower())


def _toml_list(values: tuple[str, ...]) -> str:
    return "[" + ", ".join(f'"{v}"' for v in values) + "]"


def demo_sites_toml(bind: str, new_token: Callable[[], str] = secrets.token_urlsafe) -> str:
    """The demo sites file for a collector bound to ``bind``; one fresh token per site."""
    return f"""\
# Written by `clearcount serve` because no sites file existed. Edit freely; the
# collector reads it at start. It holds each site's stats_token: keep it private
# (mode 0600). Every key is described in the README, under Configuration.

# The site the demo page (/demo) and `clearcount demo` send to.
[sites.demo]
# Browser Origins allowed to post events; others get 403 (and a warning in the log).
# Derived from the address the collector was first started on: add yours here.
origins = {_toml_list(origins_for_bind(bind))}
# Hosts the click redirect /r may send a visitor to (exact match).
redirect_hosts = ["example.com", "www.example.com"]
# Consent when the page states none: "implied" (count without identifying) or "denied".
default_consent = "implied"
# true: "implied" counts as "denied" (opt-in regimes).
require_opt_in = false
# DNT: 1 and Sec-GPC: 1 on a request mean "denied".
honor_dnt = true
# Query parameters kept in stored URLs; every other one is removed. "prefix*" allowed.
query_allowlist = [
    "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "ref", "q",
]
# Days events are kept.
retention_days = 395
# Days a granted visitor's pseudonyms (visitor_key, user_key, ip_prefix) are kept.
pseudonym_days = 90
# The smallest count a report or the Stats API shows; smaller ones are withheld.
k = 5
# The consent policy version stamped on every stored row.
policy_version = "1"
# Behaviour maps (clicks, cursor hovers, scroll), from a second script the beacon loads;
# stored only under implied or granted consent.
heatmaps = true
# Web vitals (LCP, INP, CLS, FCP, TTFB) from the same script, under the same consent.
vitals = true
# true: the dashboard's heatmap shows the page itself beneath the map, in a sandboxed frame
# (the site's pages must allow being framed by this collector's origin).
heatmap_frame = false
# Bearer token of the Stats API for this site: Authorization: Bearer <stats_token>.
stats_token = "{new_token()}"
# Goals: a page view of a path ("*" for any characters) or a custom event, by name.
goals = [
    {{ name = "Pricing", page = "/pricing" }},
    {{ name = "Docs", page = "/docs/*" }},
    {{ name = "Signup", event = "signup" }},
    {{ name = "Add to cart", event = "add-to-cart" }},
]
# Funnels: 2 to 8 goals a visitor reaches in this order within one visit.
funnels = [
    {{ name = "Pricing to signup", steps = ["Pricing", "Signup"] }},
]

# A blog whose pages are elsewhere; only its own Origin may post.
[sites.blog]
origins = ["https://blog.example"]
redirect_hosts = ["blog.example"]
stats_token = "{new_token()}"

# An opt-in site: nothing identifying is stored until a visitor grants consent.
[sites.docs]
origins = ["https://docs.example"]
redirect_hosts = ["docs.example"]
default_consent = "denied"
stats_token = "{new_token()}"
"""


def ensure_sites_file(path: Path, bind: str) -> bool:
    """Write the demo sites file (mode 0600) when none exists; True when it was written.

    The file is written aside and linked into place, so a second process
    starting at the same moment sees either no file or the whole of one.
    """
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    aside = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(demo_sites_toml(bind))
        os.link(aside, path)
    except FileExistsError:
        return False
    finally:
        aside.unlink(missing_ok=True)
    return True
