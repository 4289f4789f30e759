"""Referrer host → medium, from Snowplow's referer-parser database (``service/data/``).

The database lists some 2,500 hosts under the medium their traffic has:
search engines in every country, social networks and their Android apps
(``com.facebook.katana``), webmail, paid-media and chatbot hosts, and hosts
whose medium is known to be none of those (``support.google.com``). A host
matches itself or any of its parent domains, the longest match winning, so
``go.mail.ru`` is the search engine it is although ``mail.ru`` is webmail.
Entries that name a path as well (``bing.com/images/search``) are left out:
the collector classifies by host, and their hosts are listed on their own.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Final

from service.ingest.yaml_data import load_yaml

DATA = Path(__file__).resolve().parents[1] / "data" / "referers.yml"
# referer-parser's media, as clearcount's sources: what is not search, social or e-mail
# traffic (paid media, chatbots, known hosts of no such medium) is a referral.
SOURCE_OF_MEDIUM: Final = {"search": "search", "social": "social", "email": "email"}


@functools.cache
def _media() -> dict[str, str]:
    doc = load_yaml(DATA.read_text(encoding="utf-8"))
    media: dict[str, str] = {}
    for medium, providers in doc.items():
        for provider in providers.values():
            for domain in provider.get("domains", ()):
                if "/" not in domain:
                    media.setdefault(domain.lower(), medium)
    return media


def medium_of(host: str) -> str | None:
    """The database's medium for ``host`` or its nearest listed parent domain, or None."""
    media = _media()
    labels = host.lower().rstrip(".").split(".")
    for i in range(len(labels) - 1):
        medium = media.get(".".join(labels[i:]))
        if medium is not None:
            return medium
    return None


def source_of(host: str) -> str | None:
    """search, social, email or referral when the database knows the host; else None."""
    medium = medium_of(host)
    return None if medium is None else SOURCE_OF_MEDIUM.get(medium, "referral")
