"""Secrets are kept only as hashes; the public endpoints are rate-limited (429 with Retry-After)."""

from __future__ import annotations

import asyncio
import subprocess

import httpx

from hub.runtime import Hub
from plumbing.db.session import unit_of_work
from tenants.tokens import create_token
from tests.conftest import PG_ADMIN_URL
from tests.hub.web.conftest import make_user


async def test_api_keys_tokens_and_passwords_are_stored_only_as_hashes(
    hub: Hub, make_partner, api: httpx.AsyncClient, database_url: str
) -> None:
    partner = await make_partner("secrets", agents=1)
    async with unit_of_work(hub.sessionmaker) as session:
        admin = await create_token(session, role="admin")
        bearer = await create_token(session, role="supervisor", tenant=partner.slug)
    r = await api.post(
        f"/api/v1/admin/partners/{partner.slug}/api-keys",
        headers={"Authorization": f"Bearer {admin}"},
        json={},
    )
    assert r.status_code in (200, 201), r.text
    api_key = r.json()["api_key"]
    username, password = await make_user(hub, role="agent", tenant=partner.slug, agent_id=partner.agents[0])
    signed_in = await api.post("/sign-in", data={"username": username, "password": password, "next": "/"})
    assert signed_in.status_code == 303
    session_cookie = next(iter(signed_in.cookies.values()))
    # Every byte the database holds, as its owner sees it (no row-level security in a dump).
    database = database_url.rsplit("/", 1)[1]
    dumped = await asyncio.to_thread(
        subprocess.run,
        ["pg_dump", "--data-only", PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{database}"],
        check=True,
        capture_output=True,
        text=True,
    )
    dump = dumped.stdout
    assert username in dump  # the dump is real and holds the user
    for secret in (api_key, admin, bearer, password, session_cookie):
        assert secret not in dump


async def test_open311_post_and_sign_in_are_rate_limited_per_client(
    hub: Hub, make_partner, api: httpx.AsyncClient
) -> None:
    partner = await make_partner("limits", agents=0)
    hub.settings.open311_posts_per_minute = 5
    hub.settings.sign_in_attempts_per_minute = 5
    statuses = []
    for _ in range(8):
        r = await api.post(
            "/open311/v2/requests.json",
            data={"jurisdiction_id": partner.slug, "service_code": "missed-bin", "api_key": "nope"},
        )
        statuses.append(r.status_code)
    assert statuses[:5] == [403] * 5 and statuses[5:] == [429] * 3, statuses
    sign_ins = []
    for _ in range(8):
        r = await api.post("/sign-in", data={"username": "nobody", "password": "wrong", "next": "/"})
        sign_ins.append(r.status_code)
    assert 429 not in sign_ins[:5] and sign_ins[5:] == [429] * 3, sign_ins
    assert int(r.headers["Retry-After"]) >= 1
    # (the tracking page's own limit: tests/hub/tracking/test_tracking.py::test_too_many_requests_...)
