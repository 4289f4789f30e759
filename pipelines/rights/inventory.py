"""The data inventory a breach notice needs: which personal or pseudonymous fields
exist, where, under which consent state, for how long, and how many rows hold them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pipelines.lake.tables import open_views
from service.sites import Site


@dataclass(frozen=True)
class Entry:
    field: str
    where: str
    states: str
    nature: str
    kept: str  # uses {retention} and {pseudonym} placeholders


FIELDS = (
    Entry(
        "visitor_key",
        "lake events, quarantine, consent_log; keys erasure/pending until done",
        "implied",
        "daily salted hash of IP + User-Agent (IPv6 /64): "
        "unlinkable once the salt is destroyed after 48 h",
        "{retention} days (row)",
    ),
    Entry(
        "visitor_key",
        "lake events, quarantine, consent_log",
        "granted",
        "HMAC(site secret, visitor_id): a stable pseudonym",
        "{pseudonym} days, then nulled",
    ),
    Entry(
        "user_key",
        "lake events, quarantine",
        "granted",
        "HMAC(site secret, user_id)",
        "{pseudonym} days, then nulled",
    ),
    Entry(
        "ip_prefix",
        "lake events, quarantine",
        "granted",
        "IPv4 /24 or IPv6 /48 network",
        "{pseudonym} days, then nulled",
    ),
    Entry(
        "country, browser, os, device",
        "lake events, quarantine",
        "implied, granted",
        "coarse traits (not identifying alone)",
        "{retention} days",
    ),
    Entry(
        "url, path, referrer, props, target",
        "lake events, quarantine",
        "implied, granted",
        "scrubbed: allow-listed parameters only, e-mail/phone/digits/IPs redacted",
        "{retention} days",
    ),
    Entry(
        "counts",
        "lake denied_counts",
        "denied",
        "aggregate per site, day, type, reason; no person",
        "{retention} days",
    ),
    Entry(
        "minimized records",
        "spool/",
        "implied, granted, denied (counts)",
        "the rows above before loading",
        "seconds (until the loader runs)",
    ),
    Entry(
        "site secrets",
        "keys/site-*.secret (0600)",
        "granted",
        "re-identify a granted pseudonym only together with a visitor_id or user_id",
        "until the site is removed",
    ),
    Entry(
        "daily salts",
        "keys/salt-*.bin (0600)",
        "implied",
        "link one day's implied visits",
        "48 hours",
    ),
)


def row_counts(data_dir: Path, site: str) -> dict[str, int]:
    out = {}
    con = open_views(data_dir)
    try:
        for table in ("events", "quarantine", "consent_log"):
            out[table] = con.execute(
                f"SELECT count(*) FROM {table} WHERE site = ?",  # noqa: S608 (table from a fixed tuple)
                [site],
            ).fetchone()[0]  # type: ignore[index]
    finally:
        con.close()
    return out


def render(data_dir: Path, sites: Mapping[str, Site]) -> str:
    lines = []
    for site in sites.values():
        counts = row_counts(data_dir, site.id)
        lines.append(
            f"site {site.id}: retention {site.retention_days} days, "
            f"pseudonyms {site.pseudonym_days} days; "
            + ", ".join(f"{n} rows in {t}" for t, n in counts.items())
        )
        for e in FIELDS:
            kept = e.kept.format(retention=site.retention_days, pseudonym=site.pseudonym_days)
            lines.append(f"  {e.field:<36} {e.states:<32} {kept:<30} {e.where} — {e.nature}")
    return "\n".join(lines)
