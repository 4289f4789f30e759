"""Mail clients, and mail providers' image proxies, by their User-Agent.

An e-mail open is a mail client fetching the pixel: Outlook, Apple Mail and
Thunderbird with their own User-Agents, or Gmail's, Yahoo's and other
providers' image proxies fetching on the reader's behalf. Bot lists flag the
proxies as crawlers, and generic rules flag the clients' unusual
User-Agents; DESIGN §5 says they are not bots, so they are recognised here
first. The patterns are Matomo device-detector's own, read from the
``device-detector`` package: its mail-client ("PIM") rules, and the entries of
its bot list that are mail image proxies, compiled with the ``regex`` module
as device-detector's Python port does (its patterns are written for PCRE).
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any, Final

import regex

from service.ingest.yaml_data import load_yaml

# device-detector matches its client patterns case-insensitively after a word boundary of
# its own making; the same prefix keeps its patterns meaning what they mean there.
_BOUNDARY: Final = r"(?:^|[^A-Z0-9_-]|[^A-Z0-9-]_|sprd-|MZ-)"
_PROXY_NAME: Final = regex.compile(r"(?:mail|image|email) proxy", regex.IGNORECASE)


def _rules(path: str) -> list[dict[str, Any]]:
    text = (resources.files("device_detector") / "regexes" / "upstream" / path).read_text("utf-8")
    rules: list[dict[str, Any]] = load_yaml(text)
    return rules


def _load() -> tuple[regex.Pattern[str], tuple[tuple[regex.Pattern[str], str], ...]]:
    """A cheap pre-check (every pattern, no boundary) and the patterns as device-detector
    applies them, each with its client's name."""
    clients = [(r["regex"], str(r["name"])) for r in _rules("client/pim.yml")]
    proxies = [
        (r["regex"], str(r["name"]))
        for r in _rules("bots.yml")
        if _PROXY_NAME.search(str(r.get("name", "")))
    ]
    rules = clients + proxies
    any_rule = regex.compile("|".join(f"(?:{p})" for p, _ in rules), regex.IGNORECASE)
    exact = tuple(
        (regex.compile(_BOUNDARY + "(?:" + p + ")", regex.IGNORECASE), name) for p, name in rules
    )
    return any_rule, exact


# Read once per process, at import (about half a second, mostly device-detector's bot
# list), so that no request pays for it.
_ANY_RULE, _RULES = _load()


@functools.lru_cache(maxsize=8192)
def mail_client(user_agent: str) -> str | None:
    """The mail client's or image proxy's name, or None for anything else."""
    if not _ANY_RULE.search(user_agent):
        return None
    for pattern, name in _RULES:
        if pattern.search(user_agent):
            return name
    return None
