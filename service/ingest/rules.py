"""The event payload's rules, written once as data.

Both validators are built from this table: the marshmallow schema (the
authority, which words every error) and a cheap first pass that accepts the
common well-formed event without marshmallow's per-field machinery. The cheap
pass never rejects: when anything is unusual it defers to marshmallow, so the
two cannot disagree on what is valid (a Hypothesis test holds them to it).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from service.ingest.event import EVENT_TYPES

MAX_URL = 2048
MAX_PROPS = 20
MAX_PROP_KEY = 40
MAX_PROP_VALUE = 500


class RuleError(ValueError):
    """A value breaks a field's rule; the message is shown to the client."""


def http_url(value: str) -> None:
    try:
        parts = urlsplit(value)
        ok = parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
    except ValueError:
        ok = False
    if not ok:
        raise RuleError("must be an absolute http(s) URL")


def referrer_url(value: str) -> None:
    if value == "":
        return
    scheme = value.split(":", 1)[0].strip().lower()
    if scheme in ("javascript", "data", "vbscript", "file"):
        raise RuleError(f"{scheme}: URLs are not accepted")


def flat_props(value: Mapping[str, Any]) -> None:
    """A flat object of scalars. A key is the client's text (it may be an e-mail address,
    or markup): a message names the key's position, never the key."""
    if len(value) > MAX_PROPS:
        raise RuleError(f"at most {MAX_PROPS} keys")
    for position, (key, item) in enumerate(value.items()):
        where = f"the value at key position {position}"
        if not isinstance(key, str) or not 0 < len(key) <= MAX_PROP_KEY:
            raise RuleError(f"the key at position {position} is not 1-{MAX_PROP_KEY} characters")
        if isinstance(item, str):
            if len(item) > MAX_PROP_VALUE:
                raise RuleError(f"{where}: strings are at most {MAX_PROP_VALUE} characters")
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise RuleError(f"{where}: numbers must be finite")
        elif item is not None and not isinstance(item, (bool, int)):
            raise RuleError(f"{where}: values must be strings, numbers, booleans or null")


# Behaviour fields (DESIGN §9). The hover grid: 20 columns over the document's width, rows of
# 100 px from its top, each cell [col, row, ms] once; a page view's grid of a long visit stays
# well below the cap, which bounds what one event can make the collector store.
GRID_COLUMNS = 20
GRID_ROW_PX = 100
MAX_HOVER_CELLS = 400
MAX_DOCUMENT_PX = 1_000_000  # y and hover rows stop here: 10,000 rows
MAX_HOVER_MS = 3_600_000
MAX_SELECTOR = 256
# A selector is tags with an optional #id and .classes, joined by " > ": no attribute values,
# no text. Identifiers are plain CSS names (what the behaviour script keeps).
_NAME = r"-?[A-Za-z_][\w-]*"
SELECTOR = re.compile(rf"^{_NAME}(#{_NAME})?(\.{_NAME})*( > {_NAME}(#{_NAME})?(\.{_NAME})*)*$")
# Each vital as the web-vitals library reports it: milliseconds, CLS unitless.
VITAL_LIMITS: Mapping[str, float] = {
    "lcp": 600_000.0,
    "inp": 600_000.0,
    "fcp": 600_000.0,
    "ttfb": 600_000.0,
    "cls": 100.0,
}
CLICK_ONLY = ("x", "y", "selector", "rage", "dead")
ENGAGEMENT_ONLY = ("hover", "vitals")


def hover_grid(value: list[Any]) -> None:
    if not isinstance(value, list):
        raise RuleError("must be an array of cells")
    if len(value) > MAX_HOVER_CELLS:
        raise RuleError(f"at most {MAX_HOVER_CELLS} cells")
    seen = set()
    max_row = MAX_DOCUMENT_PX // GRID_ROW_PX
    for cell in value:
        if (
            not isinstance(cell, list)
            or len(cell) != 3
            or not all(type(n) is int for n in cell)
            or not 0 <= cell[0] < GRID_COLUMNS
            or not 0 <= cell[1] < max_row
            or not 0 < cell[2] <= MAX_HOVER_MS
        ):
            raise RuleError(
                f"cells are [col 0-{GRID_COLUMNS - 1}, row 0-{max_row - 1}, ms 1-{MAX_HOVER_MS}]"
            )
        if (cell[0], cell[1]) in seen:
            raise RuleError("each cell at most once")
        seen.add((cell[0], cell[1]))


def web_vitals(value: Mapping[str, Any]) -> None:
    for key, number in value.items():
        limit = VITAL_LIMITS.get(key)
        if limit is None:
            raise RuleError(f"vitals are {', '.join(VITAL_LIMITS)}")
        if number is None:
            continue
        if (
            isinstance(number, bool)
            or not isinstance(number, (int, float))
            or not (math.isfinite(number) and 0 <= number <= limit)
        ):
            raise RuleError(f"{key} must be a number from 0 to {limit:g}")


@dataclass(frozen=True)
class Rule:
    """One field: its JSON type and every constraint on its value."""

    kind: type  # str, int, bool, list, dict, or "nested" via ``nested``
    required: bool = False
    nullable: bool = True
    default: Any = None
    min_len: int | None = None
    max_len: int | None = None
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[str, ...] | None = None
    pattern: re.Pattern[str] | None = None
    check: Callable[[Any], None] | None = None
    nested: Mapping[str, Rule] | None = None


SITE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

TARGET_RULES: Mapping[str, Rule] = {
    "tag": Rule(str, max_len=32),
    "id": Rule(str, max_len=256),
    "classes": Rule(str, max_len=512),
    "href": Rule(str, max_len=MAX_URL),
    "text": Rule(str, max_len=1000),
}

EVENT_RULES: Mapping[str, Rule] = {
    "site": Rule(str, required=True, nullable=False, pattern=SITE_ID),
    "type": Rule(str, nullable=False, default="pageview", choices=EVENT_TYPES),
    "url": Rule(str, required=True, nullable=False, max_len=MAX_URL, check=http_url),
    "referrer": Rule(str, max_len=MAX_URL, check=referrer_url),
    "ts": Rule(int, nullable=False, minimum=0, maximum=2**53),
    # null: not stated, so the site's default applies (the beacon sends it before any choice).
    "consent": Rule(str, choices=("denied", "implied", "granted")),
    "visitor_id": Rule(str, min_len=1, max_len=128),
    "user_id": Rule(str, min_len=1, max_len=256),
    "name": Rule(str, min_len=1, max_len=64),
    "props": Rule(dict, check=flat_props),
    "target": Rule(dict, nested=TARGET_RULES),
    "depth": Rule(int, minimum=0, maximum=100),
    "engaged_ms": Rule(int, minimum=0, maximum=24 * 3600 * 1000),
    "sw": Rule(int, minimum=0, maximum=100_000),
    "sh": Rule(int, minimum=0, maximum=100_000),
    "x": Rule(int, minimum=0, maximum=1000),
    "y": Rule(int, minimum=0, maximum=MAX_DOCUMENT_PX - 1),
    "vw": Rule(int, minimum=1, maximum=100_000),
    "selector": Rule(str, min_len=1, max_len=MAX_SELECTOR, pattern=SELECTOR),
    "rage": Rule(bool),
    "dead": Rule(bool),
    "hover": Rule(list, check=hover_grid),
    "vitals": Rule(dict, check=web_vitals),
}


def cross_field_errors(data: Mapping[str, Any]) -> dict[str, list[str]]:
    """Rules that span fields."""
    kind = data.get("type", "pageview")
    if kind == "custom" and not data.get("name"):
        return {"name": ["custom events need a name"]}
    for names, only in ((CLICK_ONLY, "click"), (ENGAGEMENT_ONLY, "engagement")):
        for name in names:
            if kind != only and data.get(name) is not None:
                return {name: [f"only {only} events carry {name}"]}
    if kind not in ("click", "engagement") and data.get("vw") is not None:
        return {"vw": ["only click and engagement events carry vw"]}
    return {}


def fast_check(value: Any, rule: Rule) -> bool:
    """True only when the value certainly satisfies the rule (never raises)."""
    if value is None:
        return rule.nullable
    kind = type(value)
    if kind is not rule.kind:  # exact type: bools are not ints here
        return False
    if kind is str:
        n = len(value)
        if (rule.max_len is not None and n > rule.max_len) or (
            rule.min_len is not None and n < rule.min_len
        ):
            return False
        if rule.choices is not None and value not in rule.choices:
            return False
        if rule.pattern is not None and not rule.pattern.match(value):
            return False
    elif kind is int:
        if (rule.minimum is not None and value < rule.minimum) or (
            rule.maximum is not None and value > rule.maximum
        ):
            return False
    elif rule.nested is not None:
        nested = rule.nested
        return all(k in nested and fast_check(v, nested[k]) for k, v in value.items())
    if rule.check is not None:
        try:
            rule.check(value)
        except RuleError:
            return False
    return True
