"""HTTP input bounded before the application sees it, and every HTML page's security headers.

``BoundedInput`` is plain ASGI, outermost: a declared ``Content-Length`` over the limit is refused (413) without
reading a byte; a body without one is read only up to the limit (413 past it), so no route, the back office's
signed webhooks included, ever holds more than ``HUB_HTTP_MAX_BODY_BYTES`` of a request. A JSON body holding a
number that is not finite (``1e999``, ``NaN``, ``Infinity``) is refused with 422 on every route, before any
model, computation or response encoder can meet it. See docs/guarantees.md.
"""

from __future__ import annotations

import json
import math
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from plumbing.problems import problem_response

# What every HTML page carries (a page may set stricter ones of its own: those are kept).
PAGE_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class _TooLarge(Exception):
    pass


class _NotFinite(ValueError):
    pass


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotFinite(text)
    return value


def _refuse(name: str) -> Any:
    raise _NotFinite(name)


def non_finite_number(body: bytes) -> str | None:
    """The first number in a JSON body that is not finite, if any (invalid JSON is left to the route)."""
    try:
        json.loads(body, parse_float=_finite, parse_constant=_refuse)
    except _NotFinite as exc:
        return str(exc)[:40]
    except (ValueError, RecursionError):
        return None
    return None


def _is_json(headers: Headers) -> bool:
    kind = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return kind == "application/json" or kind.endswith("+json")


class BoundedInput:
    """Body-size limit, non-finite JSON numbers refused, security headers on HTML (and nosniff on everything)."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                await problem_response(400, "bad_request", "Content-Length is not a number")(
                    scope, receive, send
                )
                return
            if int(declared) > self.max_body_bytes:
                await self._too_large(scope, receive, send)
                return
        if scope["method"] in _BODY_METHODS:
            try:
                body = await self._read(receive)
            except _TooLarge:
                await self._too_large(scope, receive, send)
                return
            if body and _is_json(headers) and (number := non_finite_number(body)) is not None:
                await problem_response(422, "not_finite", f"the body holds {number}: numbers must be finite")(
                    scope, receive, send
                )
                return
            receive = _replay(body, receive)
        await self.app(scope, receive, _with_headers(send))

    async def _read(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: nothing to answer
                return b"".join(chunks)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise _TooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(
            413,
            "too_large",
            f"the request body is over {self.max_body_bytes} bytes",
            headers={"connection": "close"},
        )
        await response(scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: the disconnect, when it comes

    return replay


def _with_headers(send: Send) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = MutableHeaders(scope=message)
            headers.setdefault("X-Content-Type-Options", "nosniff")
            if headers.get("content-type", "").startswith("text/html"):
                for name, value in PAGE_SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
        await send(message)

    return sending
