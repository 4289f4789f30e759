"""Keys: created once, shared, private; salts destroyed after 48 hours."""

from __future__ import annotations

import datetime as dt
import stat
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from service.privacy.keys import KeyStore


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
