"""Fixtures shared by the suite: a pipeline context on a temporary data directory, one
Chromium, and the guarantees that no server outlives its test and no process the run."""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Callable, Generator, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, sync_playwright

from pipelines.lake.tables import close_views
from service.ingest.event import Client, Context, Dropped, Event
from service.ingest.pipeline import run
from service.privacy.keys import KeyStore
from service.settings import Settings
from service.sites import Site
from tests import leftovers, patience
from tests.integration.server import STARTED, demo_data

CHROME_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
NOW = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.UTC)


def make_site(**overrides: Any) -> Site:
    values: dict[str, Any] = {
        "id": "shop",
        "origins": ("https://shop.example",),
        "redirect_hosts": ("shop.example",),
    }
    values.update(overrides)
    return Site(**values)


@pytest.fixture
def make_ctx(tmp_path: Path) -> Callable[..., Context]:
    def _make(*sites: Site) -> Context:
        sites = sites or (make_site(),)
        return Context(
            settings=Settings(data_dir=tmp_path),
            sites={s.id: s for s in sites},
            keys=KeyStore(tmp_path / "keys"),
            clock=lambda: NOW,
        )

    return _make


def client(
    ip: str = "198.51.100.23",
    ua: str = CHROME_UA,
    *,
    dnt: bool = False,
    gpc: bool = False,
    origin: str | None = None,
    at: dt.datetime = NOW,
) -> Client:
    return Client(ip=ip, user_agent=ua, received_at=at, dnt=dnt, gpc=gpc, origin=origin)


def run_one(ctx: Context, payload: Mapping[str, Any], who: Client | None = None) -> Event | Dropped:
    return run(dict(payload), 0, who or client(), ctx)


# The demo traffic the dashboard, notebook, demo and surfaces tests read: built once a run.
DEMO_EVENTS, DEMO_DAYS, DEMO_SEED = 3000, 6, 11


@pytest.fixture(scope="session")
def demo_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One `clearcount demo` run for the whole test run, in its own folder; a module copies
    it (``copy_demo``) rather than sending traffic of its own. Under xdist the workers share
    it: the first to ask builds it while holding a file lock, the others wait on the lock."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # this run's folder, above each worker's own
    root, built = base / "demo", base / "demo.built"
    with (base / "demo.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not built.exists():
            shutil.rmtree(root, ignore_errors=True)  # what a failed build left
            demo_data(root, events=DEMO_EVENTS, days=DEMO_DAYS, seed=DEMO_SEED)
            built.touch()
    return root


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the whole run: Playwright's sync API allows one at a time."""
    from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def pytest_configure(config: pytest.Config) -> None:
    """Mark this run's environment: every process the suite starts inherits the mark (and
    the JVM options of its Spark reports).

    Each xdist worker extends the mark it inherited from the controller with its own
    name, so that whatever a worker starts is still found by the controller's sweep at
    the end of the run (see pytest_sessionfinish)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    run_id = os.environ.setdefault(leftovers.MARK, uuid.uuid4().hex)
    # The Spark reports here are short jobs over a few thousand rows, where the JVM's
    # optimizing compiler costs more than it earns: the client compiler alone runs them
    # a quarter faster (deployments keep the JVM's default).
    os.environ.setdefault(
        "PYSPARK_SUBMIT_ARGS", "--driver-java-options -XX:TieredStopAtLevel=1 pyspark-shell"
    )
    if worker:
        os.environ[leftovers.MARK] = leftovers.worker_mark(run_id, worker)


# The modules that take longest (minutes each on a 2-core machine: Spark, two collectors on
# one lake, the dashboard in Chromium), started first so that under xdist no worker is left
# running one of them alone at the end while the other has finished.
LONGEST_FIRST = (
    "tests/integration/test_many_collectors.py",
    "tests/integration/test_report.py",
    "tests/browser/test_dashboard.py",
    "tests/integration/test_rights.py",
    "tests/browser/test_beacon.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put the longest modules first, each in its own order (a stable sort)."""
    rank = {path: n for n, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    """Refuse two tests with one node id, as an error collecting their parent: xdist's
    workers report and schedule tests by id, and duplicates break the run. (An id is its
    parent's and its own name, so only siblings can share one.)"""
    report = yield
    if report.passed:
        ids = Counter(node.nodeid for node in report.result)
        twice = sorted(nodeid for nodeid, n in ids.items() if n > 1)
        if twice:
            report.outcome = "failed"
            report.longrepr = (
                f"{len(twice)} node id(s) collected more than once: {', '.join(twice)}; "
                "give each test a distinct id (a parametrize with one value will do)"
            )
            report.result = []
    return report


@pytest.fixture(autouse=True)
def _stop_servers_started_by_the_test() -> Iterator[None]:
    """Stop, after each test, the servers it started, whether it passed, failed or errored.

    Servers of module- and session-scoped fixtures start before this snapshot
    and are left to their fixture's own teardown.
    """
    before = len(STARTED)
    yield
    for server in STARTED[before:]:
        if server.running:
            server.kill()
    del STARTED[before:]


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if any process it started is still alive, and kill those that are.

    Under xdist the controller looks, after its workers have stopped (trylast: xdist
    stops them in its own sessionfinish), for what any of them started: a worker's
    exit status and output do not reach the run's, so a worker only stops its servers."""
    close_views()
    for server in STARTED:
        if server.running:
            server.kill()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    run_id = os.environ[leftovers.MARK]
    deadline = time.monotonic() + patience.seconds(10)  # processes being reaped right now
    left = leftovers.find(run_id)
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = leftovers.find(run_id)
    if left:
        leftovers.kill(left)
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        lines = [f"{len(left)} process(es) started by the tests were still running:"]
        lines += [f"  pid {p.pid}: {p.command}" for p in left]
        if reporter is not None:
            reporter.write_line("\n".join(lines), red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
