"""The FastAPI application: routers, error shapes, request logging, and the hub's lifespan."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.types import ASGIApp, Receive, Scope, Send

from backoffice import endpoints as backoffice_endpoints
from figures import endpoints as metrics_endpoints
from hub.api import health
from hub.api import prometheus as public_metrics
from hub.api.docs import install_docs
from hub.open311.endpoints import Open311Mount
from hub.runtime import Hub, revocation_marker, settle_heap
from hub.tracking import endpoints as tracking_endpoints
from hub.web import install as install_web
from plumbing import tracing
from plumbing.auth.service import Authenticator
from plumbing.bounded import BoundedInput
from plumbing.db.scope import ALL_PARTNERS, tenant_scope
from plumbing.problems import install_problem_handlers, problem_response
from plumbing.settings import Settings, get_settings
from routing.dispatch import customer_endpoints, enquiry_endpoints
from routing.dispatch import endpoints as agent_endpoints
from tenants import endpoints as admin_endpoints
from tenants import sharing_endpoints
from tenants.access import partners_in
from tenants.agreements import endpoints as agreement_endpoints
from whatif import endpoints as whatif_endpoints

log = structlog.get_logger(__name__)


class RequestContext:
    """Bind a request id for every log line of the request (plain ASGI, so it wraps everything)."""

    def __init__(self, app: ASGIApp, slow_ms: float = 0.0) -> None:
        self.app = app
        self.slow_ms = slow_ms  # a request this slow is logged with its steps (plumbing/tracing.py)
        if slow_ms:
            tracing.watch_collector()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=uuid.uuid4().hex[:12], path=scope["path"])
        # Authentication lookups and the endpoints' own partner checks run in the hub-wide scope; see
        # docs/guarantees.md for what row-level security adds (and what it does not, yet, narrow per request).
        steps = tracing.begin()
        try:
            with tenant_scope(ALL_PARTNERS):
                await self.app(scope, receive, send)
        finally:
            tracing.end(steps, self.slow_ms, path=scope["path"])


def _is_data_error(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return False
        if isinstance(seen, asyncpg.exceptions.DataError) or type(seen).__name__ == "DataError":
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__
    return False


def _install(app: FastAPI, hub: Hub) -> None:
    """The running hub, and the token check with the partner-scope rule handed down to it."""
    app.state.hub = hub
    app.state.authenticator = Authenticator(hub.sessionmaker, partners_in, revocations=revocation_marker(hub))


def create_app(hub: Hub | None = None, settings: Settings | None = None) -> FastAPI:
    """The app; given a running ``hub`` (tests, demo) it uses it, otherwise it starts its own."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if hub is not None:
            yield
            return
        own = await Hub.start(settings or get_settings())
        _install(app, own)
        settle_heap()
        try:
            yield
        finally:
            await own.close()

    app = FastAPI(
        title="Shared contact-centre hub",
        version="1.0",
        description="Partner councils' enquiries, one shared queue of agents, and figures the committee can trust.",
        lifespan=lifespan,
        docs_url=None,  # served by hub.api.docs from the package's own assets (no CDN)
        redoc_url=None,
    )
    if hub is not None:
        _install(app, hub)
    limits = hub.settings if hub is not None else settings or get_settings()
    app.add_middleware(RequestContext, slow_ms=limits.trace_slow_ms)
    # Outermost: no route reads more than the limit, and no JSON body with a non-finite number reaches one.
    app.add_middleware(BoundedInput, max_body_bytes=limits.http_max_body_bytes)

    install_problem_handlers(app)

    @app.exception_handler(DBAPIError)
    async def _data_error(_request: Request, exc: DBAPIError) -> JSONResponse:
        # A value the database cannot take (a number beyond its column's range, a NUL in text) is the caller's
        # mistake: 422, never a 500. Anything else is re-raised as the server error it is.
        if not _is_data_error(exc):
            raise exc
        log.info("request.bad_value", error=str(exc.orig)[:200])
        return problem_response(
            422, "invalid_value", "a value in the request is out of range or not storable"
        )

    install_docs(app)
    app.include_router(health.router)
    app.include_router(agent_endpoints.router)
    app.include_router(metrics_endpoints.router)
    app.include_router(public_metrics.router)
    app.include_router(admin_endpoints.router)
    app.include_router(enquiry_endpoints.router)
    app.include_router(agreement_endpoints.router)
    app.include_router(sharing_endpoints.router)
    app.include_router(customer_endpoints.router)
    app.include_router(whatif_endpoints.router)
    # Before the Open311 mount: mySociety's POST servicerequestupdates lives with the back-office updates.
    app.include_router(backoffice_endpoints.router)
    app.include_router(tracking_endpoints.router)
    install_web(app)  # the pages for people: sign-in, console, supervisors' floor
    app.mount("/open311/v2", Open311Mount())  # last: it answers every other path under it in Open311's form
    return app
