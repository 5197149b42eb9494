"""plumbing/db/session.py: the readiness probe's round trip, and a connection pinged before a checkout only after
sitting unused in the pool."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import create_async_engine

import plumbing.db.session as session_module
from plumbing.db.session import create_engine, ping


async def test_ping_answers_for_a_reachable_database_and_raises_for_one_that_is_not(
    database_url: str,
) -> None:
    engine = create_engine(database_url)
    try:
        await ping(engine)  # returns: SELECT 1 came back
    finally:
        await engine.dispose()
    # nothing listens on port 1: the probe's check fails rather than answering
    unreachable = create_engine(make_url(database_url).set(port=1).render_as_string(hide_password=False))
    try:
        with pytest.raises((OperationalError, OSError)):
            await ping(unreachable)
    finally:
        await unreachable.dispose()


async def test_only_a_connection_idle_past_the_limit_is_pinged_and_a_dead_one_is_replaced(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pings: list[int] = []
    real_ping = AsyncAdapt_asyncpg_connection.ping

    def counted(self: Any) -> None:
        pings.append(1)
        real_ping(self)

    monkeypatch.setattr(AsyncAdapt_asyncpg_connection, "ping", counted)
    monkeypatch.setattr(session_module, "PING_AFTER_IDLE_SECONDS", 0.3)
    engine = session_module.create_engine(database_url, pool_size=1, max_overflow=0)
    admin = create_async_engine(database_url)

    async def backend() -> int:
        async with engine.connect() as connection:
            return int((await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one())

    try:
        first = await backend()  # a new connection: not pinged
        assert await backend() == first  # the same one, back from the pool at once: not pinged
        assert pings == []
        await asyncio.sleep(0.4)
        assert await backend() == first  # idle 0.4 s, past the 0.3 s limit: pinged once, alive
        assert len(pings) == 1
        # killed while idle: the ping fails, the pool connects afresh, and the statement runs as if nothing happened
        async with admin.connect() as connection:
            await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        await asyncio.sleep(0.4)
        again = await backend()
        assert again != first
        assert len(pings) == 2
    finally:
        await engine.dispose()
        await admin.dispose()
