"""Visitor rights end to end through the real server: export, erasure, readers during rewrites."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import requests
from deltalake import DeltaTable

from service.privacy.keys import KeyStore
from service.privacy.pseudonym import hmac64
from tests import patience, product
from tests.integration.server import Server
from tests.lake_bytes import holding, local_files

UA = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"}
BOT = {"User-Agent": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"}
ERASED, KEPT, OTHER_USER = "visitor-to-forget-7d1e", "visitor-who-stays-a83c", "user-stays-42"


def granted(visitor: str, path: str, **extra: str) -> dict[str, str]:
    return {
        "site": "shop",
        "url": f"https://shop.example{path}",
        "consent": "granted",
        "visitor_id": visitor,
        **extra,
    }


def every_stored_byte(root: Path) -> bytes:
    out = []
    for path in root.rglob("*"):
        if path.is_file():
            out.append(path.read_bytes())
            if path.suffix == ".parquet":
                out.append(repr(pq.read_table(path).to_pylist()).encode())
    return b"\n".join(out)


def test_forget_erases_lake_and_spool_and_leaves_others_untouched(tmp_path: Path) -> None:
    # Segments that never age out in the test's time: later events stay in the spool.
    server = Server(tmp_path, {"CLEARCOUNT_SEGMENT_MAX_AGE_S": "0.3"}).start()
    try:
        for i in range(5):
            assert (
                server.post(
                    [granted(ERASED, f"/e{i}"), granted(KEPT, f"/k{i}", user_id=OTHER_USER)], UA
                ).status_code
                == 202
            )
        server.post({"site": "shop", "url": "https://shop.example/consent"}, UA)
        requests.post(
            server.url + "/api/consent",
            json={"site": "shop", "visitor_id": ERASED, "consent": "granted"},
            headers=UA,
            timeout=patience.HTTP_S,
        )
        assert server.wait_loaded("events", 11) >= 11
        before_others = sorted(
            server.query(
                "SELECT event_id, path, visitor_key, user_key, url, props FROM events WHERE path LIKE '/k%' ORDER BY event_id"
            )
        )
        key = hmac64(KeyStore(server.data_dir / "keys").site_secret("shop"), ERASED)
        # Export first: exactly this visitor's events, nobody else's.
        exported = requests.post(
            server.url + "/api/export",
            json={"site": "shop", "visitor_id": ERASED},
            headers=UA,
            timeout=patience.HTTP_S,
        )
        assert exported.status_code == 200
        assert sorted(r["path"] for r in exported.json()) == [f"/e{i}" for i in range(5)]
        assert {r["visitor_key"] for r in exported.json()} == {key}
        unknown = requests.post(
            server.url + "/api/export",
            json={"site": "shop", "visitor_id": "nobody"},
            headers=UA,
            timeout=patience.HTTP_S,
        )
        assert unknown.status_code == 200
        assert unknown.json() == []
    finally:
        server.stop()

    # Events spooled but not loaded: a segment written directly, as a crash would leave it.
    server = Server(
        tmp_path, {"CLEARCOUNT_SEGMENT_MAX_AGE_S": "3600", "CLEARCOUNT_LOAD_INTERVAL_S": "3600"}
    ).start()
    try:
        assert (
            server.post(
                [granted(ERASED, "/late-spooled"), granted(KEPT, "/k-late")], UA
            ).status_code
            == 202
        )
        answer = requests.post(
            server.url + "/api/forget",
            json={"site": "shop", "visitor_id": ERASED},
            headers=UA,
            timeout=patience.HTTP_S,
        )
        assert answer.status_code == 202
        # After the erasure, the same visitor's events are dropped on arrival.
        assert server.post(granted(ERASED, "/after-forget"), UA).status_code == 202
    finally:
        server.kill()  # the erasure must complete from its durable request alone
    # A line the loader once set aside (unreadable) that still names the pseudonym.
    failed = server.data_dir / "spool" / "failed"
    failed.mkdir(parents=True, exist_ok=True)
    (failed / "0-set-aside.seg").write_bytes(
        b'{"k":"e","site":"shop","visitor_key":' + str(key).encode() + b',"url":\n{"other":1}\n'
    )
    result = server.cli("load", "--reader-grace-s", "1")
    assert result.returncode == 0, result.stderr

    assert server.query("SELECT count(*) FROM events WHERE visitor_key = ?", [key]) == [(0,)]
    assert server.query("SELECT count(*) FROM quarantine WHERE visitor_key = ?", [key]) == [(0,)]
    assert server.query("SELECT count(*) FROM consent_log WHERE visitor_key = ?", [key]) == [(0,)]
    assert server.query(
        "SELECT count(*) FROM events WHERE path IN ('/late-spooled', '/after-forget')"
    ) == [(0,)]
    after_others = sorted(
        server.query(
            "SELECT event_id, path, visitor_key, user_key, url, props FROM events WHERE path LIKE '/k%' AND path != '/k-late' ORDER BY event_id"
        )
    )
    assert after_others == before_others
    assert server.query("SELECT count(*) FROM events WHERE path = '/k-late'") == [(1,)]
    blob = every_stored_byte(server.data_dir)
    assert str(key).encode() not in blob
    assert ERASED.encode() not in blob
    assert holding(local_files(server.data_dir), key) == []  # decimal, hex, binary
    receipts = list((server.data_dir / "keys" / "erasure" / "receipts").glob("*.json"))
    assert len(receipts) == 1
    receipt = receipts[0].read_text()
    assert (failed / "0-set-aside.seg").read_bytes() == b'{"other":1}\n'
    assert '"events": 5' in receipt
    assert str(key) not in receipt


def test_cli_erases_a_signed_in_user(tmp_path: Path) -> None:
    server = Server(tmp_path).start()
    try:
        assert (
            server.post(
                [
                    granted(KEPT, "/u1", user_id="user-to-erase"),
                    granted(KEPT, "/u2", user_id=OTHER_USER),
                ],
                UA,
            ).status_code
            == 202
        )
        server.wait_loaded("events", 2)
    finally:
        server.stop()
    result = server.cli(
        "erase", "--site", "shop", "--user-id", "user-to-erase", "--reader-grace-s", "1"
    )
    assert result.returncode == 0, result.stderr
    assert "1 row(s) removed" in result.stdout
    assert server.query("SELECT path FROM events ORDER BY path") == [("/u2",)]


def shop_files(lake: Path, table: str) -> list[str]:
    """The live files of the shop's partitions, as the table's Delta log lists them."""
    return [u for u in DeltaTable(str(lake / table)).file_uris() if "/site=shop/" in u]


def parquet_on_disk(lake: Path, table: str) -> list[str]:
    return sorted(str(p) for p in (lake / table).glob("site=*/*/*.parquet"))


def test_a_reader_holding_the_views_open_is_undisturbed_by_erasure_and_compaction(
    tmp_path: Path,
) -> None:
    """One read-only connection queries in a loop while the server's loader erases a
    visitor and ``clearcount compact`` merges every partition: no error, other visitors'
    rows never duplicated or missing, the erased rows gone at once; the replaced files
    stay for the readers' grace, then the erasure completes and no byte of them is left."""
    grace = 4.0
    server = Server(tmp_path, {"CLEARCOUNT_READER_GRACE_S": str(grace)}).start()
    compactor = None
    try:
        for batch in range(6):  # several loads: several small files per partition
            events = [
                granted(ERASED if i % 4 == 0 else f"{KEPT}-{i}", f"/r{batch}-{i}")
                for i in range(20)
            ]
            server.post(events, UA)
            server.post([granted(f"crawler-{i}", f"/b{batch}-{i}") for i in range(5)], BOT)
            server.wait_loaded("events", 20 * (batch + 1))
            server.wait_loaded("quarantine", 5 * (batch + 1))
        key = hmac64(KeyStore(server.data_dir / "keys").site_secret("shop"), ERASED)
        lake = server.data_dir / "lake"
        assert len(shop_files(lake, "events")) >= 3
        results: list[tuple[int, int, int, int] | str] = []
        stop = threading.Event()
        con = duckdb.connect(str(server.data_dir / "clearcount.duckdb"), read_only=True)

        def read() -> None:
            while not stop.is_set():
                try:
                    row = con.execute(
                        "SELECT count(*) FILTER (WHERE NOT regexp_matches(path, '-(0|4|8|12|16)$')), "
                        "count(DISTINCT event_id) FILTER (WHERE NOT regexp_matches(path, '-(0|4|8|12|16)$')), "
                        "count(*) FILTER (WHERE regexp_matches(path, '-(0|4|8|12|16)$')), "
                        "(SELECT count(*) FROM quarantine) FROM events"
                    ).fetchone()
                    assert row is not None
                    results.append((row[0], row[1], row[2], row[3]))
                except Exception as exc:
                    results.append(repr(exc))
                time.sleep(0.02)  # an analyst's pace, leaving the CPUs to the loader

        reader = threading.Thread(target=read)
        reader.start()
        started = time.monotonic()
        try:
            while not results and time.monotonic() - started < patience.seconds(30):
                time.sleep(0.05)  # one answer before anything changes
            forget = requests.post(
                server.url + "/api/forget",
                json={"site": "shop", "visitor_id": ERASED},
                headers=UA,
                timeout=patience.HTTP_S,
            )
            assert forget.status_code == 202
            compactor = subprocess.Popen(
                [*product.clearcount(), "compact"],
                env=server.env(),
                stdout=subprocess.PIPE,
                text=True,
            )
            receipts = server.data_dir / "keys" / "erasure" / "receipts"
            deadline = time.monotonic() + patience.seconds(60)
            while time.monotonic() < deadline and not (
                results
                and results[-1] == (90, 90, 0, 30)
                and len(shop_files(lake, "events")) == 1
                and len(shop_files(lake, "quarantine")) == 1
                and list(receipts.glob("*.json"))
            ):
                time.sleep(0.2)
            time.sleep(0.5)
        finally:
            stop.set()
            reader.join()
            con.close()
        assert time.monotonic() - started >= grace  # the erasure waited out the grace
        out, _ = compactor.communicate(timeout=patience.seconds(60))
        assert compactor.returncode == 0
        assert "compacted" in out
        errors = [r for r in results if isinstance(r, str)]
        assert errors == []
        assert len(results) > 20
        assert {(r[0], r[1], r[3]) for r in results if not isinstance(r, str)} == {(90, 90, 30)}
        erased = [r[2] for r in results if not isinstance(r, str)]
        assert set(erased) == {30, 0}
        assert erased == sorted(erased, reverse=True)  # gone at once, never back
        assert list(receipts.glob("*.json"))
        assert holding(local_files(lake), key) == []
        assert server.query("SELECT count(*) FROM events") == [(90,)]
    finally:
        if compactor is not None and compactor.poll() is None:
            compactor.kill()
            compactor.communicate()
        server.stop()


def test_rotate_salts_and_inventory_commands(tmp_path: Path) -> None:
    server = Server(tmp_path).start()
    try:
        server.post(granted(KEPT, "/inv"), UA)
        server.wait_loaded("events", 1)
    finally:
        server.stop()
    keys = server.data_dir / "keys"
    for old in ("2026-01-01", "2026-01-02"):
        (keys / f"salt-{old}.bin").write_bytes(b"x" * 32)
    rotated = server.cli("rotate-salts", "--today", "2026-01-05")
    assert rotated.returncode == 0, rotated.stderr
    assert "destroyed" in rotated.stdout
    assert not (keys / "salt-2026-01-01.bin").exists()
    assert (keys / "salt-2026-01-05.bin").exists()
    inventory = server.cli("inventory")
    assert inventory.returncode == 0, inventory.stderr
    assert "site shop" in inventory.stdout
    assert "1 rows in events" in inventory.stdout
    assert "visitor_key" in inventory.stdout
    assert "ip_prefix" in inventory.stdout
