"""Reading a refusal's problem document (plumbing/problems.py) in the API tests."""

from __future__ import annotations

import httpx


def problem_fields(response: httpx.Response) -> dict[str, object]:
    """A problem document's type, title, status and code, after checking it is served as one with a detail."""
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    body = response.json()
    assert body["code"] and body["detail"], body
    return {key: body[key] for key in ("type", "title", "status", "code")}
