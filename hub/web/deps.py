"""Who is signed in, what their role lets them open, and the pages shown when something is refused."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import quote

import structlog
from fastapi import Depends, FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from hub.accounts.service import SignedIn, csrf_matches, csrf_token, resolve_session
from hub.runtime import Hub
from hub.web.templating import LONDON, render
from plumbing.db.session import unit_of_work
from plumbing.problems import install_problem_handlers
from tenants.access import narrow_request_scope

COOKIE = "hub_session"


class SignInRequired(Exception):
    def __init__(self, *, expired: bool) -> None:
        super().__init__("sign in required")
        self.expired = expired


class PageError(Exception):
    """A refusal shown as a page with a plain sentence (404 for what the user may not know exists)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def hub_of(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


async def current_user(request: Request) -> SignedIn:
    token = request.cookies.get(COOKIE)
    if not token:
        raise SignInRequired(expired=False)
    hub = hub_of(request)
    async with unit_of_work(hub.sessionmaker) as session:
        user = await resolve_session(session, token, now=hub.dispatcher.clock())
    if user is None:
        raise SignInRequired(expired=True)
    request.state.session_token = token
    request.state.user = user
    structlog.contextvars.bind_contextvars(user=user.username, role=user.role, tenant=user.tenant)
    # From here on, row-level security shows only the user's partner and its agreement partners.
    await narrow_request_scope(hub.sessionmaker, user.tenant)
    return user


def role(*roles: str) -> Callable[..., Coroutine[Any, Any, SignedIn]]:
    """Only these roles (admin always passes) may open the page."""

    async def check(user: SignedIn = Depends(current_user)) -> SignedIn:
        if user.role != "admin" and user.role not in roles:
            raise PageError(
                403, f"This page is for the {' or '.join(roles)} role; you are signed in as {user.role}."
            )
        return user

    return check


def check_csrf(request: Request, given: str | None) -> None:
    token = getattr(request.state, "session_token", None)
    if token is None or not csrf_matches(token, given):
        raise PageError(403, "That form had expired. Go back, reload the page and try again.")


def page_context(request: Request, **values: Any) -> dict[str, Any]:
    """What every page template needs: the user, the form token and any notice to show."""
    token = getattr(request.state, "session_token", None)
    user = getattr(request.state, "user", None)
    tenants = hub_of(request).catalogue.current.tenants
    own = tenants.get(user.tenant) if user is not None and user.tenant else None
    return {
        "request": request,
        "user": user,
        "csrf": csrf_token(token) if token else "",
        "notice": request.query_params.get("notice"),
        # Names, not slugs, wherever a person reads (the catalogue last read: no I/O on every page).
        "partner_names": {slug: t.name for slug, t in tenants.items()},
        # Times read in the reader's partner's zone (a hub-wide user: the hub's default, Europe/London).
        "reader_zone": own.hours.zone if own is not None else LONDON,
        **values,
    }


def safe_next(value: str | None) -> str:
    """Only a path on this site, so a sign-in link cannot send anyone elsewhere."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


def _wants_page(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "text/event-stream" not in accept and request.headers.get("x-hub-fetch") is None


def install_error_pages(app: FastAPI) -> None:
    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, exc: SignInRequired) -> Response:
        notice = "session_expired" if exc.expired else "sign_in"
        if not _wants_page(request):
            response: Response = Response(status_code=401, headers={"X-Hub-Notice": notice})
        else:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            next_path = target if request.method == "GET" else "/"
            response = RedirectResponse(f"/sign-in?notice={notice}&next={quote(next_path)}", status_code=303)
        if exc.expired:
            response.delete_cookie(COOKIE, path="/")
        return response

    @app.exception_handler(PageError)
    async def _page_error(request: Request, exc: PageError) -> Response:
        return render(
            request,
            "error.html",
            page_context(request, message=exc.message, status=exc.status),
            status_code=exc.status,
        )

    # Form fields of the wrong type on a page route get a page, not the API's problem document (nothing is
    # echoed); everywhere else the API's shape.
    def _page_for(request: Request, exc: StarletteHTTPException) -> Response | None:
        if request.url.path.startswith(("/console", "/supervisor", "/committee", "/sign-")):
            return render(
                request,
                "error.html",
                page_context(request, message=str(exc.detail), status=exc.status_code),
                status_code=exc.status_code,
            )
        return None

    install_problem_handlers(app, http_fallback=_page_for)
