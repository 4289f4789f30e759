"""enrich: learn country, browser, OS, device, bot verdict and source, in memory.

This is the last stage that sees the raw IP and User-Agent; everything it
derives is coarse enough to store.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from service.ingest.client_facts import country
from service.ingest.event import Context, Dropped, DropReason, Event, Traits
from service.ingest.referrers import classify_source, is_spam_referrer
from service.ingest.useragent import classify_user_agent, device_from_screen
from service.privacy.pii import redact_text
from service.privacy.scrub import query_values

UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
MAX_UTM = 200


def _host(url: str | None) -> str | None:
    if not url:
        return None
    try:
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https", "android-app"):
            return None
        return parts.hostname
    except ValueError:
        return None


def utm_fields(url: str, campaign_override: str | None) -> dict[str, str]:
    values = query_values(url, "utm_") if "utm_" in url else {}
    # Redacted first, then cut: cut first, an e-mail across the limit would survive in half.
    utm = {k: redact_text(values[k])[:MAX_UTM] for k in UTM_KEYS if values.get(k)}
    if campaign_override:
        utm["utm_campaign"] = redact_text(campaign_override)[:MAX_UTM]
        utm.setdefault("utm_medium", "email")
    return utm


def enrich(event: Event, ctx: Context) -> Event | Dropped:
    """Stage: attach traits derived from the raw request; bots are marked, not dropped."""
    assert event.fields is not None
    assert event.client is not None
    assert event.site is not None
    f, client = event.fields, event.client
    ua = classify_user_agent(client.user_agent)
    device = ua.device
    if device is None and f.sw:
        device = device_from_screen(f.sw)
    referrer_host = _host(f.referrer)
    utm = utm_fields(f.url, f.utm_campaign)
    bot_reason = ua.bot_reason
    if bot_reason is None and is_spam_referrer(referrer_host, event.site.spam_referrers):
        bot_reason = DropReason.REFERRER_SPAM
    traits = Traits(
        country=country(client),
        browser=ua.browser,
        browser_version=ua.browser_version,
        os=ua.os,
        device=device,
        bot_reason=bot_reason,
        source=classify_source(referrer_host, _host(f.url), utm),
        referrer_host=referrer_host,
        utm=utm,
    )
    return event.but(traits=traits)
