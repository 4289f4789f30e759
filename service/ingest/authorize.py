"""authorize: the event names a configured site, and the browser's Origin is one of its own."""

from __future__ import annotations

from service.ingest.event import Context, Dropped, DropReason, Event


def authorize(event: Event, ctx: Context) -> Event | Dropped:
    """Stage: unknown sites and foreign Origins stop here (403 when nothing else passes)."""
    assert event.fields is not None
    assert event.client is not None
    site = ctx.sites.get(event.fields.site)
    if site is None:
        return Dropped(event.index, DropReason.UNKNOWN_SITE, {"site": ["unknown site"]})
    origin = event.client.origin
    if origin is not None and not site.allows_origin(origin):
        return Dropped(
            event.index,
            DropReason.ORIGIN_NOT_ALLOWED,
            {"_origin": ["this Origin may not send events for the site"]},
        )
    return event.but(site=site)
