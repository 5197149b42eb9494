"""Every refusal of the HTTP API has one shape: RFC 9457 problem details with a stable code."""

from __future__ import annotations

import httpx

from hub.runtime import Hub
from tests.hub.api.test_agents_api import token


def _is_problem(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["type"] == f"urn:hub:problem:{code}"
    assert body["status"] == status and body["code"] == code
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    return dict(body)


async def test_refusals_from_every_source_share_the_problem_shape(
    hub: Hub, make_partner, api: httpx.AsyncClient
) -> None:
    partner = await make_partner(agents=1)
    as_agent = await token(hub, role="agent", agent_id=partner.agents[0])
    # no token (the bearer dependency's refusal)
    _is_problem(await api.get("/api/v1/agents/me"), 401, "unauthenticated")
    # a route that does not exist (the framework's own 404)
    _is_problem(await api.get("/api/v1/no-such-thing", headers=as_agent), 404, "not_found")
    # a body that fails validation: every error with where it is
    body = _is_problem(
        await api.put("/api/v1/agents/me/status", json={"status": "asleep"}, headers=as_agent),
        422,
        "invalid_request",
    )
    errors = body["errors"]
    assert isinstance(errors, list) and errors[0]["location"][:2] == ["body", "status"]
    # the desk's own refusal (a domain error) keeps its code: not this agent's enquiry
    _is_problem(
        await api.post(
            "/api/v1/agents/me/complete", json={"enquiry_id": 1, "outcome": "resolved"}, headers=as_agent
        ),
        409,
        "not_yours",
    )
    # another role's route
    _is_problem(await api.get("/api/v1/admin/partners", headers=as_agent), 403, "forbidden")
