"""Where a visit came from: search, social, email, referral or direct.

UTM tags win over the referrer (a campaign link says more than the page it
was clicked on); a referrer from the site itself counts as direct, as in
Plausible, so internal navigation never inflates referral traffic.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

from service.ingest.referrer_hosts import source_of

SEARCH = (
    "google.",
    "bing.com",
    "duckduckgo.com",
    "search.yahoo.",
    "yahoo.com",
    "yandex.",
    "baidu.com",
    "ecosia.org",
    "qwant.com",
    "startpage.com",
    "search.brave.com",
    "ask.com",
    "naver.com",
    "seznam.cz",
    "kagi.com",
    "perplexity.ai",
    "sogou.com",
    "so.com",
    "daum.net",
)
SOCIAL = (
    "facebook.com",
    "fb.com",
    "fb.me",
    "instagram.com",
    "t.co",
    "twitter.com",
    "x.com",
    "linkedin.com",
    "lnkd.in",
    "reddit.com",
    "pinterest.",
    "youtube.com",
    "youtu.be",
    "tiktok.com",
    "news.ycombinator.com",
    "mastodon.social",
    "threads.net",
    "bsky.app",
    "vk.com",
    "weibo.com",
    "tumblr.com",
    "quora.com",
    "discord.com",
    "telegram.org",
    "t.me",
    "whatsapp.com",
    "snapchat.com",
)
EMAIL = (
    "mail.google.com",
    "outlook.live.com",
    "outlook.office.com",
    "outlook.office365.com",
    "mail.yahoo.com",
    "mail.proton.me",
    "mail.aol.com",
    "mail.yandex.",
    "webmail.",
    "mail.",
)
EMAIL_MEDIUMS = frozenset({"email", "e-mail", "newsletter", "mail"})
SOCIAL_MEDIUMS = frozenset({"social", "social-media", "social_media", "sm"})
SEARCH_MEDIUMS = frozenset({"cpc", "ppc", "paid_search", "paidsearch", "organic", "search"})


class _HostSet:
    """``example.com`` matches it and its subdomains; ``google.`` matches the brand on any TLD."""

    def __init__(self, patterns: tuple[str, ...]) -> None:
        self.domains = frozenset(p for p in patterns if not p.endswith("."))
        self.brands = tuple(p for p in patterns if p.endswith("."))

    def __contains__(self, host: str) -> bool:
        labels = host.split(".")
        for i in range(len(labels) - 1):
            if ".".join(labels[i:]) in self.domains:
                return True
        return any(host.startswith(b) or f".{b}" in host for b in self.brands)


_SEARCH, _SOCIAL, _EMAIL = _HostSet(SEARCH), _HostSet(SOCIAL), _HostSet(EMAIL)


def _strip_www(host: str) -> str:
    return host[4:] if host.startswith("www.") else host


def classify_source(
    referrer_host: str | None, page_host: str | None, utm: Mapping[str, str]
) -> str:
    """One of search, social, email, referral, direct."""
    medium = utm.get("utm_medium", "").lower()
    if medium in EMAIL_MEDIUMS:
        return "email"
    if medium in SOCIAL_MEDIUMS:
        return "social"
    if medium in SEARCH_MEDIUMS:
        return "search"
    if not referrer_host:
        return "email" if utm.get("utm_source", "").lower() in EMAIL_MEDIUMS else "direct"
    return _classify_host(referrer_host, page_host)


@functools.lru_cache(maxsize=8192)
def _classify_host(referrer_host: str, page_host: str | None) -> str:
    """By host alone: cached, since a site sees few distinct referrer hosts.

    Snowplow's referer-parser database decides first; the short lists above
    cover only hosts it does not list (newer networks, search engines).
    """
    host = _strip_www(referrer_host)
    if page_host and host == _strip_www(page_host):
        return "direct"
    known = source_of(referrer_host)
    if known is not None:
        return known
    if host in _EMAIL:
        return "email"
    if host in _SEARCH:
        return "search"
    if host in _SOCIAL:
        return "social"
    return "referral"


def is_spam_referrer(referrer_host: str | None, spam_hosts: tuple[str, ...]) -> bool:
    """True when the referrer is, or is below, one of the site's listed spam hosts."""
    if not referrer_host or not spam_hosts:
        return False
    host = _strip_www(referrer_host)
    return any(host == s or host.endswith("." + s) for s in spam_hosts)
