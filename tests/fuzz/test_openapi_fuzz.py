"""Schemathesis over the hub's own OpenAPI schema: every operation, valid and invalid requests, with and without a
good token and with real identifiers; the app (in-process, on the test database) never answers 5xx."""

from __future__ import annotations

import random
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.core import NotSet
from sqlalchemy import text

from hub.api.app import create_app
from hub.runtime import Hub
from plumbing.db.session import unit_of_work
from tenants.tokens import create_token
from tests.hub.web.conftest import intake

PER_OPERATION = 14  # per generation mode: about 1,000 requests in all
COUNTED = ("enquiries", "services", "agents", "api_tokens", "agreements", "published_periods", "users")


def cases_for(operation: Any, mode: GenerationMode, n: int) -> list[Any]:
    out: list[Any] = []

    @settings(
        max_examples=n,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(operation.as_strategy(generation_mode=mode))
    def collect(case: Any) -> None:
        out.append(case)

    try:
        collect()
    except Exception as exc:  # a schema part schemathesis cannot negate: no cases of that mode
        if mode is GenerationMode.POSITIVE:
            raise
        del exc
    return out


async def counts(hub: Hub) -> dict[str, int]:
    async with unit_of_work(hub.sessionmaker) as session:
        return {t: int(await session.scalar(text(f"SELECT count(*) FROM {t}")) or 0) for t in COUNTED}


async def test_no_operation_of_the_openapi_schema_answers_5xx(hub: Hub, make_partner) -> None:
    partner = await make_partner("schema", agents=1)
    enquiry = await intake(hub, partner.slug)
    async with unit_of_work(hub.sessionmaker) as session:
        tokens = [
            await create_token(session, role="admin"),
            await create_token(session, role="supervisor", tenant=partner.slug),
            await create_token(session, role="agent", agent_id=partner.agents[0]),
            await create_token(session, role="committee", tenant=partner.slug),
        ]
    real = {
        "tenant": partner.slug,
        "slug": partner.slug,
        "agent_id": partner.agents[0],
        "enquiry_id": enquiry,
    }
    app = create_app(hub)
    schema = schemathesis.openapi.from_dict(app.openapi())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 30
    rng = random.Random(9)
    failures: list[str] = []
    sent = 0
    statuses: dict[int, int] = {}
    mutated = False
    before = await counts(hub)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub") as client:
        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                for case in cases_for(operation, mode, PER_OPERATION):
                    params = dict(case.path_parameters or {})
                    if rng.random() < 0.5:
                        params.update({k: v for k, v in real.items() if k in params})
                    path = operation.path
                    for name, value in params.items():
                        path = path.replace("{" + name + "}", str(value))
                    headers = {
                        k: str(v) for k, v in (case.headers or {}).items() if k.lower() != "content-length"
                    }
                    if rng.random() < 0.6:
                        headers["Authorization"] = f"Bearer {rng.choice(tokens)}"
                    kwargs: dict[str, Any] = {"params": case.query or None, "headers": headers}
                    body = case.body
                    if body is not None and not isinstance(body, NotSet):
                        if isinstance(body, bytes | str):
                            kwargs["content"] = body
                        elif case.media_type and "form" in case.media_type and isinstance(body, dict):
                            kwargs["data"] = body
                        else:
                            kwargs["json"] = body
                    try:
                        r = await client.request(case.method, path, **kwargs)
                    except (httpx.InvalidURL, UnicodeEncodeError, ValueError, TypeError):
                        continue  # not sendable as HTTP at all (e.g. a control character in a header)
                    sent += 1
                    statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
                    if r.status_code >= 500:
                        failures.append(f"{case.method} {path} {kwargs} -> {r.status_code} {r.text[:200]}")
                    if case.method.upper() != "GET" and r.status_code < 300:
                        mutated = True
    assert failures == [], "\n".join(failures[:10])
    assert sent >= 600, (sent, statuses)
    after = await counts(hub)
    if not mutated:
        assert after == before
    # refusals are the rule: most generated requests are turned away with a 4xx
    assert sum(n for s, n in statuses.items() if 400 <= s < 500) > sent // 2, statuses
