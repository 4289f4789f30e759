"""Mail clients and mail image proxies fetching the e-mail pixel are opens, not bots."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from tests import patience
from tests.integration.server import Server

pytestmark = pytest.mark.slow

READERS = {
    "outlook": "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17029; Pro)",
    "gmail": "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
    "yahoo": "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html",
    "apple": "Mail/3826.400.131.1.6 CFNetwork/1568.300.101 Darwin/24.2.0",
}


def test_every_mail_client_open_is_counted(tmp_path: Path) -> None:
    server = Server(tmp_path).start()
    try:
        for name, ua in READERS.items():
            response = requests.get(
                server.url + "/api/pixel.gif",
                params={"site": "shop", "c": f"dec-{name}"},
                headers={"User-Agent": ua, "X-Forwarded-For": "198.51.100.40"},
                timeout=patience.HTTP_S,
            )
            assert response.headers["Content-Type"] == "image/gif"
        assert server.wait_loaded("events WHERE type = 'open'", len(READERS)) == len(READERS)
        rows = server.query(
            "SELECT utm_campaign, device, source FROM events WHERE type = 'open' ORDER BY 1"
        )
        assert rows == [(f"dec-{n}", "email client", "email") for n in sorted(READERS)]
        assert server.query("SELECT count(*) FROM quarantine") == [(0,)]
    finally:
        server.stop()
