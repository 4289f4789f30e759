"""Realtime visitors: distinct pseudonyms with an event in the last 30 minutes.

The loader moves events from the spool to the lake every few seconds, so the
last minutes are partly in each: the spool is read first, then the lake, and
pseudonyms are counted once. A segment loaded between the two reads is then
in the lake; one loaded before the spool read was in the lake already.
E-mail opens are not visits and are left out, as everywhere in the metrics.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Final

import orjson

from pipelines.lake.tables import open_views
from service.ingest.spool import iter_segments

WINDOW: Final = dt.timedelta(minutes=30)


def _spooled(spool_dir: Path, site: str, since_ms: int) -> set[int]:
    keys: set[int] = set()
    site_field = b'"site":' + orjson.dumps(site)
    for segment in iter_segments(spool_dir):
        try:
            data = segment.read_bytes()
        except FileNotFoundError:
            continue  # loaded meanwhile: the lake read below sees it
        for line in data[: data.rfind(b"\n") + 1].split(b"\n"):
            if site_field not in line:
                continue
            rec = orjson.loads(line)
            if (
                rec.get("k") == "e"
                and rec.get("site") == site
                and rec.get("type") != "open"
                and isinstance(rec.get("visitor_key"), int)
                and rec.get("received_at", 0) >= since_ms
            ):
                keys.add(rec["visitor_key"])
    return keys


def realtime_visitors(data_dir: Path, site: str, now: dt.datetime) -> int:
    """Distinct visitors of ``site`` with an event in the 30 minutes up to ``now``."""
    since = now - WINDOW
    keys = _spooled(data_dir / "spool", site, int(since.timestamp() * 1000))
    con = open_views(data_dir)
    try:
        rows = con.execute(
            "SELECT DISTINCT visitor_key FROM events WHERE site = ? AND date BETWEEN ? AND ?"
            " AND received_at >= ? AND type <> 'open' AND visitor_key IS NOT NULL",
            [site, since.date(), now.date(), since],
        ).fetchall()
    finally:
        con.close()
    keys.update(r[0] for r in rows)
    return len(keys)
