"""The application role cannot widen its own scope with SQL it was not meant to run (docs/guarantees.md).

Each connection gets a key from the database once; a scope counts only with its signature under that key. SQL
injected into a request (``SET hub.tenant = '*'``, ``set_config``, another partner's slug, a signature copied from
another scope, asking for the key again, reading or changing the key table) leaves the transaction seeing nothing,
never more.
"""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy import text

from hub.runtime import Hub
from plumbing.db.scope import tenant_scope
from plumbing.db.session import sign_scope
from tests.conftest import app_database_url
from tests.hub.security.test_rls import _as_app, _enter
from tests.hub.web.conftest import intake

SERVICES_OF = "SELECT count(*) FROM services WHERE tenant_slug = $1"


async def test_raw_sql_as_the_app_role_cannot_widen_its_scope(
    hub: Hub, make_partner, database_url: str
) -> None:
    a, b = await make_partner("widen-a"), await make_partner("widen-b")
    await intake(hub, b.slug)
    conn = await _as_app(database_url)
    try:
        async with conn.transaction():  # the control: a's signed scope sees a's three services, none of b's
            await _enter(conn, a.slug)
            assert await conn.fetchval(SERVICES_OF, a.slug) == 3
            assert await conn.fetchval(SERVICES_OF, b.slug) == 0
            signed_for_a = await conn.fetchval("SELECT current_setting('hub.tenant_sig')")
        attempts = {
            "SET '*'": ["SET LOCAL hub.tenant = '*'"],
            "set_config '*'": ["SELECT set_config('hub.tenant', '*', true)"],
            "set_config b": [f"SELECT set_config('hub.tenant', '{b.slug}', true)"],
            "a's signature on b": [
                f"SELECT set_config('hub.tenant', '{b.slug}', true)",
                f"SELECT set_config('hub.tenant_sig', '{signed_for_a}', true)",
            ],
            "a's signature on a,b": [
                f"SELECT set_config('hub.tenant', '{a.slug},{b.slug}', true)",
                f"SELECT set_config('hub.tenant_sig', '{signed_for_a}', true)",
            ],
            "signed with a made-up key": [
                "SELECT set_config('hub.tenant', '*', true)",
                f"SELECT set_config('hub.tenant_sig', '{sign_scope(b'0' * 64, '*')}', true)",
            ],
        }
        for name, statements in attempts.items():
            async with conn.transaction():
                await _enter(conn, a.slug)
                for statement in statements:
                    await conn.execute(statement)
                seen = (
                    await conn.fetchval(SERVICES_OF, b.slug),
                    await conn.fetchval("SELECT count(*) FROM enquiries"),
                    await conn.fetchval("SELECT count(*) FROM api_tokens"),
                )
                assert seen == (0, 0, 0), name
        # The key is asked for once per connection; the table holding keys is out of the role's reach.
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="already has its scope key"):
            await conn.fetchval("SELECT hub_open_connection()")
        for statement in (
            "SELECT * FROM hub_connection_keys",
            "DELETE FROM hub_connection_keys",
            "UPDATE hub_connection_keys SET pid = 0",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(statement)
    finally:
        await conn.close()

    # A connection that never asked for a key (not opened the hub's way) sees nothing whatever it sets.
    bare = await asyncpg.connect(
        app_database_url(database_url).replace("postgresql+asyncpg://", "postgresql://")
    )
    try:
        async with bare.transaction():
            await bare.execute("SELECT set_config('hub.tenant', '*', true)")
            assert await bare.fetchval(SERVICES_OF, a.slug) == 0
    finally:
        await bare.close()


async def test_sql_injected_into_a_scoped_request_sees_less_not_more(hub: Hub, make_partner) -> None:
    """Through the hub's own sessions: a stray statement widening the scope leaves the transaction blind."""
    a, b = await make_partner("inject-a"), await make_partner("inject-b")
    with tenant_scope(a.slug):
        async with hub.sessionmaker() as session, session.begin():
            count = text("SELECT count(*) FROM services WHERE tenant_slug = :t")
            assert await session.scalar(count, {"t": a.slug}) == 3
            await session.execute(text("SELECT set_config('hub.tenant', '*', true)"))
            assert await session.scalar(count, {"t": b.slug}) == 0
            assert await session.scalar(count, {"t": a.slug}) == 0  # its own rows went too: nothing gained
        async with hub.sessionmaker() as session, session.begin():  # the next transaction is signed afresh
            assert await session.scalar(text("SELECT count(*) FROM services")) == 3


async def test_the_checked_scope_is_computed_once_per_statement(hub: Hub, make_partner) -> None:
    """The policies read ``(SELECT hub_scope())``: an InitPlan, not a call per row (the cost stays flat)."""
    a = await make_partner("plan")
    with tenant_scope(a.slug):
        async with hub.sessionmaker() as session, session.begin():
            plan = "\n".join(
                (await session.scalars(text("EXPLAIN SELECT count(*) FROM enquiry_events"))).all()
            )
    (filter_line,) = [line for line in plan.splitlines() if "Filter:" in line]
    assert "InitPlan 1" in plan  # the scope, checked once per statement
    assert "$0" in filter_line and "hub_scope" not in filter_line  # rows compare with its result
