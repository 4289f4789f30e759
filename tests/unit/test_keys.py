"""Keys: created once, shared, private; salts destroyed after 48 hours."""

from __future__ import annotations

import datetime as dt
import stat
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import pytest

from service.privacy.keys import KeyStore
from service.storage.location import Location
from tests.integration.server import free_port


def _secret(keys_dir: str) -> bytes:
    return KeyStore(Path(keys_dir)).site_secret("shop")


def test_every_process_gets_the_same_site_secret(tmp_path: Path) -> None:
    with ProcessPoolExecutor(4) as pool:
        secrets = set(pool.map(_secret, [str(tmp_path / "keys")] * 16))
    assert len(secrets) == 1
    assert len(secrets.pop()) == 32


def test_key_files_are_private(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys")
    store.site_secret("shop")
    store.daily_salt(dt.date(2026, 11, 24))
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    for path in (tmp_path / "keys").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_salts_older_than_48_hours_are_destroyed(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys")
    day = dt.date(2026, 11, 20)
    first = store.daily_salt(day)
    store.daily_salt(day + dt.timedelta(days=1))
    assert store.salt_days() == [day, day + dt.timedelta(days=1)]
    store.daily_salt(day + dt.timedelta(days=2))
    assert store.salt_days() == [day + dt.timedelta(days=1), day + dt.timedelta(days=2)]
    # Once destroyed, the old day's salt cannot come back: a new one is random.
    assert KeyStore(tmp_path / "keys2").daily_salt(day) != first


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A real S3 API (moto's server) on loopback, with one bucket; its keys prefix."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    for name, value in {
        "AWS_ACCESS_KEY_ID": "clearcount-test",
        "AWS_SECRET_ACCESS_KEY": "clearcount-test-secret",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
    }.items():
        monkeypatch.setenv(name, value)
    import boto3

    boto3.client("s3").create_bucket(Bucket="keys")
    try:
        yield "s3://keys/prod"
    finally:
        server.stop()


def _s3_secret(where: str) -> bytes:
    return KeyStore(Location.parse(where, Path("."))).site_secret("shop")


def test_collectors_racing_on_s3_get_one_site_secret_and_salt(s3: str) -> None:
    """Conditional writes (If-None-Match) make the first creator win, every other reads it."""
    with ThreadPoolExecutor(8) as pool:
        secrets = set(pool.map(_s3_secret, [s3] * 16))
    assert len(secrets) == 1
    day = dt.date(2026, 11, 24)
    with ThreadPoolExecutor(8) as pool:
        salts = set(
            pool.map(lambda _: KeyStore(Location.parse(s3, Path("."))).daily_salt(day), range(16))
        )
    assert len(salts) == 1
    store = KeyStore(Location.parse(s3, Path(".")))
    store.daily_salt(day + dt.timedelta(days=2))
    assert store.salt_days() == [day + dt.timedelta(days=2)]  # the old one destroyed on S3 too
