"""Scrubbing selectors: URLs, their query parameters and hosts; the rules are ``pii.py``'s.

A URL is reduced to what the site allows (scheme, host, path, listed
parameters, a client-side route) and each part left is passed through
``pii.redact_text``, which decodes before it looks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from urllib.parse import SplitResult, parse_qsl, quote, unquote, urlencode, urlsplit

from service.privacy.ip import parse_ip
from service.privacy.pii import REDACTED, contains_pii, may_hold_pii, redact_text

_PLAIN_NETLOC = re.compile(r"^[A-Za-z0-9.-]+(?::\d{1,5})?$")
# What a host name must hold before the PII rules are asked about it: an escape, an
# at sign, six digits in a row, an entity or a character outside ASCII.
_HOST_SUSPECT = re.compile(r"%|@|&|\d{6}|[^\x00-\x7f]")


def _allowed(key: str, allowlist: Iterable[str]) -> bool:
    for pattern in allowlist:
        if pattern.endswith("*"):
            if key.startswith(pattern[:-1]):
                return True
        elif key == pattern:
            return True
    return False


def _query_key(piece: str) -> str:
    """The decoded name of one ``name=value`` piece, as ``parse_qsl`` decodes it."""
    key = piece.split("=", 1)[0]
    return unquote(key.replace("+", " ")) if "%" in key or "+" in key else key


# A piece that decoding and re-encoding leave unchanged: no '%', '+' or reserved byte.
_PLAIN_PIECE = re.compile(r"[A-Za-z0-9_.~-]+=[A-Za-z0-9_.~-]*")


def _pairs(piece: str, *, keep_blank_values: bool) -> list[tuple[str, str]]:
    if _PLAIN_PIECE.fullmatch(piece):
        key, value = piece.split("=", 1)
        return [(key, value)] if value or keep_blank_values else []
    return parse_qsl(piece, keep_blank_values=keep_blank_values)


def _kept_pieces(query: str, allowlist: Iterable[str]) -> Iterator[str]:
    """The ``name=value`` pieces whose name the site lists, still encoded.

    Names are checked before anything is decoded, so the parameters a site
    does not list (most of them) cost a split and a lookup, not a parse.
    """
    allow = tuple(allowlist)
    return (p for p in query.split("&") if p and _allowed(_query_key(p), allow))


def strip_unlisted_query_params(query: str, allowlist: Iterable[str]) -> list[tuple[str, str]]:
    """Keep only allow-listed query parameters, their values redacted."""
    return [
        (key, redact_text(value))
        for piece in _kept_pieces(query, allowlist)
        for key, value in _pairs(piece, keep_blank_values=True)
    ]


def clean_query(query: str, allowlist: Iterable[str]) -> str:
    """``urlencode(strip_unlisted_query_params(query, allowlist))``, without re-encoding
    plain pieces that have nothing to redact: encoding them again gives the same bytes."""
    out = []
    for piece in _kept_pieces(query, allowlist):
        if _PLAIN_PIECE.fullmatch(piece) and not may_hold_pii(piece):
            out.append(piece)
        elif encoded := urlencode(strip_unlisted_query_params(piece, ("*",))):
            out.append(encoded)
    return "&".join(out)


_PATH_SAFE = "/:@!$&'()*+,;=-._~[]%"


def is_ip_literal(host: str | None) -> bool:
    """Whether a URL's host is an IPv4 or IPv6 address rather than a name."""
    if not host or not (host[0].isdigit() or ":" in host or host.startswith("[")):
        return False  # a name: no need to parse
    return parse_ip(host.strip("[]")) is not None


def redact_ip_host(host: str | None) -> str | None:
    """A host name as it is; an address, which may be a visitor's own, redacted."""
    return REDACTED if is_ip_literal(host) else host


def host_holds_pii(host: str) -> bool:
    """Whether a host name (not an address) carries an e-mail or phone number: an
    escaped ``@`` (``jane%40example.org.evil.example``), a number as a label
    (``4155550132.example``)."""
    return bool(_HOST_SUSPECT.search(host)) and not is_ip_literal(host) and contains_pii(host)


def _netloc(parts: SplitResult, *, redact_ip: bool = False) -> str | None:
    """Host and port only: userinfo (``user:password@``) is dropped; a host name that
    holds PII is replaced, port and all; with ``redact_ip``, so is a host that is an IP
    address."""
    if _PLAIN_NETLOC.match(parts.netloc):  # the common case, without re-parsing
        netloc = parts.netloc.lower()
        name = netloc.rsplit(":", 1)[0]
        if redact_ip and is_ip_literal(name):
            return REDACTED
        return REDACTED if host_holds_pii(name) else netloc
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host:
        return None
    if (redact_ip and is_ip_literal(host)) or host_holds_pii(host):
        return REDACTED
    if ":" in host:
        host = f"[{host}]"
    return host if port is None else f"{host}:{port}"


def _scrub_path(path: str) -> str:
    """The path as sent, or, when it held PII, decoded, redacted and encoded again."""
    clean = redact_text(path)
    return path if clean is path else quote(clean, safe=_PATH_SAFE)


def scrub_url(
    url: str,
    allowlist: Iterable[str],
    *,
    keep_route_fragment: bool = True,
    redact_ip_host: bool = False,
) -> str | None:
    """An http(s) URL without userinfo, unlisted parameters or PII; None if not http(s).

    A fragment is kept only when it is a client-side route (``#/cart``), since
    other fragments can carry tokens (OAuth implicit flow puts them there). With
    ``redact_ip_host`` (referrers, clicked links: URLs a visitor, not the site,
    chose), a host that is an IP address is redacted too.
    """
    scrubbed = scrub_page_url(
        url, allowlist, keep_route_fragment=keep_route_fragment, redact_ip_host=redact_ip_host
    )
    return None if scrubbed is None else scrubbed[0]


def scrub_page_url(
    url: str,
    allowlist: Iterable[str],
    *,
    keep_route_fragment: bool = True,
    redact_ip_host: bool = False,
) -> tuple[str, str] | None:
    """``scrub_url`` and the scrubbed path with its route fragment (the ``path`` column),
    from one parse of the URL."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        return None
    netloc = _netloc(parts, redact_ip=redact_ip_host)
    if not netloc:
        return None
    path = _scrub_path(parts.path) or "/"  # never empty: the URL below needs no other rule
    query = clean_query(parts.query, allowlist) if parts.query else ""
    if keep_route_fragment and parts.fragment.startswith(("/", "!/")):
        path = f"{path}#{_scrub_path(parts.fragment.split('?', 1)[0])}"
    # What urlunsplit builds for an absolute path, with the fragment after the query.
    base, hash_, fragment = path.partition("#")
    clean = f"{scheme}://{netloc}{base}{'?' if query else ''}{query}{hash_}{fragment}"
    return clean, path


def query_values(url: str, prefix: str = "") -> dict[str, str]:
    """The first non-empty value of each query parameter of a URL whose name starts
    with ``prefix`` (for UTM fields); other parameters are not decoded."""
    try:
        query = urlsplit(url).query
    except ValueError:
        return {}
    out: dict[str, str] = {}
    for piece in query.split("&"):
        if not piece or not _query_key(piece).startswith(prefix):
            continue
        for key, value in _pairs(piece, keep_blank_values=False):
            out.setdefault(key, value)
    return out
