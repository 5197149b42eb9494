"""The Open311 GeoReport v2 HTTP endpoints, mounted at ``/open311/v2``.

The format is chosen the way the standard does it, by the path's suffix (``services.xml``,
``requests/CHO-….json``); with no suffix the answer is XML, the standard's required format. Every refusal,
including an unknown path or a malformed body, comes back in the standard's error form
(``<errors><error><code>…</code><description>…</description></error></errors>`` or its JSON array).

Public (no token) except POST ``requests``, which needs the partner's ``api_key``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import structlog
from fastapi import Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from hub.open311 import service
from hub.open311.service import Open311Error
from hub.runtime import Hub
from hub.tracking.ratelimit import client_wait
from plumbing.georeport import errors_document, render

log = structlog.get_logger(__name__)

FORMAT_KEY = "open311.format"
HUB_KEY = "open311.hub"


def _format(request: Request) -> str:
    return str(request.scope.get(FORMAT_KEY, "xml"))


def _hub(request: Request) -> Hub:
    hub: Hub = request.scope[HUB_KEY]
    return hub


def _respond(request: Request, root: str, document: Any, status: int = 200) -> Response:
    body, media_type = render(_format(request), root, document)
    return Response(
        body, status_code=status, media_type=media_type, headers={"Access-Control-Allow-Origin": "*"}
    )


def _error(request: Request, status: int, *descriptions: str) -> Response:
    return _respond(request, "errors", errors_document(status, descriptions), status)


def _refuse_nul(params: Mapping[str, list[str]]) -> None:
    for key, values in params.items():
        if "\x00" in key or any("\x00" in v for v in values):
            raise Open311Error(400, f"{key.replace(chr(0), '')} contains a NUL character")


async def _no_nul_in_url(request: Request) -> None:
    """A NUL can be put in a URL but not in the database: refuse it before it gets that far."""
    if "\x00" in request.url.path or "\x00" in request.scope.get("path", ""):
        raise Open311Error(400, "the path contains a NUL character")
    _refuse_nul(_query(request))


def _query(request: Request) -> dict[str, list[str]]:
    params: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        params.setdefault(key, []).append(value)
    return params


async def _post_params(request: Request) -> dict[str, list[str]]:
    """Query string and body together (clients put ``api_key`` and ``jurisdiction_id`` in either)."""
    params = _query(request)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body: Mapping[str, Any]
    try:
        if content_type == "application/json":
            raw = json.loads(await request.body() or b"{}")
            if not isinstance(raw, dict):
                raise Open311Error(400, "a JSON body must be an object of fields")
            body = _flatten_json(raw)
            for key, values in body.items():
                params.setdefault(key, []).extend(values)
            _refuse_nul(params)
            return params
        form = await request.form()
    except Open311Error:
        raise
    except Exception as exc:  # a malformed body of any kind is the client's mistake, never a 500
        raise Open311Error(400, f"the request body could not be read: {exc}") from None
    for key, value in form.multi_items():
        if isinstance(value, str):
            params.setdefault(key, []).append(value)
    _refuse_nul(params)
    return params


def _flatten_json(raw: Mapping[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, value in raw.items():
        if key == "attribute" and isinstance(value, dict):
            for code, item in value.items():
                out.setdefault(f"attribute[{code}]", []).extend(_strings(item))
        else:
            out.setdefault(key, []).extend(_strings(value))
    return out


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    if isinstance(value, bool):
        return ["true" if value else "false"]
    return [str(value)]


def create_open311_app() -> FastAPI:
    app = FastAPI(
        title="Open311 GeoReport v2",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(_no_nul_in_url)],
    )

    @app.exception_handler(Open311Error)
    async def _open311_error(request: Request, exc: Open311Error) -> Response:
        return _error(request, exc.status, exc.description)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        description = str(exc.detail) if exc.status_code != 404 else "no such Open311 resource"
        return _error(request, exc.status_code, description)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        return _error(request, 400, *(problems or ["bad request"]))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("open311.error", path=request.url.path)
        return _error(request, 500, "internal error; the hub's operators have the details")

    @app.get("/discovery")
    async def discovery(request: Request) -> Response:
        params = _query(request)
        tenant = await service.jurisdiction(_hub(request), params, required=False)
        base = str(request.base_url).rstrip("/") + "/open311/v2/"
        return _respond(request, "discovery", service.discovery(base, tenant))

    @app.get("/services")
    async def services(request: Request) -> Response:
        tenant = await service.jurisdiction(_hub(request), _query(request))
        assert tenant is not None
        return _respond(request, "services", service.service_list(tenant))

    @app.get("/services/{code}")
    @app.get("/service/{code}")  # a habit of several clients
    async def definition(code: str, request: Request) -> Response:
        tenant = await service.jurisdiction(_hub(request), _query(request))
        assert tenant is not None
        found = service.find_service(tenant, code)
        return _respond(request, "service_definition", service.service_definition(found))

    @app.post("/requests")
    async def post_request(request: Request) -> Response:
        params = await _post_params(request)
        hub = _hub(request)
        client = request.client.host if request.client else "unknown"
        wait = await client_wait(hub, "open311-post", client, hub.settings.open311_posts_per_minute)
        if wait is not None:
            raise service.Open311Error(429, f"too many requests: try again in {int(wait)} seconds")
        tenant = await service.jurisdiction(hub, params)
        assert tenant is not None
        await service.require_api_key(hub, params, tenant)
        structlog.contextvars.bind_contextvars(tenant=tenant.slug)
        posted = await service.post_request(hub, tenant, params)
        document: list[dict[str, Any]] = [
            {"service_request_id": posted.service_request_id, "service_notice": posted.service_notice}
        ]
        return _respond(request, "service_requests", document)

    @app.get("/requests")
    async def get_requests(request: Request) -> Response:
        params = _query(request)
        tenant = await service.jurisdiction(_hub(request), params)
        assert tenant is not None
        return _respond(
            request, "service_requests", await service.get_requests(_hub(request), tenant, params)
        )

    @app.get("/requests/{request_id}")
    async def get_request(request_id: str, request: Request) -> Response:
        tenant = await service.jurisdiction(_hub(request), _query(request))
        assert tenant is not None
        return _respond(
            request, "service_requests", [await service.get_request(_hub(request), tenant, request_id)]
        )

    @app.get("/tokens/{token}")
    async def get_token(token: str, request: Request) -> Response:
        tenant = await service.jurisdiction(_hub(request), _query(request))
        assert tenant is not None
        return _respond(request, "service_requests", [await service.get_token(_hub(request), tenant, token)])

    @app.get("/servicerequestupdates")
    async def updates(request: Request) -> Response:
        params = _query(request)
        tenant = await service.jurisdiction(_hub(request), params)
        assert tenant is not None
        return _respond(
            request, "service_request_updates", await service.get_updates(_hub(request), tenant, params)
        )

    return app


class Open311Mount:
    """The ASGI app mounted at ``/open311/v2``: takes the format off the path and hands on the running hub."""

    def __init__(self, app: ASGIApp | None = None) -> None:
        self.app = app or create_open311_app()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            fmt = "xml"
            for suffix in (".xml", ".json"):
                if path.endswith(suffix):
                    path, fmt = path[: -len(suffix)], suffix[1:]
                    break
            # The enclosing app is still scope["app"] here; the mounted app replaces it with itself.
            hub = getattr(getattr(scope.get("app"), "state", None), "hub", None)
            scope = {**scope, "path": path, FORMAT_KEY: fmt, HUB_KEY: hub}
        await self.app(scope, receive, send)
