"""Goals and funnels of a site, from ``sites.toml``.

A goal is reached by a page view of a path (``page``, where ``*`` stands for
any characters: ``/docs/*``) or by a custom event of a name (``event``). A
funnel is 2 to 8 goals, by name, that a visitor reaches in that order within
one visit. The metrics layer counts them (``pipelines/analysis/metrics/goals.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MIN_STEPS, MAX_STEPS = 2, 8


class GoalsError(ValueError):
    """A goal or funnel that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class Goal:
    name: str
    page: str | None = None  # a path, "*" for any characters
    event: str | None = None  # a custom event's name

    @property
    def like_pattern(self) -> str:
        """``page`` as a SQL LIKE pattern with ``\\`` as its escape character."""
        escaped = (self.page or "").replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return escaped.replace("*", "%")


@dataclass(frozen=True)
class Funnel:
    name: str
    steps: tuple[str, ...]  # goal names, in order


def parse_goals(where: str, value: Any) -> tuple[Goal, ...]:
    if not isinstance(value, list):
        raise GoalsError(f"{where}: goals must be a list of tables")
    goals = []
    for item in value:
        if not isinstance(item, Mapping) or set(item) - {"name", "page", "event"}:
            raise GoalsError(
                f"{where}: a goal is {{ name = ..., page = ... }} or {{ name, event }}"
            )
        name, page, event = item.get("name"), item.get("page"), item.get("event")
        if not isinstance(name, str) or not name.strip():
            raise GoalsError(f"{where}: every goal needs a name")
        if (page is None) == (event is None):
            raise GoalsError(f"{where}: goal {name!r} needs exactly one of page or event")
        if page is not None and (not isinstance(page, str) or not page.startswith("/")):
            raise GoalsError(f"{where}: goal {name!r}: page is a path starting with /")
        if event is not None and (not isinstance(event, str) or not event):
            raise GoalsError(f"{where}: goal {name!r}: event is a custom event's name")
        goals.append(Goal(name=name, page=page, event=event))
    names = [g.name for g in goals]
    if len(set(names)) != len(names):
        raise GoalsError(f"{where}: goal names must be unique")
    return tuple(goals)


def parse_funnels(where: str, value: Any, goals: Sequence[Goal]) -> tuple[Funnel, ...]:
    if not isinstance(value, list):
        raise GoalsError(f"{where}: funnels must be a list of tables")
    known = {g.name for g in goals}
    funnels = []
    for item in value:
        if not isinstance(item, Mapping) or set(item) - {"name", "steps"}:
            raise GoalsError(f"{where}: a funnel is {{ name = ..., steps = [goal names] }}")
        name, steps = item.get("name"), item.get("steps")
        if not isinstance(name, str) or not name.strip():
            raise GoalsError(f"{where}: every funnel needs a name")
        if not isinstance(steps, list) or not MIN_STEPS <= len(steps) <= MAX_STEPS:
            raise GoalsError(f"{where}: funnel {name!r} has {MIN_STEPS} to {MAX_STEPS} steps")
        unknown = [s for s in steps if s not in known]
        if unknown:
            raise GoalsError(f"{where}: funnel {name!r}: no goal named {unknown[0]!r}")
        funnels.append(Funnel(name=name, steps=tuple(steps)))
    return tuple(funnels)
