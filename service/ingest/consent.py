"""resolve_consent: decide what the visitor allows (DESIGN §4), first match wins.

1. ``Sec-GPC: 1`` or ``DNT: 1`` → denied, when the site honours them.
2. The event's own ``consent`` field.
3. The site's ``default_consent``; ``implied`` under ``require_opt_in`` is denied.

Denied events stop here and leave only an aggregate count record.
"""

from __future__ import annotations

from service.ingest.event import Client, Consent, Context, Dropped, DropReason, Event, Fields
from service.sites import Site


def consent_for(fields: Fields, client: Client, site: Site) -> Consent:
    """The consent state that applies to one event, with the rule that decided it."""
    if site.honor_dnt and client.gpc:
        return Consent("denied", "gpc")
    if site.honor_dnt and client.dnt:
        return Consent("denied", "dnt")
    if fields.consent is not None:
        state, reason = fields.consent, "event"
    else:
        state, reason = site.default_consent, "site_default"
    if state == "implied" and site.require_opt_in:
        return Consent("denied", "opt_in_required")
    return Consent(state, reason)


def resolve_consent(event: Event, ctx: Context) -> Event | Dropped:
    """Stage: attach the consent state; a denied event becomes a count and nothing more."""
    assert event.fields is not None
    assert event.client is not None
    assert event.site is not None
    consent = consent_for(event.fields, event.client, event.site)
    if consent.state == "denied":
        return Dropped(
            event.index,
            DropReason.CONSENT_DENIED,
            count_record={
                "k": "d",
                "site": event.site.id,
                "date": event.client.received_at.date().isoformat(),
                "type": event.fields.type,
                "reason": consent.reason,
            },
        )
    return event.but(consent=consent)
