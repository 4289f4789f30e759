"""A real ``clearcount serve`` (gunicorn + loader) on a free loopback port."""

from __future__ import annotations

import csv
import itertools
import os
import random
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import requests

from pipelines.lake import rollups
from pipelines.lake.tables import Lake, ensure_views, open_views
from service.readiness import NotReady, kill_group, start_server, stop_group
from service.storage.location import Location
from tests import patience, product

ROOT = Path(__file__).resolve().parents[2]

SITES_TOML = """\
[sites.shop]
origins = ["https://shop.example"]
redirect_hosts = ["shop.example"]
default_consent = "implied"
query_allowlist = ["utm_source", "utm_medium", "utm_campaign", "ref", "q"]
spam_referrers = ["spam.example"]
heatmaps = true
vitals = true

[sites.optin]
origins = ["https://optin.example"]
default_consent = "denied"
require_opt_in = true

[sites.nodnt]
origins = ["https://nodnt.example"]
honor_dnt = false
"""


# Every server started in this run, so that none outlives the test that started it.
STARTED: list[Server] = []


# Under pytest-xdist each worker takes ports from its own block, below Linux's ephemeral
# range (32768 and up), where no outgoing connection is given one: two workers cannot pick
# the same port in the moment between choosing it and their server binding it. Each block
# is walked from a random place, so a second suite on the machine rarely meets the first.
FIRST_WORKER_PORT = 20_000
PORTS_PER_WORKER = 500
WORKER_BLOCKS = 25  # gw0 to gw24; a worker beyond asks the kernel, as a lone run does
_next_in_block = itertools.count(random.randrange(PORTS_PER_WORKER))  # noqa: S311 (not a secret)


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port() -> int:
    """A loopback port nothing is bound to: the kernel's pick, or one of this xdist worker's."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    number = int(worker[2:]) if worker[:2] == "gw" and worker[2:].isdigit() else WORKER_BLOCKS
    if number < WORKER_BLOCKS:
        first = FIRST_WORKER_PORT + number * PORTS_PER_WORKER
        for _ in range(PORTS_PER_WORKER):
            port = first + next(_next_in_block) % PORTS_PER_WORKER
            if _bindable(port):
                return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        kernels: int = s.getsockname()[1]
        return kernels


@dataclass
class Server:
    root: Path
    env_overrides: dict[str, str] = field(default_factory=dict)
    sites_toml: str | None = SITES_TOML  # None: `serve` writes its demo file, as on a first run
    proc: subprocess.Popen[bytes] | None = None
    port: int = 0

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_path(self) -> Path:
        return self.root / "server.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLEARCOUNT_")}
        env.update(
            {
                "CLEARCOUNT_DATA_DIR": str(self.data_dir),
                "CLEARCOUNT_SITES": str(self.root / "sites.toml"),
                "CLEARCOUNT_BIND": f"127.0.0.1:{self.port}",
                "CLEARCOUNT_TRUSTED_PROXIES": "1",
                "CLEARCOUNT_RATE_LIMIT": "0",
                "CLEARCOUNT_FORGET_RATE_LIMIT": "0",  # tests/integration/test_forget_flood.py
                "CLEARCOUNT_SEGMENT_MAX_AGE_S": "0.5",
                "CLEARCOUNT_LOAD_INTERVAL_S": "0.3",
                # The warm-up costs the master 1 to 2 s of CPU, which most servers here do
                # not live long enough to need. The browser tests' collector, up for the whole
                # run, keeps it, and so do the tests that time requests (slow clients, proxy).
                "CLEARCOUNT_WARM_UP": "0",
                "HOME": str(self.root),
            }
        )
        env.update(self.env_overrides)
        return env

    def start(self) -> Server:
        """Start ``clearcount serve`` in its own process group; return once it answers.

        A start that fails kills the whole group before raising, and every
        server started is registered, so the suite stops it even when the test
        that started it errors (see tests/conftest.py).
        """
        self.root.mkdir(parents=True, exist_ok=True)
        sites = self.root / "sites.toml"
        if not sites.exists() and self.sites_toml is not None:
            sites.write_text(self.sites_toml)
        self.port = self.port or free_port()
        with self.log_path.open("ab") as log:
            try:
                self.proc = start_server(
                    [*product.clearcount(), "serve"],
                    ready_url=self.url + "/healthz",
                    deadline_s=patience.START_S,
                    env=self.env(),
                    cwd=ROOT,
                    output=log,
                )
            except NotReady as exc:
                raise RuntimeError(f"{exc}:\n{self.log_path.read_text()[-5000:]}") from None
        STARTED.append(self)
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        """SIGTERM, as an operator would: gunicorn drains, then the loader drains the spool."""
        if self.proc is None:
            return
        was_running = self.running
        code = stop_group(self.proc, grace_s=patience.STOP_S)
        if was_running and code is None:
            raise RuntimeError(f"server did not stop within {patience.STOP_S:g} s; killed")
        log = self.log_path.read_text(errors="replace")
        for crash in CRASHES:
            if crash in log:
                raise RuntimeError(f"a process of the server crashed ({crash!r}):\n{log[-5000:]}")

    def kill(self) -> None:
        """SIGKILL the whole process group: master, workers and loader at once."""
        if self.proc is not None:
            kill_group(self.proc)

    def post(
        self, body: Any, headers: dict[str, str] | None = None, **kw: Any
    ) -> requests.Response:
        return requests.post(
            self.url + "/api/event", json=body, headers=headers or {}, timeout=patience.HTTP_S, **kw
        )

    def wait_loaded(self, table: str, count: int, timeout_s: float = patience.LOADED_S) -> int:
        deadline = time.monotonic() + timeout_s
        n = -1
        while time.monotonic() < deadline:
            n = self.query(f"SELECT count(*) FROM {table}")[0][0]  # noqa: S608 (table names are ours)
            if n >= count:
                self.wait_rollups(deadline)
                return n
            time.sleep(0.2)
        return n

    def wait_rollups(self, deadline: float) -> None:
        """Until the sessions rollup reflects the events table (the loader refreshes it
        right after its rounds): the Stats API and the dashboard read it. Local lakes only
        (the tests that put the lake elsewhere read the tables themselves)."""
        if self.env().get("CLEARCOUNT_LAKE"):
            return
        lake = Lake(Location.parse("", self.data_dir / "lake"))
        while time.monotonic() < deadline and not rollups.is_current(lake):
            time.sleep(0.1)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """A ``clearcount`` command against this server's data directory and sites."""
        return run_cli(*args, data_dir=self.data_dir, sites=self.root / "sites.toml")

    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        """A read-only query of the views, through one DuckDB instance per data directory
        (as clearcount's own readers do: loading the Delta reader costs 0.3 s an instance)."""
        con = open_views(self.data_dir)
        try:
            return con.execute(sql, params or []).fetchall()
        finally:
            con.close()


# What a crashed worker or library leaves in the server's log (a SIGKILL a test sends is
# logged differently, as "was sent SIGKILL").
CRASHES: Final = ("terminate called", "was sent SIGABRT", "was sent SIGSEGV", "Segmentation fault")


def read_csv(path: Path) -> list[dict[str, str]]:
    """A report table as the CSV a reader opens: every cell a string."""
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def run_cli(
    *args: str, data_dir: Path, sites: Path, extra: str | None = None
) -> subprocess.CompletedProcess[str]:
    """A ``clearcount`` command from the base install; with ``extra`` (a feature of that
    extra, such as ``report --engine spark``), from the install that has it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLEARCOUNT_")}
    command = product.clearcount() if extra is None else product.with_extra(extra)
    return subprocess.run(
        [
            *command,
            *args,
            "--data-dir",
            str(data_dir),
            "--sites",
            str(sites),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=patience.COMMAND_S,
        check=False,
    )


def demo_data(root: Path, *, events: int, days: int, seed: int) -> Path:
    """Run ``clearcount demo`` with its own collector into ``root/data``; the data dir."""
    result = run_cli(
        "demo",
        "--events",
        str(events),
        "--days",
        str(days),
        "--seed",
        str(seed),
        "--bind",
        f"127.0.0.1:{free_port()}",
        data_dir=root / "data",
        sites=root / "sites.toml",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "sent" in result.stdout
    return root / "data"


def copy_demo(source: Path, root: Path) -> Path:
    """A copy of demo traffic made by ``demo_data`` in ``source`` (its sites file and data
    directory) into ``root``, the views pointed at the copy's own lake; the data directory."""
    shutil.copytree(source, root, symlinks=True, dirs_exist_ok=True)
    ensure_views(root / "data")
    return root / "data"
