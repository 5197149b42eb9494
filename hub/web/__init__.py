"""The web app for people: sign-in, the agents' console, the supervisors' live view, the committee's page.

Server-rendered (Jinja2) with a little JavaScript: offers are pushed to the console by server-sent events.
Partner systems keep using the JSON API with bearer tokens; these pages use a server-side session cookie.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from hub.web import auth, committee, console, supervisor, whatif
from hub.web.deps import install_error_pages

STATIC = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    """Add the pages, their static files and their error pages to the app."""
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    install_error_pages(app)
    for module in (auth, console, supervisor, whatif, committee):
        app.include_router(module.router)
