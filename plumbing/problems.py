"""One error shape for the whole HTTP API: RFC 9457 problem details (``application/problem+json``).

Every refusal carries ``type`` (``urn:hub:problem:<code>``), ``title``, ``status``, ``detail`` (a sentence for a
person) and ``code`` (the same stable code, for a machine), plus any extension members it needs (``errors`` for
a request that failed validation, ``problems`` for a definition refused with its paths). Domains raise
``Problem`` (or a subclass); the shell installs the handlers with ``install_problem_handlers``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

MEDIA_TYPE = "application/problem+json"

# The code an HTTPException raised without one gets, by status.
_CODE_OF_STATUS = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
}


class Problem(Exception):
    """A refusal with a stable code and a sentence; nothing was changed by the request that raised it."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail
        self.headers = dict(headers or {})
        self.extensions = extensions

    # The desk and the back office's errors were read as ``.message``; one name for the sentence.
    @property
    def message(self) -> str:
        return self.detail


def document_refused(code: str, problems: Sequence[tuple[str, str]]) -> Problem:
    """A document (a definition, an agreement) refused: 422 with every problem and where it is in the document."""
    detail = f"{problems[0][0]}: {problems[0][1]}" if problems else "the document was refused"
    return Problem(
        422, code, detail, problems=[{"path": path, "message": message} for path, message in problems]
    )


def problem_response(
    status: int,
    code: str,
    detail: str,
    *,
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    """The problem document for a refusal."""
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    body = {
        "type": f"urn:hub:problem:{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        **jsonable_encoder(extensions),
    }
    return JSONResponse(body, status_code=status, headers=dict(headers or {}), media_type=MEDIA_TYPE)


def problem_of(exc: Problem) -> JSONResponse:
    return problem_response(exc.status, exc.code, exc.detail, headers=exc.headers, **exc.extensions)


def problem_of_http(exc: StarletteHTTPException) -> JSONResponse:
    """An ``HTTPException`` (FastAPI's own, a route's, a dependency's) as a problem document."""
    code = _CODE_OF_STATUS.get(exc.status_code, "error" if exc.status_code >= 500 else "refused")
    return problem_response(exc.status_code, code, str(exc.detail), headers=exc.headers)


def problem_of_validation(exc: RequestValidationError) -> JSONResponse:
    errors = [
        {"location": [str(part) for part in e.get("loc", ())], "message": str(e.get("msg", ""))}
        for e in exc.errors()
    ]
    first = errors[0] if errors else None
    detail = (
        f"{'.'.join(first['location'])}: {first['message']}" if first else "the request is not well formed"
    )
    return problem_response(422, "invalid_request", detail, errors=errors)


def install_problem_handlers(
    app: FastAPI, *, http_fallback: Callable[[Request, StarletteHTTPException], Response | None] | None = None
) -> None:
    """Problem documents for every refusal; ``http_fallback`` may answer an ``HTTPException`` another way
    (the pages show a page) by returning a response, or None to leave it to the problem document."""

    @app.exception_handler(Problem)
    async def _problem(_request: Request, exc: Problem) -> Response:
        return problem_of(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if http_fallback is not None and (page := http_fallback(request, exc)) is not None:
            return page
        return problem_of_http(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> Response:
        return problem_of_validation(exc)
