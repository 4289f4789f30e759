"""The values that travel between pipeline stages.

``Client`` and ``Fields`` hold raw, identifying data and live only in memory;
``minimize`` turns an event into a ``row`` with nothing raw left, and only
rows (and aggregate counts) ever reach the spool.

The per-event values are plain slotted dataclasses, not frozen ones: a frozen
dataclass sets each field through ``object.__setattr__``, which makes
building one 4-5x dearer, and every event builds several at every stage.
Stages still treat them as values: they return new ones and never assign.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from service.privacy.keys import KeyStore
    from service.privacy.tombstones import Tombstones
    from service.settings import Settings
    from service.sites import Site

EVENT_TYPES = ("pageview", "click", "scroll", "engagement", "custom")
# Types only the collector itself creates (the pixel records e-mail opens).
INTERNAL_TYPES = ("open",)


class DropReason(StrEnum):
    """Why an event did not become a row of ``events``; the same strings appear in
    logs, metrics labels, the quarantine's ``drop_reason`` and the tests."""

    INVALID = "invalid"
    UNKNOWN_SITE = "unknown_site"
    ORIGIN_NOT_ALLOWED = "origin_not_allowed"
    CONSENT_DENIED = "consent_denied"
    BOT = "bot"
    HEADLESS = "headless"
    AUTOMATION = "automation"
    AI_AGENT = "ai_agent"
    MONITOR = "monitor"
    REFERRER_SPAM = "referrer_spam"
    RATE_LIMITED = "rate_limited"
    OVERSIZE = "oversize"
    SPOOL_UNAVAILABLE = "spool_unavailable"
    ERASED = "erased"


QUARANTINE_REASONS = frozenset(
    {
        DropReason.BOT,
        DropReason.HEADLESS,
        DropReason.AUTOMATION,
        DropReason.AI_AGENT,
        DropReason.MONITOR,
        DropReason.REFERRER_SPAM,
    }
)


@dataclass(frozen=True, slots=True)
class Client:
    """What the request says about its sender. Raw: never stored, never logged.

    ``memo`` holds values derived from the raw IP and User-Agent (country,
    prefixes, daily keys) so a batch computes them once; it lives exactly as
    long as the request does.
    """

    ip: str
    user_agent: str
    received_at: dt.datetime
    dnt: bool = False
    gpc: bool = False
    origin: str | None = None
    memo: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(slots=True)
class Target:
    tag: str | None = None
    id: str | None = None
    classes: str | None = None
    href: str | None = None
    text: str | None = None


@dataclass(slots=True)
class Fields:
    """A validated event payload, still raw (ids and URLs untouched)."""

    site: str
    type: str
    url: str
    referrer: str | None = None
    ts: int | None = None
    consent: str | None = None
    visitor_id: str | None = None
    user_id: str | None = None
    name: str | None = None
    props: Mapping[str, Any] | None = None
    target: Target | None = None
    depth: int | None = None
    engaged_ms: int | None = None
    sw: int | None = None
    sh: int | None = None
    # Behaviour fields (DESIGN §9): click position and element, hover grid, web vitals.
    x: int | None = None
    y: int | None = None
    vw: int | None = None
    selector: str | None = None
    rage: bool | None = None
    dead: bool | None = None
    hover: list[list[int]] | None = None
    vitals: Mapping[str, Any] | None = None
    utm_campaign: str | None = None  # set by the pixel and /r from their ``c`` parameter


@dataclass(slots=True)
class Consent:
    state: str  # denied | implied | granted
    reason: str  # gpc | dnt | event | site_default | opt_in_required


@dataclass(slots=True)
class Traits:
    """What enrichment learned from the raw IP, User-Agent and URLs."""

    country: str | None
    browser: str | None
    browser_version: str | None
    os: str | None
    device: str | None
    bot_reason: DropReason | None
    source: str
    referrer_host: str | None
    utm: Mapping[str, str]


@dataclass(slots=True)
class Event:
    """One event on its way through the stages; later stages fill later fields."""

    index: int
    client: Client | None
    raw: Any = None
    fields: Fields | None = None
    site: Site | None = None
    consent: Consent | None = None
    traits: Traits | None = None
    row: Mapping[str, Any] | None = None
    table: str = "events"

    def but(self, **changes: Any) -> Event:
        """A copy with some fields changed; ``dataclasses.replace`` is 5x slower here."""
        get = changes.get
        return Event(
            get("index", self.index),
            get("client", self.client),
            get("raw", self.raw),
            get("fields", self.fields),
            get("site", self.site),
            get("consent", self.consent),
            get("traits", self.traits),
            get("row", self.row),
            get("table", self.table),
        )


@dataclass(slots=True)
class Dropped:
    """An event that stops here, with a typed reason; not an error."""

    index: int
    reason: DropReason
    errors: Mapping[str, Any] | None = None
    # For consent_denied: the aggregate count record, which holds no identifier.
    count_record: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Context:
    """Everything stages may use; they never reach for globals or the environment."""

    settings: Settings
    sites: Mapping[str, Site]
    keys: KeyStore
    clock: Callable[[], dt.datetime]
    tombstones: Tombstones | None = None  # erased pseudonyms whose late events are dropped
