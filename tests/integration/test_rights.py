"""Visitor rights end to end through the real server: export, erasure, readers during rewrites."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import requests

from service.privacy.keys import KeyStore
from service.privacy.pseudonym import hmac64
from tests.integration.server import Server, run_cli

UA = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"}
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
            timeout=5,
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
            timeout=10,
        )
        assert exported.status_code == 200
        assert sorted(r["path"] for r in exported.json()) == [f"/e{i}" for i in range(5)]
        assert {r["visitor_key"] for r in exported.json()} == {key}
        unknown = requests.post(
            server.url + "/api/export",
            json={"site": "shop", "visitor_id": "nobody"},
            headers=UA,
            timeout=10,
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
            timeout=10,
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
    result = run_cli("load", data_dir=server.data_dir, sites=tmp_path / "sites.toml")
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
    receipts = list((server.data_dir / "erasure" / "receipts").glob("*.json"))
    assert len(receipts) == 1
    receipt = receipts[0].read_text()
    assert '"set_aside_spool_lines_removed": 1' in receipt
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
    result = run_cli(
        "erase",
        "--site",
        "shop",
        "--user-id",
        "user-to-erase",
        data_dir=server.data_dir,
        sites=tmp_path / "sites.toml",
    )
    assert result.returncode == 0, result.stderr
    assert "1 row(s) removed" in result.stdout
    assert server.query("SELECT path FROM events ORDER BY path") == [("/u2",)]


@pytest.mark.xfail(
    strict=False,
    reason="known gap (issue 4): DuckDB reads a Parquet file's footer at bind and its data at "
    "scan; a same-name rewrite between the two can fail a concurrent query with 'Invalid data'. "
    "Rows are never duplicated or lost for other visitors; the fix needs a snapshot (manifest) "
    "layer under the views.",
)
def test_readers_see_no_errors_or_changes_of_others_during_erasure(tmp_path: Path) -> None:
    server = Server(tmp_path).start()
    try:
        for batch in range(10):
            events = [
                granted(ERASED if i % 4 == 0 else f"{KEPT}-{i}", f"/r{batch}-{i}")
                for i in range(20)
            ]
            server.post(events, UA)
        server.wait_loaded("events", 200)
        others = server.query(
            "SELECT count(*) FROM events WHERE path NOT IN (SELECT path FROM events WHERE visitor_key = (SELECT visitor_key FROM events WHERE path = '/r0-0'))"
        )[0][0]
        errors: list[str] = []
        counts: list[int] = []
        stop = threading.Event()

        def read() -> None:
            while not stop.is_set():
                try:
                    rows = server.query(
                        "SELECT count(*), count(DISTINCT event_id) FROM events WHERE path NOT LIKE '%-0' AND path NOT LIKE '%-4' AND path NOT LIKE '%-8' AND path NOT LIKE '%-12' AND path NOT LIKE '%-16'"
                    )
                    counts.append(rows[0][0])
                    assert rows[0][0] == rows[0][1]
                except Exception as exc:
                    errors.append(repr(exc))

        reader = threading.Thread(target=read)
        reader.start()
        assert (
            requests.post(
                server.url + "/api/forget",
                json={"site": "shop", "visitor_id": ERASED},
                headers=UA,
                timeout=10,
            ).status_code
            == 202
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not list(
            (server.data_dir / "erasure" / "receipts").glob("*.json")
        ):
            time.sleep(0.1)
        time.sleep(0.5)
        stop.set()
        reader.join()
        assert errors == []
        assert set(counts) == {others}
        assert server.query("SELECT count(*) FROM events") == [(others,)]
    finally:
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
    rotated = run_cli(
        "rotate-salts",
        "--today",
        "2026-01-05",
        data_dir=server.data_dir,
        sites=tmp_path / "sites.toml",
    )
    assert rotated.returncode == 0, rotated.stderr
    assert "destroyed" in rotated.stdout
    assert not (keys / "salt-2026-01-01.bin").exists()
    assert (keys / "salt-2026-01-05.bin").exists()
    inventory = run_cli("inventory", data_dir=server.data_dir, sites=tmp_path / "sites.toml")
    assert inventory.returncode == 0, inventory.stderr
    assert "site shop" in inventory.stdout
    assert "1 rows in events" in inventory.stdout
    assert "visitor_key" in inventory.stdout
    assert "ip_prefix" in inventory.stdout
