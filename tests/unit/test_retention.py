"""Retention and the pseudonym TTL, measured from an injected date."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import orjson

from pipelines.lake.commit import vacuum_all
from pipelines.lake.load import load_once
from pipelines.lake.tables import Lake, ensure_views
from pipelines.rights.retention import apply_retention
from service.ingest.spool import SpoolWriter
from tests.conftest import make_site

TODAY = dt.date(2026, 11, 24)


def row(day_offset: int, consent: str, n: int) -> bytes:
    when = dt.datetime.combine(TODAY - dt.timedelta(days=day_offset), dt.time(12), dt.UTC)
    record = {
        "k": "e",
        "site": "shop",
        "event_id": f"{day_offset}-{consent}-{n}",
        "type": "pageview",
        "received_at": int(when.timestamp() * 1000),
        "url": "https://shop.example/",
        "path": "/",
        "consent": consent,
        "visitor_key": 1000 + n,
        "user_key": 2000 + n if consent == "granted" else None,
        "ip_prefix": "198.51.100.0/24" if consent == "granted" else None,
        "policy_version": "1",
    }
    return orjson.dumps(record) + b"\n"


def test_old_days_are_deleted_and_old_pseudonyms_nulled(tmp_path: Path) -> None:
    writer = SpoolWriter(tmp_path / "spool", max_age_s=60)
    writer.append(
        [
            row(offset, consent, n)
            for offset in (1, 40, 100, 400)
            for consent in ("implied", "granted")
            for n in range(3)
        ]
    )
    writer.close()
    load_once(tmp_path)
    site = make_site(retention_days=395, pseudonym_days=90)
    lake = Lake.of(tmp_path)
    report = apply_retention(tmp_path, lake, {"shop": site}, TODAY)
    vacuum_all(lake, grace_s=0)
    ensure_views(tmp_path)
    con = duckdb.connect(str(tmp_path / "clearcount.duckdb"), read_only=True)
    result = con.execute(
        "SELECT split_part(event_id, '-', 1)::INT AS age, consent, count(*), count(visitor_key), "
        "count(user_key), count(ip_prefix) FROM events GROUP BY ALL ORDER BY 1, 2"
    ).fetchall()
    assert result == [
        (1, "granted", 3, 3, 3, 3),
        (1, "implied", 3, 3, 0, 0),
        (40, "granted", 3, 3, 3, 3),
        (40, "implied", 3, 3, 0, 0),
        (100, "granted", 3, 0, 0, 0),  # past pseudonym_days: stable keys and prefixes gone
        (100, "implied", 3, 3, 0, 0),  # daily hashes stay: they were unlinkable after 48 h
        # 400 days: past retention_days, deleted whole
    ]
    assert report["shop"]["events_rows_deleted"] == 6
    assert report["shop"]["events_pseudonyms_nulled"] == 3
    assert (tmp_path / "audit.jsonl").read_text().count('"action":"retention"') == 1
    events = tmp_path / "lake" / "events" / "site=shop"
    expired = (TODAY - dt.timedelta(days=400)).isoformat()
    assert not list((events / f"date={expired}").glob("*.parquet"))  # no byte of it left
    stripped = (TODAY - dt.timedelta(days=100)).isoformat()
    live = {u.split("/events/", 1)[1] for u in lake.table("events").file_uris()}
    on_disk = {f"site=shop/{p.parent.name}/{p.name}" for p in events.glob("*/*.parquet")}
    assert on_disk == live  # the files that held the nulled pseudonyms are gone
    assert len([f for f in live if f"date={stripped}" in f]) == 1
