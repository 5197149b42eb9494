"""Nothing heavy on the agents' loop: while committee packs render and months are read, ``/healthz`` on the same
process answers in milliseconds (the work runs on the side loop, ``Hub.side_loop``)."""

from __future__ import annotations

import asyncio
import statistics
import time

import httpx

from hub.runtime import Hub
from plumbing.db.session import unit_of_work
from tenants.tokens import create_token
from tests.conftest import Partner
from tests.figures.test_figures import write_log


async def test_health_answers_quickly_while_packs_render(
    hub: Hub, make_partner, api: httpx.AsyncClient
) -> None:
    owner, other = await make_partner("heavy", agents=2), await make_partner("helper", agents=1)
    await write_log(hub, owner, other)
    async with unit_of_work(hub.sessionmaker) as session:
        headers = {"Authorization": f"Bearer {await create_token(session, role='committee')}"}
    url = f"/api/v1/tenants/{owner.slug}/periods/2026-10/pack.pdf"
    assert (
        await api.get(url, headers=headers)
    ).status_code == 200  # warm: fonts, the side loop's connections

    began = time.perf_counter()
    heavy = [asyncio.create_task(api.get(url, headers=headers)) for _ in range(4)]
    waits = []
    while not all(task.done() for task in heavy):
        start = time.perf_counter()
        assert (await api.get("/healthz")).status_code == 200
        waits.append(time.perf_counter() - start)
        await asyncio.sleep(0.01)
    heavy_seconds = time.perf_counter() - began
    print(
        f"packs {heavy_seconds:.2f}s; health median {statistics.median(waits) * 1000:.1f} ms, max {max(waits) * 1000:.1f} ms"
    )
    assert [(await task).status_code for task in heavy] == [200] * 4
    assert len(waits) >= 5, f"the packs took {heavy_seconds:.2f}s: too quick to see anything"
    # On the loop, a health check would wait for a whole pack (hundreds of ms); off it, a few ms (noisy machine).
    assert statistics.median(waits) < 0.05, waits
    assert max(waits) < heavy_seconds / 2, (max(waits), heavy_seconds)


async def test_the_side_loop_keeps_the_callers_partner_scope(hub: Hub, make_partner) -> None:
    from sqlalchemy import func, select

    from plumbing.db.scope import tenant_scope
    from tenants.models import Service

    mine: Partner = await make_partner("scoped", agents=0)
    await make_partner("unseen", agents=0)

    async def count(sessionmaker):  # type: ignore[no-untyped-def]
        async with sessionmaker() as session:
            return await session.scalar(select(func.count()).select_from(Service))

    with tenant_scope(mine.slug):
        assert await hub.side_loop.run(count) == 3  # the three services of conftest's partner, no one else's
    with tenant_scope(None):
        assert await hub.side_loop.run(count) == 0
