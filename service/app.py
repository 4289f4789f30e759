"""create_app: the only place Flask is wired."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from service.http import (
    beacon,
    behaviour,
    collect,
    dashboard,
    demo,
    errors,
    health,
    home,
    openapi,
    rights,
    stats,
    tracking,
)
from service.http.cors import install_cors
from service.http.ratelimit import install_rate_limit
from service.http.state import AppState
from service.ingest.event import Context
from service.ingest.spool import SpoolWriter
from service.privacy.keys import KeyStore
from service.privacy.tombstones import Tombstones
from service.settings import Settings
from service.sites import Site, load_sites

MAX_BODY_BYTES = 64 * 1024


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def create_app(
    settings: Settings | None = None,
    *,
    sites: Mapping[str, Site] | None = None,
    clock: Callable[[], dt.datetime] = utc_now,
    housekeeping: bool = True,
) -> Flask:
    """A collector app; in a gunicorn worker it owns that worker's spool segment."""
    settings = settings or Settings.from_env()
    sites = sites if sites is not None else load_sites(settings.sites)
    keys = KeyStore(settings.keys_location)
    tombstones = Tombstones(keys.objects)
    tombstones.refresh()
    ctx = Context(settings=settings, sites=sites, keys=keys, clock=clock, tombstones=tombstones)
    spool = SpoolWriter(
        settings.spool_dir,
        max_bytes=settings.segment_max_bytes,
        max_age_s=settings.segment_max_age_s,
    )
    app_state = AppState(ctx=ctx, spool=spool)
    if housekeeping:
        app_state.start_housekeeping()

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["clearcount"] = app_state
    if settings.trusted_proxies > 0:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=settings.trusted_proxies, x_proto=settings.trusted_proxies
        )
    for blueprint in (
        home.bp,
        collect.bp,
        tracking.bp,
        rights.bp,
        stats.bp,
        dashboard.bp,
        health.bp,
        beacon.bp,
        behaviour.bp,
        openapi.bp,
    ):
        app.register_blueprint(blueprint)
    if settings.demo:
        app.register_blueprint(demo.bp)
    errors.register(app)
    install_cors(app, sites)
    install_rate_limit(app, settings, keys)
    return app
