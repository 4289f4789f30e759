"""/dashboard: the site owner's view of their numbers (DESIGN §3, §8).

``GET /dashboard`` lists the sites; ``/dashboard/login`` takes a site's
``stats_token`` and answers with a signed session cookie (HttpOnly,
SameSite=Strict, Secure behind https, expiring); ``/dashboard/<site>`` shows
the view its URL describes to a session for that site or to a shared link
(``?auth=<share_token>``), and redirects anyone else to the login. Each
panel's CSV and a zip of all of them come from the same code as the page
and the Stats API. Wrong tokens are rate-limited per client network.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import logging
import time
import zipfile
from typing import Any
from urllib.parse import urlencode, urlsplit

import orjson
from flask import Blueprint, Response, request
from werkzeug.wrappers import Response as BaseResponse

from pipelines.analysis.metrics import METRICS, MetricsError
from pipelines.analysis.metrics.behaviour import VITALS
from pipelines.analysis.metrics.query import BUCKET_COLUMN
from pipelines.analysis.spreadsheet import spreadsheet_safe
from pipelines.analysis.stats import StatsError, query_from_args
from service.dashboard import heatmap, session
from service.dashboard.panels import PANEL_IDS, SERIES_METRICS, TOP_METRICS, View, build_view
from service.dashboard.render import e, login_page, page, picker_page
from service.demo_sites import public_url
from service.http.access import (
    current_session,
    may_read,
    same_token,
    session_key,
)
from service.http.demo import CSP as DEMO_CSP
from service.http.state import state
from service.sites import Site
from service.storage.shared_counts import LOGIN_ATTEMPTS

bp = Blueprint("dashboard", __name__)
log = logging.getLogger("clearcount.http")

# The Stats API parameters a dashboard URL may carry.
VIEW_ARGS = ("period", "date", "from", "to", "filters")

# The longest period a view shows: its chart has a point per day.
MAX_DAYS = 3660
# Columns whose null means "withheld" (a count, or a value worked out from one).
WITHHELD_COLUMNS = frozenset(
    {
        *METRICS,
        "value",
        "previous",
        "events",
        "opens",
        "clicks",
        "openers_who_clicked",
        "click_to_open",
        "engagements",
        "conversions",
        "conversion_rate",
        "drop_off",
        *VITALS,
    }
)

# The demo's policy, with forms allowed to post to the collector itself (login, period).
CSP = DEMO_CSP.replace("form-action 'none'", "form-action 'self'")
HTML_HEADERS = {
    "Content-Security-Policy": CSP,
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # a shared link's token stays out of other sites' logs
    "X-Content-Type-Options": "nosniff",
}


def _html(body: str, status: int = 200) -> Response:
    return Response(body, status=status, mimetype="text/html", headers=HTML_HEADERS)


def _redirect(location: str, status: int) -> BaseResponse:
    return Response(status=status, headers={"Location": location, "Cache-Control": "no-store"})


def _to_login(site_id: str) -> BaseResponse:
    return _redirect("/dashboard/login?" + urlencode({"site": site_id}), 302)


def _sites() -> list[Site]:
    return [s for s in state().ctx.sites.values() if s.stats_token]


def _secure() -> bool:
    """Behind https: the request's own scheme, which ProxyFix takes from a trusted proxy's
    X-Forwarded-Proto."""
    return request.is_secure


@bp.get("/dashboard")
def picker() -> BaseResponse:
    live = current_session(request)
    return _html(picker_page(_sites(), live.site if live else None))


@bp.get("/dashboard/login")
def login_form() -> BaseResponse:
    return _html(login_page(_sites(), request.args.get("site", "")))


def _cross_site() -> bool:
    """A form POST that another site's page made the browser send (login CSRF, a forced
    logout). A browser's ``Sec-Fetch-Site`` decides: ``same-origin`` or ``none`` (typed,
    a bookmark) is ours. Without it (a browser before Fetch Metadata), the ``Origin`` must
    be this collector's own: its address as the request reached it, or ``--public-url``
    (``null``, which a sandboxed frame sends, is not). A request with neither header
    (curl, a script) is no browser's cross-site one. The pages send no Referer
    (``Referrer-Policy: no-referrer``), so a browser's own form says ``Origin: null``:
    Fetch Metadata, which every current browser sends, is what tells them apart."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None:
        return fetch_site not in ("same-origin", "none")
    origin = request.headers.get("Origin")
    if origin is None:
        return False
    settings = state().ctx.settings
    own = {request.host_url.rstrip("/"), public_url(settings.public_url, settings.bind)}
    return origin not in {_origin_of(url) for url in own}


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _refuse_cross_site() -> BaseResponse:
    message = "This form can only be sent from the collector's own page."
    return _html(login_page(_sites(), "", message), 403)


@bp.post("/dashboard/login")
def login() -> BaseResponse:
    if _cross_site():
        return _refuse_cross_site()
    site_id = request.form.get("site", "")
    token = request.form.get("token", "")
    site = state().ctx.sites.get(site_id)
    # Every attempt counts at once (so parallel guesses on other workers count too); a
    # right token gives its attempt back: only wrong ones add up to the limit.
    app_state = state()
    attempts = app_state.shared_counts(LOGIN_ATTEMPTS, app_state.ctx.settings.login_rate_limit)
    attempt = attempts.take(app_state.client_network(request.remote_addr or ""), time.time())
    if attempt is None:
        limited = _html(
            login_page(_sites(), site_id, "Too many wrong tokens from your network; wait."), 429
        )
        limited.headers["Retry-After"] = str(attempts.retry_after_s())
        return limited
    if site is None or not same_token(site.stats_token, token):
        return _html(
            login_page(_sites(), site_id, "That token does not open this site's dashboard."), 401
        )
    attempts.give_back(attempt)
    settings = state().ctx.settings
    lifetime = settings.dashboard_session_hours * 3600
    response = _redirect(f"/dashboard/{site.id}", 303)
    response.set_cookie(
        session.COOKIE,
        session.sign(session_key(), site.id, token, time.time(), lifetime, session.new_sid()),
        max_age=lifetime,
        httponly=True,
        samesite="Strict",
        secure=_secure(),
        path="/",
    )
    return response


@bp.post("/dashboard/logout")
def logout() -> BaseResponse:
    if _cross_site():
        return _refuse_cross_site()
    live = current_session(request)
    if live is not None:  # the cookie's copies, wherever they are, open nothing from now on
        try:
            state().revocations().revoke(live.sid, live.expires)
        except Exception as exc:  # storage unreachable: the browser's cookie goes anyway
            log.error("session not revoked", extra={"error": type(exc).__name__})
    response = _redirect("/dashboard/login", 303)
    response.delete_cookie(session.COOKIE, path="/", httponly=True, samesite="Strict")
    return response


def _readable(site_id: str) -> Site | None:
    site = state().ctx.sites.get(site_id)
    if site is None or not may_read(request, site):
        return None
    return site


def _view(site: Site, only: str | None = None) -> View:
    ctx = state().ctx
    args = {k: v for k, v in request.args.items() if k in VIEW_ARGS}
    query = query_from_args(site, args, ctx.clock().date())
    if (query.date_to - query.date_from).days >= MAX_DAYS:
        raise StatsError(f"a dashboard period is at most {MAX_DAYS} days")
    if query.date_from == query.date_to:  # one day: by the hour
        query = dataclasses.replace(query, interval="hour")
    return build_view(ctx.settings.data_dir, query, only)


def _bad_view(exc: MetricsError) -> Response:
    body = picker_page(_sites(), None).replace(
        "<ul", f'<p class="error" role="alert">This view cannot be shown: {e(str(exc))}</p><ul', 1
    )
    return _html(body, 400)


class Refused(Exception):
    """A view route's answer instead of the view: the login, or why it cannot be shown."""

    def __init__(self, response: BaseResponse) -> None:
        super().__init__()
        self.response = response


def _open_view(site_id: str, only: str | None = None, *, html: bool = False) -> View:
    """The view a route shows, for a request that may read the site; else ``Refused``:
    to the login, or a 400 saying why (a page for the dashboard, text for downloads)."""
    site = _readable(site_id)
    if site is None:
        raise Refused(_to_login(site_id))
    try:
        return _view(site, only)
    except MetricsError as exc:
        if html:
            raise Refused(_bad_view(exc)) from None
        raise Refused(Response(f"{exc}\n", status=400, mimetype="text/plain")) from None


@bp.errorhandler(Refused)
def _refused(exc: Refused) -> BaseResponse:
    return exc.response


@bp.get("/dashboard/<site_id>")
def dashboard(site_id: str) -> BaseResponse:
    view = _open_view(site_id, html=True)
    site = view.query.site
    live = current_session(request)
    body = page(
        view,
        site,
        request.args,
        state().ctx.clock().date(),
        logged_in=live is not None and live.site == site.id,
    )
    return _html(body)


@bp.get("/dashboard/<site_id>/heatmap")
def heatmap_view(site_id: str) -> BaseResponse:
    site = _readable(site_id)
    if site is None:
        return _to_login(site_id)
    ctx = state().ctx
    try:
        args = {k: v for k, v in request.args.items() if k in VIEW_ARGS and k != "filters"}
        query = query_from_args(site, args, ctx.clock().date())
        view = heatmap.build(ctx.settings.data_dir, query, request.args)
    except MetricsError as exc:
        return _bad_view(exc)
    response = _html(heatmap.heatmap_page(view, site, request.args))
    origin = heatmap.frame_origin(site)
    if origin:  # the page beneath the map, from the site's own origin only
        response.headers["Content-Security-Policy"] = f"{CSP}; frame-src {origin}"
    return response


def _cell(column: str, value: Any, first: bool) -> Any:
    """A CSV cell: "withheld" for a suppressed count (null, as in the Stats API), "(none)"
    for a row without a value, empty for a change that cannot be worked out; text that a
    spreadsheet would run as a formula is quoted."""
    if value is None:
        if first:
            return "(none)"
        return "withheld" if column in WITHHELD_COLUMNS else ""
    if isinstance(value, str):
        return spreadsheet_safe(value)
    return value


def _csv(columns: list[str], rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(c, row.get(c), i == 0) for i, c in enumerate(columns)])
    return out.getvalue()


def _tables(view: View) -> dict[str, str]:
    """Every table of the view as CSV text, by file stem."""
    label = BUCKET_COLUMN[view.query.interval]
    out = {}
    if view.top:  # a view built for one panel's CSV holds that panel only
        out["top"] = _csv(
            ["metric", "value", "previous", "change"],
            [{"metric": n, **view.top[n]} for n in TOP_METRICS],
        )
        out["series"] = _csv([label, *SERIES_METRICS, "partial"], view.series)
    for panel in view.panels:
        out[panel.id] = _csv(panel.columns, panel.rows)
    return out


def _download(body: bytes, mimetype: str, filename: str) -> Response:
    return Response(
        body,
        mimetype=mimetype,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


@bp.get("/dashboard/<site_id>/csv/<panel>")
def panel_csv(site_id: str, panel: str) -> BaseResponse:
    if panel not in ("top", "series", *PANEL_IDS):
        if _readable(site_id) is None:
            return _to_login(site_id)
        return Response("no such panel\n", status=404, mimetype="text/plain")
    view = _open_view(site_id, only=panel)
    site = view.query.site
    text = _tables(view)[panel]
    return _download(text.encode(), "text/csv", f"{site.id}-{panel}.csv")


@bp.get("/dashboard/<site_id>/export.zip")
def export_zip(site_id: str) -> BaseResponse:
    view = _open_view(site_id)
    site = view.query.site
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in _tables(view).items():
            archive.writestr(f"{name}.csv", text)
        about = {
            "site": site.id,
            "from": view.query.date_from.isoformat(),
            "to": view.query.date_to.isoformat(),
            "filters": [{"property": n, "value": v} for n, v in view.query.filters],
            "k": site.k,
            "partial_day": view.query.partial_day.isoformat() if view.query.partial_day else None,
            "withheld_rows": {p.id: p.withheld for p in view.panels},
            "notes": {p.id: p.note for p in view.panels if p.note},
        }
        archive.writestr("view.json", orjson.dumps(about, option=orjson.OPT_INDENT_2))
    name = f"{site.id}-{view.query.date_from}-{view.query.date_to}.zip"
    return _download(buffer.getvalue(), "application/zip", name)
