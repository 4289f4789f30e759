"""clearcount serve: gunicorn and the loader as one command.

A small supervisor runs two children: gunicorn (the collector) and
``clearcount load --follow`` (the loader), restarting the loader should it
die. On SIGTERM or SIGINT it stops gunicorn first, whose workers hand their
open segments to the loader as they exit, then stops the loader, which
drains the spool one last time.

The same holds when the signal reaches the whole process group at once (Ctrl-C in a
terminal, ``kill -TERM -<pgid>``): the children start with SIGINT ignored
(service.interrupt), gunicorn stops gracefully on SIGTERM, and the loader ignores both
signals from its first instruction and stops only when the supervisor closes its
standard input, after gunicorn has exited. A loader that did not stop cleanly makes
``serve`` exit non-zero.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit

from pipelines.lake.tables import ensure_views
from pipelines.rights import audit
from service import interrupt
from service.demo_sites import ensure_sites_file, public_url
from service.privacy.keys import KeyStore
from service.settings import Settings, to_env
from service.sites import Site, load_sites
from service.storage.objects import S3Objects

log = logging.getLogger("clearcount.serve")

LOADER_STOP_TIMEOUT_S = 60


class StartError(Exception):
    """The collector must not start as configured; the message says what to do."""


def check_shared_state(settings: Settings) -> None:
    """Refuse what would silently break a promise: erasures an earlier version accepted
    (they wait in ``<data-dir>/erasure/``, where no loader looks any more), and site
    secrets left behind when ``--keys`` moved (new secrets would make every stored
    pseudonym unreachable by export and erasure)."""
    old_queue = settings.data_dir / "erasure"
    if any(any((old_queue / folder).glob("*")) for folder in ("pending", "tombstones")):
        raise StartError(
            f"{settings.data_dir / 'erasure'} holds erasures of an earlier clearcount: run "
            "`clearcount migrate-lake`, which moves them to the keys location"
        )
    local = settings.data_dir / "keys"
    if settings.keys_location.path == local.resolve() or not local.is_dir():
        return
    shared = set(KeyStore(settings.keys_location).objects.list(""))
    stranded = sorted(p.name for p in local.glob("*.secret") if p.name not in shared)
    if stranded:
        raise StartError(
            f"{local} holds {', '.join(stranded)}, which {settings.keys_location} lacks: copy "
            "them there first (every stored pseudonym was made with them), then start again"
        )


def warn_about_versioned_buckets(settings: Settings) -> None:
    """A versioned bucket keeps what clearcount deletes (destroyed salts, erased rows, the
    erasure queue) as noncurrent versions: say so at every start."""
    for location in {settings.lake_location, settings.keys_location}:
        if not location.is_s3:
            continue
        objects = S3Objects(location)
        try:
            status = objects.client.get_bucket_versioning(Bucket=location.bucket).get("Status")
        except Exception as exc:  # no permission to ask: nothing to say
            log.info("bucket versioning unknown", extra={"error": type(exc).__name__})
            continue
        if status in ("Enabled", "Suspended"):
            log.warning(
                "bucket keeps deleted objects as old versions: expire noncurrent versions "
                "(a lifecycle rule) or erasure and salt destruction do not reach them",
                extra={"bucket": location.bucket},
            )


def check_public_url(url: str) -> None:
    """``--public-url`` is an http(s) origin, perhaps with a path prefix: nothing else can
    stand before ``/beacon.js`` in a tag."""
    if not url:
        return
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise StartError(
            "--public-url (CLEARCOUNT_PUBLIC_URL) must be an http(s) URL such as "
            "https://stats.example.com, with no query or fragment"
        )


def prepare(settings: Settings) -> dict[str, str]:
    """Data directory, views and metrics directory; the children's environment."""
    load_sites(settings.sites)  # fail here, readably, rather than in every worker
    check_public_url(settings.public_url)
    check_shared_state(settings)
    warn_about_versioned_buckets(settings)
    (settings.data_dir / "spool").mkdir(parents=True, exist_ok=True)
    ensure_views(settings.data_dir)
    metrics_dir = settings.data_dir / "run" / "metrics"
    shutil.rmtree(metrics_dir, ignore_errors=True)  # stale files would double-count
    metrics_dir.mkdir(parents=True)
    env = dict(os.environ)
    env.update(to_env(settings))
    env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir.resolve())
    return env


def _start_loader(env: dict[str, str]) -> subprocess.Popen[bytes]:
    """The loader, stopped by closing its standard input (``load --supervised``), deaf to
    SIGINT and SIGTERM from before it runs a line (a group signal during its imports would
    otherwise end it before the last drain)."""
    return subprocess.Popen(
        [sys.executable, "-m", "service.cli", "load", "--follow", "--supervised"],
        env=env,
        stdin=subprocess.PIPE,
        preexec_fn=interrupt.ignore_stop_signals,  # the signals only: safe before exec
    )


def _stop_loader(loader: subprocess.Popen[bytes]) -> None:
    """Close the loader's input, so it drains the spool once more and exits; kill it if it
    has not within LOADER_STOP_TIMEOUT_S."""
    if loader.stdin is not None:
        with contextlib.suppress(OSError):
            loader.stdin.close()
    try:
        loader.wait(LOADER_STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        loader.kill()
        loader.wait()


def banner(settings: Settings, sites: Mapping[str, Site], *, sites_written: bool) -> str:
    """What a person starting the collector needs first: where to look, and the API token."""
    url = public_url(settings.public_url, settings.bind)
    rows = [("about this collector", f"{url}/")]
    first = next((s for s in sites.values() if s.stats_token), None)
    if first is not None:
        rows.append(("dashboard", f"{url}/dashboard/{first.id}"))
        where = f"below, and in {settings.sites}" if sites_written else f"in {settings.sites}"
        rows.append(("sign in with", f"the site's stats_token ({where})"))
    if settings.demo:
        rows.append(("demo shop", f"{url}/demo"))
    rows.append(("Stats API token", f"stats_token of each site in {settings.sites.resolve()}"))
    if first is not None:
        token = first.stats_token if sites_written else "<stats_token>"
        rows.append(
            (
                "try",
                f"curl -H 'Authorization: Bearer {token}' "
                f"'{url}/api/stats/aggregate?site={first.id}'",
            )
        )
    width = max(len(label) for label, _ in rows) + 2
    lines = [f"clearcount is collecting on {url}"]
    lines += [f"  {label.ljust(width)}{value}" for label, value in rows]
    return "\n".join(lines)


def serve(settings: Settings) -> int:
    sites_written = ensure_sites_file(settings.sites, settings.bind)
    if sites_written:
        log.info("wrote a demo sites file", extra={"path": str(settings.sites)})
    env = prepare(settings) | {interrupt.SUPERVISED: "1"}
    stopping = False
    gunicorn: subprocess.Popen[bytes] | None = None

    def _stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        if gunicorn is not None and gunicorn.poll() is None:
            gunicorn.send_signal(signal.SIGTERM)

    # Installed before the children exist: a signal while they start is acted on.
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    loader = _start_loader(env)
    gunicorn = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "python:service.gunicorn_conf",
            "service.wsgi:app",
        ],
        env=env,
        preexec_fn=interrupt.ignore_interrupts,  # the signals only: safe before exec
    )
    if stopping:  # asked to stop while it started
        gunicorn.send_signal(signal.SIGTERM)
    log.info("serving", extra={"bind": settings.bind, "data_dir": str(Path(settings.data_dir))})
    # The token is shown only when this start generated it, for a demo file nobody edited yet.
    print(banner(settings, load_sites(settings.sites), sites_written=sites_written), flush=True)
    audit.record(
        settings.data_dir,
        "serve_start",
        actor="operator",
        bind=settings.bind,
        workers=settings.workers,
        demo=settings.demo,
        backfill=settings.backfill,
    )
    while True:
        code = gunicorn.poll()
        if code is not None:
            break
        if loader.poll() is not None and not stopping:
            log.error("loader exited; restarting it", extra={"code": loader.returncode})
            _stop_loader(loader)  # reaped, its pipe closed
            loader = _start_loader(env)
        time.sleep(0.2)
    _stop_loader(loader)
    log.info("stopped", extra={"gunicorn": code, "loader": loader.returncode})
    audit.record(
        settings.data_dir, "serve_stop", actor="operator", gunicorn=code, loader=loader.returncode
    )
    if loader.returncode != 0:
        log.error("the loader did not stop cleanly", extra={"code": loader.returncode})
        return 1
    return 0 if stopping else code
