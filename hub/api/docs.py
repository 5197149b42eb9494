"""The API's own documentation, served by the hub: Swagger UI from a Python package, no CDN.

A council network (or a machine with no internet) may not reach a CDN, and /docs would be blank; the
assets come from ``fastapi-offline``'s package data instead. Also the site's favicon.
"""

from __future__ import annotations

import base64
import hashlib
import re
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = "/docs-assets"
_PACKAGED = Path(str(files("fastapi_offline") / "static"))
FAVICON = Path(__file__).resolve().parents[1] / "web" / "static" / "favicon.ico"


_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)


def _with_own_policy(page: HTMLResponse) -> HTMLResponse:
    """The page with a Content-Security-Policy that allows its own inline scripts by their hash, and nothing else
    inline (the site's policy, which allows no inline script at all, would leave Swagger UI blank)."""
    body = bytes(page.body).decode()
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"
        for script in _INLINE_SCRIPT.findall(body)
    )
    policy = (
        f"default-src 'self'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    )
    return HTMLResponse(body, headers={"Content-Security-Policy": policy})


def install_docs(app: FastAPI) -> None:
    """``/docs`` and ``/favicon.ico``; the app must be made with ``docs_url=None, redoc_url=None``.

    No ``/redoc``: ReDoc fetches its logo from its own CDN whatever it is given, so it cannot work offline.
    """
    app.mount(ASSETS, StaticFiles(directory=_PACKAGED), name="docs-assets")
    title = app.title

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return _with_own_policy(
            get_swagger_ui_html(
                openapi_url=app.openapi_url or "/openapi.json",
                title=f"{title} · API",
                swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
                swagger_css_url=f"{ASSETS}/swagger-ui.css",
                swagger_favicon_url="/favicon.ico",
                oauth2_redirect_url="/docs/oauth2-redirect",
            )
        )

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    async def oauth2_redirect() -> HTMLResponse:
        return _with_own_policy(get_swagger_ui_oauth2_redirect_html())

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> FileResponse:
        return FileResponse(
            FAVICON, media_type="image/x-icon", headers={"Cache-Control": "public, max-age=86400"}
        )
