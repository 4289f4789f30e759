"""The shipped production topology: nginx (deploy/nginx/clearcount.conf) in front of
`clearcount serve`, both on loopback. Slow and idle clients wait at the proxy; normal
requests still get through at once, and the client address reaches the collector only as
the one X-Forwarded-For entry nginx sets."""

from __future__ import annotations

import shutil
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from service.readiness import start_server, stop_group
from tests import patience
from tests.integration.server import ROOT, Server, free_port
from tests.integration.test_slow_clients import EVENT, UA, closed_by_server, hostile

pytestmark = pytest.mark.slow

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
SNIPPET = ROOT / "deploy" / "nginx" / "clearcount.conf"


def nginx_conf(prefix: Path, listen: int, upstream: int) -> Path:
    """The shipped snippet, pointed at loopback ports, inside a minimal main config."""
    snippet = SNIPPET.read_text()
    assert "server clearcount:8000;" in snippet
    assert "listen 8080;" in snippet
    snippet = snippet.replace("server clearcount:8000;", f"server 127.0.0.1:{upstream};")
    snippet = snippet.replace("listen 8080;", f"listen 127.0.0.1:{listen};")
    conf = prefix / "nginx.conf"
    temp = prefix / "temp"
    temp.mkdir(parents=True, exist_ok=True)
    conf.write_text(
        f"""worker_processes 1;
pid {prefix}/nginx.pid;
error_log stderr crit;
events {{ worker_connections 2048; }}
http {{
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
{snippet}
}}
"""
    )
    return conf


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str, Path]]:
    if not Path(NGINX).exists():
        pytest.fail("nginx is missing: `make test` installs Debian's nginx")
    root = tmp_path_factory.mktemp("proxy")
    # Trusts one proxy hop, as documented; timed as deployed, so the workers read the
    # User-Agent rules as they start rather than on a timed request.
    collector = Server(root / "collector", {"CLEARCOUNT_WARM_UP": "1"}).start()
    port = free_port()
    conf = nginx_conf(root / "nginx", port, collector.port)
    log = root / "nginx.log"
    with log.open("ab") as out:
        proxy = start_server(
            [
                NGINX,
                "-e",
                "stderr",
                "-p",
                str(root / "nginx"),
                "-c",
                str(conf),
                "-g",
                "daemon off;",
            ],
            ready_url=f"http://127.0.0.1:{port}/healthz",
            deadline_s=patience.START_S,
            output=out,
        )
    try:
        yield collector, f"http://127.0.0.1:{port}", log
    finally:
        stop_group(proxy, grace_s=patience.STOP_S)
        collector.stop()


def test_events_through_the_proxy_keep_the_client_address_only_from_nginx(
    stack: tuple[Server, str, Path],
) -> None:
    collector, proxy, _log = stack
    response = requests.post(
        proxy + "/api/event",
        json={**EVENT, "url": "https://shop.example/via-proxy", "consent": "granted"},
        # A forged entry: nginx replaces the header, so the collector never sees it.
        headers={**UA, "X-Forwarded-For": "198.51.100.7"},
        timeout=patience.HTTP_S,
    )
    assert response.status_code == 202
    assert collector.wait_loaded("events WHERE path = '/via-proxy'", 1) == 1
    (prefix,) = collector.query("SELECT ip_prefix FROM events WHERE path = '/via-proxy'")[0]
    assert prefix == "127.0.0.0/24"  # the real peer, as nginx saw it


def test_oversize_bodies_are_refused_at_the_proxy_in_json(
    stack: tuple[Server, str, Path],
) -> None:
    _collector, proxy, _log = stack
    response = requests.post(
        proxy + "/api/event",
        data=b"x" * 70_000,
        headers={**UA, "Content-Type": "application/json"},
        timeout=patience.HTTP_S,
    )
    assert response.status_code == 413
    assert response.json()["error"] == "oversize"


def test_slowloris_and_idle_connections_against_the_proxy(
    stack: tuple[Server, str, Path],
) -> None:
    collector, proxy, log = stack
    port = int(proxy.rsplit(":", 1)[1])
    took = []
    with hostile(port, slowloris=200, idle=200) as lorises:
        session = requests.Session()
        for _ in range(10):
            response = session.post(
                proxy + "/api/event", json=EVENT, headers=UA, timeout=patience.HTTP_S
            )
            assert response.status_code == 202
            took.append(response.elapsed.total_seconds())
        assert max(took) < patience.seconds(1.0), took
        time.sleep(8.0)  # past nginx's client_header_timeout
        dropped = sum(closed_by_server(s) for s in lorises)
    assert dropped == 200
    ranked = sorted(took)
    print(
        f"through nginx, 200 slowloris + 200 idle held: median {statistics.median(took) * 1000:.0f} ms,"
        f" max {ranked[-1] * 1000:.0f} ms"
    )
    assert "127.0.0.1" not in log.read_text()  # nginx logs no client address
    assert collector.running


def test_the_compose_file_wires_the_shipped_snippet() -> None:
    compose = (ROOT / "compose.yaml").read_text()
    assert "./deploy/nginx/clearcount.conf:/etc/nginx/conf.d/default.conf:ro" in compose
    assert 'CLEARCOUNT_TRUSTED_PROXIES: "1"' in compose
