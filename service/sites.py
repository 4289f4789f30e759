"""Per-site configuration from ``sites.toml``: who may post, and what consent allows."""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from service.site_goals import Funnel, Goal, GoalsError, parse_funnels, parse_goals

CONSENT_STATES = ("denied", "implied", "granted")
DEFAULT_QUERY_ALLOWLIST = (
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "ref",
)


SITE_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
RESERVED_IDS = ("login", "logout")
MIN_TOKEN_LENGTH = 16
BEHAVIOUR_SWITCHES = ("heatmaps", "vitals", "heatmap_frame")


class SitesError(ValueError):
    """The sites file cannot be used; the message says which site and key."""


@dataclass(frozen=True)
class Site:
    """One tracked website and the privacy promises made to its visitors."""

    id: str
    origins: tuple[str, ...] = ()
    redirect_hosts: tuple[str, ...] = ()
    default_consent: str = "implied"
    require_opt_in: bool = False
    honor_dnt: bool = True
    query_allowlist: tuple[str, ...] = DEFAULT_QUERY_ALLOWLIST
    retention_days: int = 395
    pseudonym_days: int = 90
    k: int = 5
    policy_version: str = "1"
    spam_referrers: tuple[str, ...] = ()
    erase_on_withdrawal: bool = False
    erasure_block_days: int = 30
    stats_token: str | None = None
    share_token: str | None = None  # a read-only dashboard link: /dashboard/<site>?auth=
    goals: tuple[Goal, ...] = ()
    funnels: tuple[Funnel, ...] = ()
    # Behaviour maps and web vitals (DESIGN §9), each off until the site turns it on.
    heatmaps: bool = False
    vitals: bool = False
    # The site's pages may be shown in a sandboxed frame under the dashboard's heatmap
    # (their Content-Security-Policy frame-ancestors must allow the collector's origin).
    heatmap_frame: bool = False

    def allows_origin(self, origin: str) -> bool:
        return normalize_origin(origin) in self.origin_set

    @functools.cached_property
    def origin_set(self) -> frozenset[str]:
        """The allowed Origins as ``allows_origin`` compares them."""
        return frozenset(normalize_origin(o) for o in self.origins)


def normalize_origin(origin: str) -> str:
    """An Origin as configured and as sent compare equal: no trailing slash, any case."""
    return origin.rstrip("/").lower()


_TUPLE_FIELDS = {"origins", "redirect_hosts", "query_allowlist", "spam_referrers"}


def _site_from_table(site_id: str, table: Mapping[str, Any]) -> Site:
    known = {f.name for f in fields(Site)} - {"id"}
    unknown = set(table) - known
    if unknown:
        raise SitesError(f"site {site_id!r}: unknown keys {sorted(unknown)}")
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key in ("goals", "funnels"):
            continue
        if key in _TUPLE_FIELDS:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise SitesError(f"site {site_id!r}: {key} must be a list of strings")
            value = tuple(v.lower() if key != "query_allowlist" else v for v in value)
        values[key] = value
    try:
        values["goals"] = parse_goals(f"site {site_id!r}", table.get("goals", []))
        values["funnels"] = parse_funnels(
            f"site {site_id!r}", table.get("funnels", []), values["goals"]
        )
    except GoalsError as exc:
        raise SitesError(str(exc)) from None
    for key in ("stats_token", "share_token"):
        token = values.get(key)
        if token is not None and (not isinstance(token, str) or len(token) < MIN_TOKEN_LENGTH):
            raise SitesError(
                f"site {site_id!r}: {key} must be a string of at least {MIN_TOKEN_LENGTH} "
                "characters (python3 -c 'import secrets; print(secrets.token_urlsafe())' "
                "makes one)"
            )
    for key in ("require_opt_in", "honor_dnt", "erase_on_withdrawal", *BEHAVIOUR_SWITCHES):
        if not isinstance(values.get(key, False), bool):
            raise SitesError(f"site {site_id!r}: {key} must be true or false")
    site = Site(id=site_id, **values)
    if site.default_consent not in ("implied", "denied"):
        raise SitesError(f"site {site_id!r}: default_consent must be 'implied' or 'denied'")
    for key in ("retention_days", "pseudonym_days", "k", "erasure_block_days"):
        if not isinstance(getattr(site, key), int) or getattr(site, key) < 1:
            raise SitesError(f"site {site_id!r}: {key} must be a positive integer")
    return site


def parse_sites(text: str) -> dict[str, Site]:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SitesError(f"sites file is not valid TOML: {exc}") from exc
    tables = doc.get("sites")
    if not isinstance(tables, dict) or not tables:
        raise SitesError("sites file has no [sites.<id>] table")
    for site_id in tables:
        if not SITE_ID.fullmatch(site_id) or site_id in RESERVED_IDS:
            raise SitesError(
                f"site {site_id!r}: a site id is 1 to 64 letters, digits, '_', '.' or '-', "
                f"and not {' or '.join(RESERVED_IDS)} (dashboard pages)"
            )
    return {site_id: _site_from_table(site_id, table) for site_id, table in tables.items()}


def load_sites(path: Path) -> dict[str, Site]:
    return parse_sites(path.read_text(encoding="utf-8"))
