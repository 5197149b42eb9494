"""Sign in, sign out, and the front door that sends each role to its page."""

from __future__ import annotations

import structlog
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hub.accounts.service import SESSION_LIFETIME, SignedIn, sign_in, sign_out
from hub.tracking.ratelimit import client_wait
from hub.web.deps import COOKIE, check_csrf, current_user, hub_of, page_context, safe_next
from hub.web.templating import local_time, render
from plumbing.db.session import unit_of_work

router = APIRouter(include_in_schema=False)
log = structlog.get_logger(__name__)

HOME_BY_ROLE = {
    "agent": "/console",
    "supervisor": "/supervisor",
    "admin": "/supervisor",
    "committee": "/committee",
}


@router.get("/")
async def home(user: SignedIn = Depends(current_user)) -> Response:
    return RedirectResponse(HOME_BY_ROLE.get(user.role, "/sign-in"), status_code=303)


@router.get("/sign-in")
async def sign_in_page(request: Request) -> Response:
    return render(
        request, "sign_in.html", page_context(request, next=safe_next(request.query_params.get("next")))
    )


@router.post("/sign-in")
async def sign_in_submit(
    request: Request,
    username: str = Form(""),
    password: str = Form(""),
    next: str = Form("/"),
) -> Response:
    hub = hub_of(request)
    remote = request.client.host if request.client else None
    wait = await client_wait(hub, "sign-in", remote or "unknown", hub.settings.sign_in_attempts_per_minute)
    if wait is not None:
        log.info("sign_in.rate_limited", remote=remote)
        return HTMLResponse(
            f"<!doctype html><title>Too many requests</title><p>Too many sign-in attempts from here: try again "
            f"in {int(wait)} seconds.</p>",
            429,
            headers={"Retry-After": str(int(wait))},
        )
    async with unit_of_work(hub.sessionmaker) as session:
        result = await sign_in(
            session,
            username=username[:200],
            password=password[:1000],
            now=hub.dispatcher.clock(),
            remote=remote,
        )
    if result.user is None or result.token is None:
        log.info("sign_in.refused", username=username[:63], code=result.code)
        if result.code == "locked" and result.locked_until is not None:
            error = (
                "Too many failed sign-ins: this account is locked until "
                f"{local_time(result.locked_until, '%H:%M')}. Ask a supervisor if you need to get in sooner."
            )
            status = 423
        else:
            error = "That username and password do not match. After 5 failures in 15 minutes the account is locked."
            status = 401
        return render(
            request,
            "sign_in.html",
            page_context(request, error=error, username=username[:63], next=safe_next(next)),
            status_code=status,
        )
    log.info("sign_in.ok", username=result.user.username, role=result.user.role)
    target = safe_next(next)
    response = RedirectResponse(
        target if target != "/" else HOME_BY_ROLE.get(result.user.role, "/"), status_code=303
    )
    response.set_cookie(
        COOKIE,
        result.token,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/sign-out")
async def sign_out_submit(
    request: Request, csrf: str | None = Form(None), user: SignedIn = Depends(current_user)
) -> Response:
    check_csrf(request, csrf)
    hub = hub_of(request)
    async with unit_of_work(hub.sessionmaker) as session:
        await sign_out(session, request.state.session_token, now=hub.dispatcher.clock())
    log.info("sign_out", username=user.username)
    response = RedirectResponse("/sign-in?notice=signed_out", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response
