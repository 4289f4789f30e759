"""Beyond one machine: two collectors, one lake, one keys location, loading concurrently.

Each collector is a real ``clearcount serve`` with its own data directory and
port; they share the lake and the keys, either on an S3 API (``moto``'s
server on loopback) or in a shared local directory. Clients post to both for
a bounded time while an analyst queries read-only; one collector is
SIGKILLed mid-load and restarted. Then: every acknowledged event is in the
lake exactly once, a visitor seen by both has one pseudonym, a forget sent to
one collector erases the rows the other loaded, no byte of that pseudonym
remains in the lake or the keys, and the Spark report equals DuckDB's.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
import requests

from pipelines.lake.tables import s3_secret_sql
from service.privacy.keys import KeyStore
from service.privacy.pseudonym import hmac64
from service.readiness import kill_group
from service.storage.location import Location
from tests import patience, product
from tests.integration.server import ROOT, SITES_TOML, Server, free_port, read_csv
from tests.lake_bytes import holding, local_files

CLIENTS_PER_COLLECTOR = 3
MAX_REQUESTS_PER_CLIENT = 400
LOAD_SECONDS = 3.0
GRACE_S = 2.0
SHARED = "visitor-seen-by-both-5b1f"
UA = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"


class SharedStorage:
    """Where the two collectors keep the lake and the keys, and how to read every byte."""

    def __init__(self, kind: str, root: Path) -> None:
        self.kind = kind
        self.root = root
        self.env: dict[str, str] = {}
        self.moto: Any = None
        if kind == "s3":
            from moto.server import ThreadedMotoServer

            port = free_port()
            self.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
            self.moto.start()
            self.env = {
                "AWS_ACCESS_KEY_ID": "clearcount-test",
                "AWS_SECRET_ACCESS_KEY": "clearcount-test-secret",
                "AWS_REGION": "us-east-1",
                "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
            }
            client = self.client()
            for bucket in ("analytics-lake", "analytics-keys"):
                client.create_bucket(Bucket=bucket)
            self.lake, self.keys = "s3://analytics-lake/clearcount", "s3://analytics-keys/prod"
        else:
            self.lake, self.keys = str(root / "shared" / "lake"), str(root / "shared" / "keys")

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.env["AWS_ENDPOINT_URL"],
            aws_access_key_id=self.env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.env["AWS_SECRET_ACCESS_KEY"],
            region_name=self.env["AWS_REGION"],
        )

    def every_file(self) -> Iterator[tuple[str, bytes]]:
        if self.kind == "local":
            yield from local_files(self.root / "shared")
            return
        client = self.client()
        for bucket in ("analytics-lake", "analytics-keys"):
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                for item in page.get("Contents", []):
                    try:
                        body = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
                    except client.exceptions.NoSuchKey:
                        continue  # vacuumed between the listing and the read
                    yield f"{bucket}/{item['Key']}", body

    def erasures_done(self) -> bool:
        """A receipt written and no request pending, in the shared keys location."""
        objects = self.keystore().objects
        saved = dict(os.environ)
        os.environ.update(self.env)
        try:
            return bool(objects.list("erasure/receipts")) and not objects.list("erasure/pending")
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def keystore(self) -> KeyStore:
        saved = dict(os.environ)
        os.environ.update(self.env)
        try:
            store = KeyStore(Location.parse(self.keys, self.root))
            store.site_secret("shop")  # reads it now, while the environment points at moto
            return store
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def close(self) -> None:
        if self.moto is not None:
            self.moto.stop()


@pytest.fixture(params=["s3", "local"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SharedStorage]:
    shared = SharedStorage(request.param, tmp_path)
    try:
        yield shared
    finally:
        shared.close()


def collector(root: Path, storage: SharedStorage) -> Server:
    env = {
        "CLEARCOUNT_LAKE": storage.lake,
        "CLEARCOUNT_KEYS": storage.keys,
        "CLEARCOUNT_READER_GRACE_S": str(GRACE_S),
        "CLEARCOUNT_SEGMENT_MAX_BYTES": "20000",
        **storage.env,
    }
    return Server(root, env, sites_toml=SITES_TOML)


def analyst(server: Server, storage: SharedStorage) -> duckdb.DuckDBPyConnection:
    """A read-only connection to a collector's views, as the README shows analysts."""
    con = duckdb.connect(str(server.data_dir / "clearcount.duckdb"), read_only=True)
    if storage.kind == "s3":
        saved = dict(os.environ)
        os.environ.update(storage.env)
        try:
            secret = s3_secret_sql(Location.parse(storage.lake, server.root))
        finally:
            os.environ.clear()
            os.environ.update(saved)
        assert secret is not None
        con.execute(secret)
    return con


def markers(con: duckdb.DuckDBPyConnection) -> Counter[str]:
    rows = con.execute("SELECT json_extract_string(props, '$.m') FROM events").fetchall()
    return Counter(m for (m,) in rows if m)


def post(server: Server, events: list[dict[str, Any]], ip: str) -> requests.Response:
    return requests.post(
        server.url + "/api/event",
        json=events,
        headers={"User-Agent": UA, "X-Forwarded-For": ip},
        timeout=patience.HTTP_S,
    )


def test_two_collectors_share_one_lake_exactly_once(storage: SharedStorage, tmp_path: Path) -> None:
    a = collector(tmp_path / "a", storage).start()
    b = collector(tmp_path / "b", storage).start()
    try:
        acked: list[str] = []
        lock = threading.Lock()
        stop = threading.Event()

        def client(server: Server, n: int) -> None:
            session = requests.Session()
            for i in range(MAX_REQUESTS_PER_CLIENT):
                if stop.is_set():
                    return
                marker = f"{server.root.name}{n}-{i:04d}"
                batch = [{"site": "shop", "url": "https://shop.example/", "props": {"m": marker}}]
                try:
                    response = session.post(
                        server.url + "/api/event",
                        json=batch,
                        headers={"User-Agent": UA, "X-Forwarded-For": f"81.2.69.{n}"},
                        timeout=patience.HTTP_S,
                    )
                except requests.RequestException:
                    time.sleep(0.05)  # the collector is down (killed, restarting)
                    continue
                if response.status_code == 202:
                    with lock:
                        acked.append(marker)

        # The same visitor, granted, at both collectors; and the same implied visitor
        # (one IP and browser) at both: one pseudonym each, whoever saw them.
        shared = {"site": "shop", "consent": "granted", "visitor_id": SHARED}
        for server in (a, b):
            assert (
                post(
                    server,
                    [shared | {"url": f"https://shop.example/{server.root.name}"}],
                    "81.2.69.200",
                ).status_code
                == 202
            )
            assert (
                post(
                    server,
                    [
                        {
                            "site": "shop",
                            "url": "https://shop.example/implied",
                            "props": {"m": f"implied-{server.root.name}"},
                        }
                    ],
                    "81.2.69.201",
                ).status_code
                == 202
            )

        reads: list[str | tuple[int, int]] = []
        reading = threading.Event()

        def read() -> None:
            con = analyst(a, storage)
            try:
                while not reading.is_set():
                    try:
                        row = con.execute(
                            "SELECT count(*), count(DISTINCT json_extract_string(props, '$.m')) "
                            "FROM events WHERE props LIKE '%\"m\"%'"
                        ).fetchone()
                        assert row is not None
                        reads.append((row[0], row[1]))
                    except Exception as exc:
                        reads.append(repr(exc))
                    time.sleep(0.05)
            finally:
                con.close()

        threads = [
            threading.Thread(target=client, args=(server, n))
            for server in (a, b)
            for n in range(CLIENTS_PER_COLLECTOR)
        ]
        reader = threading.Thread(target=read)
        reader.start()
        for t in threads:
            t.start()
        time.sleep(LOAD_SECONDS / 2)
        b.kill()  # mid-load: master, workers and loader at once
        b.start()  # same data directory and port: its spool and its loader's numbering
        time.sleep(LOAD_SECONDS / 2)
        stop.set()
        for t in threads:
            t.join(patience.HTTP_S)
        assert len(acked) > 100, "the load never got going"

        con = analyst(a, storage)
        try:
            deadline = time.monotonic() + patience.LOADED_S
            stored = markers(con)
            while time.monotonic() < deadline and any(stored[m] == 0 for m in acked):
                time.sleep(0.3)
                stored = markers(con)
            missing = [m for m in acked if stored[m] == 0]
            duplicated = [m for m, n in stored.items() if n > 1]
            assert not missing, f"{len(missing)} acknowledged events lost, e.g. {missing[:5]}"
            assert not duplicated, f"{len(duplicated)} stored twice, e.g. {duplicated[:5]}"
            pseudonyms = con.execute(
                "SELECT count(DISTINCT visitor_key), count(*) FROM events "
                "WHERE path IN ('/a', '/b') AND consent = 'granted'"
            ).fetchall()
            assert pseudonyms == [(1, 2)]
            implied = con.execute(
                "SELECT count(DISTINCT visitor_key), count(*) FROM events "
                "WHERE json_extract_string(props, '$.m') LIKE 'implied-%'"
            ).fetchall()
            assert implied == [(1, 2)]
        finally:
            con.close()
        reading.set()
        reader.join()
        assert [r for r in reads if isinstance(r, str)] == []
        assert len(reads) > 5
        assert all(total == distinct for total, distinct in reads if not isinstance(total, str))

        if storage.kind == "s3":  # the Spark report on the S3 lake equals DuckDB's
            day = time.strftime("%Y-%m-%d", time.gmtime())
            # Both engines at once, over the same settled lake: nothing writes to it now.
            # DuckDB's from the base install; Spark's from the install with its extra.
            command = {
                "duckdb": product.clearcount(),
                "spark": product.with_extra("spark"),
            }
            reports = {
                engine: subprocess.Popen(
                    [
                        *command[engine],
                        "report",
                        "--site",
                        "shop",
                        "--from",
                        day,
                        "--to",
                        day,
                        "--out",
                        str(tmp_path / f"report-{engine}"),
                        "--engine",
                        engine,
                    ],
                    cwd=ROOT,
                    env=a.env(),
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    text=True,
                    start_new_session=True,
                )
                for engine in ("duckdb", "spark")
            }
            outputs = {}
            try:
                for engine, report in reports.items():
                    _, stderr = report.communicate(timeout=patience.COMMAND_S)
                    assert report.returncode == 0, stderr[-3000:]
                    out = tmp_path / f"report-{engine}"
                    outputs[engine] = {p.name: read_csv(p) for p in sorted(out.glob("*.csv"))}
            finally:
                for report in reports.values():
                    kill_group(report)  # the Spark report's JVM with it, should one hang
            assert outputs["spark"] == outputs["duckdb"]
            assert outputs["duckdb"]["overview.csv"]

        # A forget sent to A erases the rows B loaded, and leaves no byte of the pseudonym.
        key = hmac64(storage.keystore().site_secret("shop"), SHARED)
        forget = requests.post(
            a.url + "/api/forget",
            json={"site": "shop", "visitor_id": SHARED},
            headers={"User-Agent": UA},
            timeout=patience.HTTP_S,
        )
        assert forget.status_code == 202
        # Completing takes rounds of both loaders: rewrites of every table holding the
        # pseudonym (the sessions rollup too), the readers' grace, vacuum, and a search of
        # every file left; on object storage each of those is many requests.
        deadline = time.monotonic() + patience.COMMAND_S
        while time.monotonic() < deadline and not storage.erasures_done():
            time.sleep(0.5)
        assert storage.erasures_done()
        con = analyst(b, storage)
        try:
            assert con.execute(
                "SELECT count(*) FROM events WHERE visitor_key = ?", [key]
            ).fetchall() == [(0,)]
            assert con.execute("SELECT count(*) FROM events WHERE path = '/b'").fetchall() == [(0,)]
        finally:
            con.close()
        assert holding(storage.every_file(), key) == []
    finally:
        a.stop()
        b.stop()
