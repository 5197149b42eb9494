"""Public endpoints: the satisfaction survey a citizen answers, and Prometheus' /metrics."""

from __future__ import annotations

import html
import secrets
from datetime import UTC, datetime

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest

from backoffice.queries import backlog as backoffice_backlog
from figures.satisfaction import RATINGS, SurveyError, record_rating
from plumbing.db.session import unit_of_work
from plumbing.problems import Problem
from routing.queries import enquiries_received, oldest_queued, rejections_by_claimed_partner
from tenants.agreements.service import readable_agreements
from tenants.queries import agents_by_status

router = APIRouter(tags=["public"])

# The resident's pages share the tracking page's stylesheet: the site's policy allows no inline style.
_PAGE = """<!doctype html><html lang="en-GB"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>How did we do?</title>
<link rel="stylesheet" href="/static/track.css"></head>
<body><header>Your council's contact centre</header><main><h1>How did we do?</h1>{body}</main></body></html>"""


@router.get("/survey/{token}", response_class=HTMLResponse, summary="The satisfaction survey form")
async def survey_form(token: str) -> HTMLResponse:
    buttons = "".join(f'<button name="rating" value="{r}">{r.title()}</button>' for r in RATINGS)
    body = f'<p>Please rate the help you had from the council contact centre.</p><form method="post">{buttons}</form>'
    return HTMLResponse(_PAGE.format(body=body))


@router.post("/survey/{token}", response_class=HTMLResponse, summary="Record a rating (once)")
async def survey_answer(token: str, request: Request, rating: str = Form(...)) -> HTMLResponse:
    try:
        async with unit_of_work(request.app.state.hub.sessionmaker) as session:
            await record_rating(session, token=token, rating=rating, now=datetime.now(UTC))
    except SurveyError as exc:
        status = 404 if "unknown" in str(exc) else 400
        return HTMLResponse(_PAGE.format(body=f"<p>{html.escape(str(exc))}.</p>"), status_code=status)
    return HTMLResponse(_PAGE.format(body="<p>Thank you: your answer is recorded.</p>"))


def _check_scraper(request: Request) -> None:
    """Partner figures go only to the scraper holding ``metrics_token``, or anyone when ``metrics_public``."""
    settings = request.app.state.hub.settings
    if settings.metrics_public:
        return
    if settings.metrics_token is None:
        raise Problem(
            403,
            "metrics_not_configured",
            "/metrics shows partners' figures: set HUB_METRICS_TOKEN (and give it to the scraper), or "
            "HUB_METRICS_PUBLIC=true when only your monitoring can reach this listener",
        )
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secrets.compare_digest(
        given.strip().encode(), settings.metrics_token.encode()
    ):
        raise Problem(
            401,
            "unauthenticated",
            "/metrics needs the metrics bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )


@router.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics, labelled by partner")
async def prometheus(request: Request) -> PlainTextResponse:
    """Read at scrape time from the live state and the database, so every process reports the same truth."""
    _check_scraper(request)
    hub = request.app.state.hub
    registry = CollectorRegistry()
    depth = Gauge("hub_queue_depth", "Enquiries waiting now", ["tenant", "service"], registry=registry)
    oldest = Gauge("hub_oldest_wait_seconds", "Longest current wait", ["tenant"], registry=registry)
    agents = Gauge("hub_agents", "Agents by status", ["tenant", "status"], registry=registry)
    received = Gauge(
        "hub_enquiries_received_total",
        "Enquiries accepted since the start (a counter read from the database)",
        ["tenant"],
        registry=registry,
    )
    backlog = Gauge(
        "hub_backoffice_backlog",
        "Back-office deliveries waiting (pending) or parked",
        ["tenant", "status"],
        registry=registry,
    )
    rejected = Gauge(
        "hub_intake_rejections_total", "Messages refused since the start", ["tenant"], registry=registry
    )
    invalid = Gauge(
        "hub_agreements_invalid",
        "Stored agreements that no longer validate: skipped by the router until written again",
        ["agreement"],
        registry=registry,
    )
    per_service: dict[tuple[str, str], int] = {}
    for queue, count in (await hub.live.queue_depths()).items():
        tenant, _, service = queue.partition("/")
        key = (tenant, service.removesuffix("+text"))  # calls and text work wait apart; one service to watch
        per_service[key] = per_service.get(key, 0) + count
    for (tenant, service), count in per_service.items():
        depth.labels(tenant, service).set(count)
    now = datetime.now(UTC)
    async with hub.sessionmaker() as session:
        for tenant, since in await oldest_queued(session):
            if since is not None:
                since = since if since.tzinfo else since.replace(tzinfo=UTC)
                oldest.labels(tenant).set((now - since).total_seconds())
        for tenant, status, count in await agents_by_status(session):
            agents.labels(tenant, status).set(count)
        for tenant, count in await enquiries_received(session):
            received.labels(tenant).set(count)
        for claimed, count in await rejections_by_claimed_partner(session):
            rejected.labels(claimed or "unknown").set(count)
        for tenant, status, count in await backoffice_backlog(session):
            backlog.labels(tenant, status).set(count)
        for skipped in (await readable_agreements(session))[1]:
            invalid.labels(skipped.id).set(1)
    return PlainTextResponse(generate_latest(registry).decode(), media_type=CONTENT_TYPE_LATEST)
