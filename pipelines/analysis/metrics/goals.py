"""Goals and funnels of a site: conversions, conversion rate, and funnel steps.

Definitions (also on the README's metrics page):

* a goal is completed by each page view of its page (``*`` for any
  characters) or custom event of its name; ``visitors`` are the distinct
  pseudonyms that completed it in the period, ``conversions`` the completing
  events, ``conversion_rate`` the goal's visitors as a % of all the period's
  visitors;
* a funnel step is reached by the visits (starting in the period) that
  completed its goal after reaching every step before it, in that order,
  within the visit; each step says its ``visits``, their ``visitors``, the
  ``drop_off`` from the step before and its ``conversion_rate`` (% of the
  first step's visits).

Goal patterns and names are bound parameters; the SQL names goals only by
their place in the site's list.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from pipelines.analysis.metrics.query import VISITS_SQL
from service.site_goals import Funnel, Goal

GOAL_METRICS: Final = ("visitors", "conversions", "conversion_rate")
STEP_METRICS: Final = ("visits", "visitors", "drop_off", "conversion_rate")


def goal_params(goals: Sequence[Goal]) -> dict[str, Any]:
    """``$g0``, ``$g1``, …: each goal's LIKE pattern or event name."""
    return {f"g{i}": g.like_pattern if g.page is not None else g.event for i, g in enumerate(goals)}


def _hits(goals: Sequence[Goal]) -> str:
    """Every completion of every goal: the visit it belongs to, its place, the goal's index."""
    parts = []
    for i, goal in enumerate(goals):
        condition = (
            f"type = 'pageview' AND path LIKE $g{i} ESCAPE '\\'"
            if goal.page is not None
            else f"type = 'custom' AND name = $g{i}"
        )
        parts.append(
            f"SELECT visitor_key, visit_no, seq, date, {i} AS goal FROM numbered WHERE {condition}"
        )
    return "\nUNION ALL\n".join(parts)


def goals_sql(goals: Sequence[Goal]) -> str:
    """A row per goal, in the site's order (``goal`` = its index): visitors, conversions,
    conversion rate. Goals nobody reached have a row of zeros."""
    if not goals:
        raise ValueError("a site without goals has no goals query")
    indexes = ", ".join(f"({i})" for i in range(len(goals)))
    return f"""{VISITS_SQL.rstrip()},
goal_hits AS (
{_hits(goals)}
),
everyone AS (SELECT count(DISTINCT visitor_key) AS visitors FROM period_events),
reached AS (
    SELECT goal, count(DISTINCT visitor_key) AS visitors, count(*) AS conversions
    FROM goal_hits WHERE date BETWEEN $date_from AND $date_to
    GROUP BY goal
)
SELECT g.goal, coalesce(r.visitors, 0) AS visitors, coalesce(r.conversions, 0) AS conversions,
       round(100.0 * coalesce(r.visitors, 0) / nullif(e.visitors, 0), 1) AS conversion_rate
FROM (VALUES {indexes}) g(goal)
LEFT JOIN reached r ON r.goal = g.goal
CROSS JOIN everyone e
ORDER BY g.goal"""


def funnel_sql(funnel: Funnel, goals: Sequence[Goal]) -> str:
    """A row per step: visits that reached it in order within the visit, their visitors,
    the drop-off from the step before, and the % of the first step's visits."""
    index = {g.name: i for i, g in enumerate(goals)}
    steps = []
    for n, name in enumerate(funnel.steps, start=1):
        if n == 1:
            steps.append(
                f"s1 AS (SELECT h.visitor_key, h.visit_no, min(h.seq) AS at FROM goal_hits h\n"
                f"       JOIN period_visits v ON v.visitor_key = h.visitor_key"
                f" AND v.visit_no = h.visit_no\n"
                f"       WHERE h.goal = {index[name]} GROUP BY h.visitor_key, h.visit_no)"
            )
        else:
            steps.append(
                f"s{n} AS (SELECT h.visitor_key, h.visit_no, min(h.seq) AS at FROM goal_hits h\n"
                f"       JOIN s{n - 1} p ON p.visitor_key = h.visitor_key"
                f" AND p.visit_no = h.visit_no\n"
                f"       WHERE h.goal = {index[name]} AND h.seq > p.at"
                f" GROUP BY h.visitor_key, h.visit_no)"
            )
    chained = ",\n".join(steps)
    counts = "\nUNION ALL\n".join(
        f"SELECT {n} AS step, count(*) AS visits, count(DISTINCT visitor_key) AS visitors FROM s{n}"
        for n in range(1, len(funnel.steps) + 1)
    )
    return f"""{VISITS_SQL.rstrip()},
goal_hits AS (
{_hits(goals)}
),
{chained},
counts AS (
{counts}
)
SELECT step, visits, visitors,
       coalesce(lag(visits) OVER (ORDER BY step) - visits, 0) AS drop_off,
       round(100.0 * visits / nullif(first_value(visits) OVER (ORDER BY step), 0), 1)
           AS conversion_rate
FROM counts
ORDER BY step"""
