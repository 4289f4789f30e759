"""The README's quick start, run as written: its curl event, its read-back, its Stats API call."""

from __future__ import annotations

import re
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests import patience, product
from tests.integration.server import ROOT, Server

pytestmark = pytest.mark.slow

QUICK_START = (ROOT / "README.md").read_text().split("## Quick start", 1)[1].split("\n## ", 1)[0]
BLOCKS = re.findall(r"```sh\n(.*?)```", QUICK_START, flags=re.S)


def block_with(text: str) -> str:
    return next(b for b in BLOCKS if text in b)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = Server(tmp_path_factory.mktemp("readme"), {"CLEARCOUNT_DEMO": "1"}, sites_toml=None)
    s.start()
    yield s
    s.stop()


def curl(command: str, base: str) -> requests.Response:
    """Run one of the README's curl lines with requests, against ``base``."""
    words = shlex.split(command.replace("\\\n", " "))
    headers, data, url = {}, None, ""
    for flag, value in zip(words, [*words[1:], ""], strict=True):
        if flag == "-H":
            name, _, val = value.partition(":")
            headers[name.strip()] = val.strip()
        elif flag == "-d":
            data = value
        elif value.startswith("http") and flag not in ("-H", "-d"):
            url = value
    url = url.replace("http://127.0.0.1:8000", base)
    method = "POST" if data is not None else "GET"
    return requests.request(method, url, headers=headers, data=data, timeout=patience.HTTP_S)


def printed_token(server: Server) -> str:
    match = re.search(r"Authorization: Bearer ([\w-]+)'", server.log_path.read_text())
    assert match is not None, "the first start prints the demo site's token"
    return match.group(1)


def test_the_quick_start_event_is_stored_scrubbed_and_read_back_whole(server: Server) -> None:
    command = block_with("curl -s -X POST").split("# {", 1)[0]
    response = curl(command, server.url)
    assert response.status_code == 202
    assert response.json() == {"accepted": 1, "rejected": []}
    assert server.wait_loaded("events", 1) == 1

    snippet = block_with("import duckdb")
    code = shlex.split(snippet.split("\n# ", 1)[0])[2]  # .venv/bin/python -c "<code>"
    out = subprocess.run(
        [product.python(), "-c", code],
        cwd=server.root,  # the README runs it where data/ is
        capture_output=True,
        text=True,
        timeout=patience.COMMAND_S,
        check=True,
    ).stdout
    # The point the README makes is visible in what it prints: the URL whole, the token gone.
    assert "'https://example.com/pricing?utm_source=newsletter'" in out
    assert "token" not in out


def test_the_stats_api_answers_with_the_printed_token(server: Server) -> None:
    command = block_with("api/stats/aggregate").strip().splitlines()[0]
    response = curl(command.replace("<stats_token>", printed_token(server)), server.url)
    assert response.status_code == 200
    assert {"visitors", "visits", "pageviews"} <= set(response.json()["results"])


def test_the_demo_refuses_an_address_already_in_use(server: Server, tmp_path: Path) -> None:
    result = server.cli("demo", "--bind", f"127.0.0.1:{server.port}", "--events", "10")
    assert result.returncode == 2
    assert "in use" in result.stderr
