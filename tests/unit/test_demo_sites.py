"""The demo sites file `serve` writes: origins from the bind, a token per site, every key explained."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from service.demo_sites import demo_sites_toml, ensure_sites_file, origins_for_bind
from service.sites import parse_sites


@pytest.mark.parametrize(
    ("bind", "origins"),
    [
        ("127.0.0.1:8000", ("http://127.0.0.1:8000", "http://localhost:8000")),
        ("127.0.0.1:8123", ("http://127.0.0.1:8123", "http://localhost:8123")),
        ("localhost:9000", ("http://localhost:9000", "http://127.0.0.1:9000")),
        ("[::1]:8000", ("http://[::1]:8000", "http://localhost:8000")),
        ("0.0.0.0:8000", ("http://127.0.0.1:8000", "http://localhost:8000")),
        ("[::]:8080", ("http://127.0.0.1:8080", "http://localhost:8080")),
        ("collector.example:80", ("http://collector.example",)),
        ("Collector.Example:8000", ("http://collector.example:8000",)),
        ("unix:/run/clearcount.sock", ("http://127.0.0.1:8000", "http://localhost:8000")),
    ],
)
def test_demo_origins_follow_the_bind(bind: str, origins: tuple[str, ...]) -> None:
    assert origins_for_bind(bind) == origins


def test_the_demo_file_is_valid_and_each_site_has_its_own_token() -> None:
    tokens = iter(("token-of-the-demo", "token-of-the-blog", "token-of-the-docs"))
    sites = parse_sites(demo_sites_toml("127.0.0.1:8123", lambda: next(tokens)))
    assert sites["demo"].origins == ("http://127.0.0.1:8123", "http://localhost:8123")
    assert {s.id: s.stats_token for s in sites.values()} == {
        "demo": "token-of-the-demo",
        "blog": "token-of-the-blog",
        "docs": "token-of-the-docs",
    }
    assert sites["docs"].default_consent == "denied"


def test_every_key_of_the_demo_site_is_explained_by_a_comment() -> None:
    lines = demo_sites_toml("127.0.0.1:8000").splitlines()
    demo = lines[lines.index("[sites.demo]") + 1 : lines.index("[sites.blog]")]
    for i, line in enumerate(demo):
        if "=" in line and not line.startswith(("#", " ")):
            assert demo[i - 1].startswith("#"), line


def test_the_file_is_written_once_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "sites.toml"
    assert ensure_sites_file(path, "127.0.0.1:8001") is True
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first = path.read_text()
    assert ensure_sites_file(path, "127.0.0.1:9999") is False
    assert path.read_text() == first
    assert [p.name for p in path.parent.iterdir()] == ["sites.toml"]
