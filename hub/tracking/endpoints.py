"""``/track/<reference>``: the citizen's page (HTML) and the same as JSON (``.json`` or ``Accept``), rate-limited."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from hub.tracking.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from hub.tracking.service import track
from plumbing.problems import problem_response
from routing.live.redis_state import RedisLiveState

log = structlog.get_logger(__name__)
router = APIRouter(tags=["tracking"])
# Nothing about an enquiry is cached or indexed anywhere, nor leaked to the next site in a Referer.
PRIVATE_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"}


def _long_date(value: date | datetime, zone: str = "Europe/London") -> str:
    """A date as a person writes it; a moment on the council's own calendar (``zone``)."""
    if isinstance(value, datetime):
        value = value.astimezone(ZoneInfo(zone)).date()
    return f"{value.day} {value:%B %Y}"


def _long_datetime(value: datetime, zone: str = "Europe/London") -> str:
    local = value.astimezone(ZoneInfo(zone))
    return f"{local.day} {local:%B %Y} at {local:%H:%M}"


templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent), autoescape=select_autoescape(["html"]), enable_async=False
)
templates.filters["long_date"] = _long_date
templates.filters["long_datetime"] = _long_datetime


def _limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter | None = getattr(request.app.state, "tracking_limiter", None)
    if limiter is None:
        hub = request.app.state.hub
        per_minute = hub.settings.tracking_requests_per_minute
        if isinstance(hub.live, RedisLiveState):
            limiter = RedisRateLimiter(hub.live.redis, hub.settings.redis_prefix, per_minute)
        else:
            limiter = MemoryRateLimiter(per_minute)
        request.app.state.tracking_limiter = limiter
    return limiter


async def _too_many(request: Request, wants_json: bool) -> Response | None:
    client = request.client.host if request.client else "unknown"
    try:
        wait = await _limiter(request).hit(f"track:{client}")
    except Exception as exc:  # the limiter is a guard, not a dependency: Redis down must not hide the page
        log.warning("tracking.rate_limiter_failed", error=str(exc)[:200])
        return None
    if wait is None:
        return None
    headers = {**PRIVATE_HEADERS, "Retry-After": str(int(wait))}
    message = f"Too many requests: try again in {int(wait)} seconds."
    if wants_json:
        return problem_response(429, "rate_limited", message, headers=headers)
    return HTMLResponse(
        f"<!doctype html><title>Too many requests</title><p>{message}</p>", 429, headers=headers
    )


def _wants_json(request: Request, reference: str) -> bool:
    if reference.endswith(".json"):
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def _html(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(templates.get_template(name).render(**context), status, headers=PRIVATE_HEADERS)


@router.get("/track", response_class=HTMLResponse, summary="Find an enquiry by its reference")
async def find(request: Request, reference: str | None = None) -> Response:
    if reference and reference.strip():
        return RedirectResponse(f"/track/{reference.strip().upper()}", status_code=303)
    return _html("find.html")


@router.get(
    "/track/{reference}",
    summary="An enquiry's progress (HTML; JSON with .json or Accept: application/json)",
    responses={404: {"description": "no enquiry with this reference"}, 429: {"description": "slow down"}},
)
async def tracking_page(reference: str, request: Request) -> Response:
    wants_json = _wants_json(request, reference)
    reference = reference.removesuffix(".json")
    if limited := await _too_many(request, wants_json):
        return limited
    async with request.app.state.hub.sessionmaker() as session:
        view = await track(session, reference)
    if view is None:
        if wants_json:
            return problem_response(
                404, "unknown_reference", "no enquiry has this reference", headers=PRIVATE_HEADERS
            )
        return _html("find.html", 404, missing=reference.strip().upper()[:32])
    if wants_json:
        return JSONResponse(view.as_json(), headers={**PRIVATE_HEADERS, "Vary": "Accept"})
    response = _html("track.html", view=view, json_url=f"/track/{view.reference}.json")
    response.headers["Vary"] = "Accept"
    return response
