"""Who may read a site's numbers: the Stats API's Bearer token, a dashboard session, or a
shared link's ``auth=`` token.

One place decides for the Stats API and the dashboard, so a session that opens
the dashboard also answers the API calls its page makes, and a shared link
reads the site's numbers read-only, as its dashboard and the Stats API give them.
"""

from __future__ import annotations

import hmac
import time

from flask import Request

from service.dashboard import session
from service.http.state import state
from service.sites import Site


class Unauthorized(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def same_token(expected: str | None, given: str) -> bool:
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


def session_key() -> bytes:
    return state().ctx.keys.dashboard_session_key()


def _stats_token(site_id: str) -> str | None:
    site = state().ctx.sites.get(site_id)
    return site.stats_token if site is not None else None


def current_session(request: Request) -> session.Session | None:
    """The request's live session: signed, unexpired, opened with the site's token of
    now, and not logged out."""
    now = time.time()
    live = session.verify(session_key(), request.cookies.get(session.COOKIE), now, _stats_token)
    if live is None or state().revocations().is_revoked(live.sid, now):
        return None
    return live


def bearer_owner(request: Request) -> Site | None:
    header = request.headers.get("Authorization", "")
    token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
    return next((s for s in state().ctx.sites.values() if same_token(s.stats_token, token)), None)


def may_read(request: Request, site: Site) -> bool:
    """Whether this request may read ``site``'s numbers without a Bearer token: a live
    dashboard session for the site, or the site's share token in ``auth=``."""
    if same_token(site.share_token, request.args.get("auth", "")):
        return True
    live = current_session(request)
    return live is not None and live.site == site.id and bool(site.stats_token)


def authorized_site(request: Request) -> Site:
    """The site named by ``site=`` when the request may read it; else 401 or 403."""
    sites = state().ctx.sites
    named = sites.get(request.args.get("site", ""))
    if named is not None and may_read(request, named):
        return named
    if named is not None and not named.stats_token:
        raise Unauthorized(
            401, "this site has no stats_token in the sites file: set one to use the Stats API"
        )
    owner = bearer_owner(request)
    if owner is None:
        raise Unauthorized(401, "a valid Bearer token is required")
    if named is None or named.id != owner.id:
        raise Unauthorized(403, "this token is not for that site")
    return named
