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


async def test_a_transaction_sends_its_scope_with_its_begin_and_leaves_none_behind(database_url: str) -> None:
    """The scope goes with ``BEGIN`` (one round trip, not two: no statement of its own), is set for the
    transaction's first statement, a scope no literal can carry takes the statement, and a transaction that sent
    nothing leaves its scope to no one: the connection's next user sets its own or has none."""
    from sqlalchemy import event

    from plumbing.db.scope import tenant_scope
    from plumbing.db.session import create_sessionmaker, unit_of_work

    engine = create_engine(database_url, pool_size=1, max_overflow=0)
    sessions = create_sessionmaker(engine)
    sent: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement)

    setting = text("SELECT current_setting('hub.tenant', true)")
    event.listen(engine.sync_engine, "before_cursor_execute", seen)
    try:
        with tenant_scope({"north-shire", "south_shire"}):
            async with unit_of_work(sessions) as session:
                assert await session.scalar(setting) == "north-shire,south_shire"
        assert len(sent) == 1  # the statement alone: the scope went with BEGIN
        with tenant_scope("o'brien"):  # not a slug: the parameterised statement, and still set
            async with unit_of_work(sessions) as session:
                assert await session.scalar(setting) == "o'brien"
        assert len(sent) == 3
        with tenant_scope("*"):
            async with unit_of_work(sessions) as session:
                await session.connection()  # the transaction begun on a connection, and nothing sent on it
        async with (
            engine.connect() as connection
        ):  # the same connection (a pool of one), no session, no scope
            assert (await connection.execute(setting)).scalar_one() in (None, "")
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", seen)
        await engine.dispose()
