"""Every metric clearcount publishes, defined once: its name, unit, definition and SQL.

The report, the Stats API and the notebooks build their queries from these
(``query.py``); none writes its own aggregate. The README's metrics page is
written from the same definitions, and ``tests/unit/test_metrics_truth.py``
holds each one against traffic whose true values are known.

A metric is an aggregate over one of two relations of ``visits.sql``:
``period_events`` (the period's events, e-mail opens aside) or
``period_visits`` (visits that start in the period). Some metrics are
defined over both, for the two kinds of question: the site's visitors in the
period are the distinct pseudonyms of its events; the visitors of a source
are the distinct pseudonyms of the visits that entered through it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

Relation = Literal["events", "visits"]


@dataclass(frozen=True)
class Metric:
    name: str
    unit: str
    definition: str
    events_sql: str | None  # over period_events; None: not an event-level metric
    visits_sql: str  # over period_visits
    count: bool = True  # a count (suppressed below k), or a rate or mean of counts
    # a percentage of two published counts (numerator, denominator): what lets a sum of
    # rows (several sites) work the rate out again
    share_of: tuple[str, str] | None = None
    # the event-level metric over the sessions rollup's rows (``rollup.py``), whose
    # ``views`` are the page views a row stands for; a visit-level metric reads the
    # rollup's visits with its ``visits_sql`` unchanged
    rollup_sql: str | None = None


METRICS: Final = {
    m.name: m
    for m in (
        Metric(
            "visitors",
            "visitors",
            "Distinct visitors: distinct pseudonyms (`visitor_key`) among the period's events "
            "(e-mail opens aside). In a breakdown by a visit's property, the distinct "
            "pseudonyms of the visits with that value.",
            "count(DISTINCT visitor_key)",
            "count(DISTINCT visitor_key)",
            rollup_sql="count(DISTINCT visitor_key)",
        ),
        Metric(
            "visits",
            "visits",
            "A visitor's events with no gap over 30 minutes form one visit, counted on the "
            "(UTC) day it starts, even when it runs past midnight.",
            None,
            "count(*)",
        ),
        Metric(
            "pageviews",
            "page views",
            "`pageview` events, each on the day it happened. In a breakdown by a visit's "
            "property, the page views of those visits.",
            "count(*) FILTER (WHERE type = 'pageview')",
            "sum(pageviews)",
            rollup_sql="coalesce(sum(views), 0)::BIGINT",
        ),
        Metric(
            "views_per_visit",
            "page views per visit",
            "Page views of the visits / visits, to two decimals.",
            None,
            "round(sum(pageviews) / nullif(count(*), 0), 2)",
            count=False,
        ),
        Metric(
            "bounce_rate",
            "% of visits",
            "Visits with exactly one page view and no `click` or `custom` event, "
            "as a percentage of visits, to one decimal.",
            None,
            "round(100.0 * count(*) FILTER (WHERE pageviews = 1 AND interactions = 0)"
            " / nullif(count(*), 0), 1)",
            count=False,
        ),
        Metric(
            "visit_duration",
            "seconds",
            "Mean over visits of the time from the visit's first event to its last "
            "(engagement events included), to one decimal; a one-event visit lasts 0 s.",
            None,
            "round(avg(duration_s), 1)",
            count=False,
        ),
    )
}
AGGREGATE_METRICS: Final = tuple(METRICS)

# Properties of a visit: taken from its entry (first page view) or its first event.
VISIT_DIMENSIONS: Final = (
    "source",
    "referrer_host",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "entry_path",
    "exit_path",
    "country",
    "browser",
    "os",
    "device",
)
# Properties of a page view.
PAGE_DIMENSIONS: Final = ("path",)
DIMENSIONS: Final = VISIT_DIMENSIONS + PAGE_DIMENSIONS
# Metrics a breakdown by a page property can answer: a page view belongs to one page,
# a visit to many.
PAGE_METRICS: Final = ("visitors", "pageviews")

# E-mail campaigns: each reader (pseudonym) once per campaign. An open is the pixel fetched
# with the campaign (``c=``); a click is ``/r`` followed with it. Read from the events of
# the period with a campaign, opens included, through ``query.email_campaigns_sql``.
EMAIL_METRICS: Final = {
    m.name: m
    for m in (
        Metric(
            "opens",
            "readers",
            "Distinct pseudonyms that fetched the campaign's pixel: each reader counts once "
            "per campaign, however often the message is opened.",
            None,
            "count(*) FILTER (WHERE opened)",
        ),
        Metric(
            "clicks",
            "readers",
            "Distinct pseudonyms that followed one of the campaign's `/r` links, once per "
            "campaign.",
            None,
            "count(*) FILTER (WHERE clicked)",
        ),
        Metric(
            "openers_who_clicked",
            "readers",
            "Distinct pseudonyms that both fetched the pixel and followed a link of the "
            "campaign: the numerator of click-to-open.",
            None,
            "count(*) FILTER (WHERE opened AND clicked)",
        ),
        Metric(
            "click_to_open",
            "% of openers",
            "`openers_who_clicked` / `opens`, as a percentage to one decimal: never over "
            "100 %. A click counts when it carries the pseudonym of the open, which under "
            "implied consent means the same address and User-Agent on the same day.",
            None,
            "round(100.0 * count(*) FILTER (WHERE opened AND clicked)"
            " / nullif(count(*) FILTER (WHERE opened), 0), 1)",
            count=False,
            share_of=("openers_who_clicked", "opens"),
        ),
    )
}
