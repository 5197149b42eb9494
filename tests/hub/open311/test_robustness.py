"""Open311 never answers bad input with a 500: a few hundred malformed requests, all refused in the standard form."""

from __future__ import annotations

import random

import httpx
from sqlalchemy import func, select

from hub.runtime import Hub
from plumbing.db.session import unit_of_work
from routing.models import Enquiry
from tenants.tokens import create_token
from tests.helpers_examples import load_example

NASTY = [
    "",
    " ",
    "\x00",
    "null",
    "[]",
    "{}",
    "-1",
    "1e309",
    "NaN",
    "inf",
    "99999999999999999999999",
    "2026-02-30T25:61:00Z",
    "../../etc/passwd",
    "<script>alert(1)</script>",
    "]]><!--",
    "'; DROP TABLE enquiries; --",
    "ü" * 300,
    "\u202e\ufeff",
    "x" * 5000,
    "attribute[",
    "%00",
]
FIELDS = [
    "service_code",
    "lat",
    "long",
    "address_string",
    "address_id",
    "description",
    "email",
    "first_name",
    "phone",
    "media_url",
    "attribute[bin_type]",
    "attribute[items][]",
    "attribute[]",
    "attribute[a b]",
    "jurisdiction_id",
    "start_date",
    "end_date",
    "status",
    "service_request_id",
]


async def test_malformed_requests_get_4xx_in_the_standard_form(hub: Hub, api: httpx.AsyncClient) -> None:
    slug = (await load_example(hub, "chorley")).tenant.slug
    async with unit_of_work(hub.sessionmaker) as session:
        key = await create_token(session, role="open311", tenant=slug)
    chance = random.Random(311)
    paths = [
        "requests",
        "services",
        "services/missed-bin",
        "service/%00",
        "requests/x",
        "tokens/x",
        "servicerequestupdates",
        "discovery",
    ]
    for _ in range(150):
        fields = {f: chance.choice(NASTY) for f in chance.sample(FIELDS, chance.randint(1, 6))}
        fmt = chance.choice(["xml", "json", "html", ""])
        path = chance.choice(paths)
        url = f"/open311/v2/{path}" + (f".{fmt}" if fmt else "")
        if path == "requests" and chance.random() < 0.5:
            fields.setdefault("jurisdiction_id", slug)
            response = await api.post(url, params={"api_key": key}, data=fields)
        else:
            fields.setdefault("jurisdiction_id", chance.choice([slug, *NASTY[:4]]))
            response = await api.get(url, params=fields)
        assert response.status_code < 500, (url, fields, response.text[:300])
        if response.status_code >= 400:
            if response.headers["content-type"].startswith("application/json"):
                assert {"code", "description"} <= set(response.json()[0]), response.text[:300]
            else:
                assert response.content.split(b"\n", 1)[1].startswith(b"<errors><error><code>"), (
                    response.text[:300]
                )
    async with hub.sessionmaker() as session:
        made = await session.scalar(
            select(func.count()).select_from(Enquiry).where(Enquiry.tenant_slug == slug)
        )
    assert made == 0
