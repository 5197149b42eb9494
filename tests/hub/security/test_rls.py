"""Row-level security in PostgreSQL, checked in raw SQL as the application role: it holds even when code forgets."""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy import text

from hub.runtime import Hub
from plumbing.db.scope import ALL_PARTNERS, tenant_scope
from plumbing.db.session import create_engine, create_sessionmaker, sign_scope
from tests.conftest import APP_ROLE, app_database_url
from tests.hub.web.conftest import intake

# Columns that name a partner: any table carrying one must have FORCEd row-level security (new tables too).
PARTNER_COLUMNS = (
    "tenant_slug",
    "claimed_tenant",
    "owner_tenant",
    "actor_tenant",
    "lender_slug",
    "borrower_slug",
)

INSERT_VERSION = (
    "INSERT INTO catalogue_versions (tenant_slug, version, digest, definition, source, created_at) "
    "VALUES ($1, 999, 'x', '{}', 'sneaky', now())"
)


def _plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


_KEYS: dict[int, bytes] = {}


async def _as_app(database_url: str) -> asyncpg.Connection:
    """A connection as the application role, opened as the hub opens one (its scope key asked for once)."""
    conn = await asyncpg.connect(_plain(app_database_url(database_url)))
    _KEYS[id(conn)] = bytes.fromhex(await conn.fetchval("SELECT hub_open_connection()"))
    return conn


async def _enter(conn: asyncpg.Connection, scope: str) -> None:
    """Set the transaction's scope the way plumbing.db.session does: the scope and its signature."""
    await conn.execute(
        "SELECT set_config('hub.tenant', $1, true), set_config('hub.tenant_sig', $2, true)",
        scope,
        sign_scope(_KEYS[id(conn)], scope),
    )


async def test_the_app_role_neither_owns_nor_bypasses_and_every_partner_table_forces_rls(
    database_url: str,
) -> None:
    admin = await asyncpg.connect(_plain(database_url))
    try:
        role = await admin.fetchrow(
            "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = $1", APP_ROLE
        )
        assert role is not None and not role["rolsuper"] and not role["rolbypassrls"]
        owned = await admin.fetchval(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tableowner = $1", APP_ROLE
        )
        assert owned == 0
        tables = await admin.fetch(
            """
            SELECT DISTINCT c.relname, c.relrowsecurity, c.relforcerowsecurity
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            JOIN pg_attribute a ON a.attrelid = c.oid
            WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attname = ANY($1::text[])
            """,
            list(PARTNER_COLUMNS),
        )
        assert len(tables) >= 15
        unprotected = [t["relname"] for t in tables if not (t["relrowsecurity"] and t["relforcerowsecurity"])]
        assert unprotected == []
        skills = await admin.fetchrow(
            "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE relname = 'agent_skills'"
        )
        assert skills is not None and skills["relrowsecurity"] and skills["relforcerowsecurity"]
    finally:
        await admin.close()


async def test_raw_sql_as_the_app_role_sees_and_writes_nothing_without_the_right_tenant(
    hub: Hub, make_partner, database_url: str
) -> None:
    a, b = await make_partner("rls-a"), await make_partner("rls-b")
    await intake(hub, a.slug)
    conn = await _as_app(database_url)
    try:
        # No tenant set at all: the application "forgot". Nothing is visible, nothing can be written.
        for table in ("enquiries", "services", "agents", "customers", "enquiry_events", "agent_skills"):
            assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 0, table
        with pytest.raises(
            asyncpg.InsufficientPrivilegeError
        ):  # "new row violates row-level security policy"
            await conn.execute(INSERT_VERSION, a.slug)
        assert (
            await conn.execute("UPDATE enquiries SET priority = 9 WHERE tenant_slug = $1", a.slug)
            == "UPDATE 0"
        )
        assert await conn.execute("DELETE FROM customers WHERE tenant_slug = $1", a.slug) == "DELETE 0"

        # The other partner's scope: still nothing of a's, and writing a row for a is refused.
        async with conn.transaction():
            await _enter(conn, b.slug)
            assert await conn.fetchval("SELECT count(*) FROM services WHERE tenant_slug = $1", a.slug) == 0
            assert await conn.fetchval("SELECT count(*) FROM services WHERE tenant_slug = $1", b.slug) == 3
            assert await conn.fetchval("SELECT count(*) FROM enquiries") == 0
            assert (
                await conn.execute("UPDATE agents SET name = 'x' WHERE tenant_slug = $1", a.slug)
                == "UPDATE 0"
            )
        async with conn.transaction():
            await _enter(conn, b.slug)
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(INSERT_VERSION, a.slug)
        # a's own scope sees a's rows; '*' (trusted hub-wide code) sees both.
        async with conn.transaction():
            await _enter(conn, a.slug)
            assert await conn.fetchval("SELECT count(*) FROM enquiries") == 1
        async with conn.transaction():
            await _enter(conn, "*")
            n = await conn.fetchval(
                "SELECT count(*) FROM services WHERE tenant_slug = ANY($1::text[])", [a.slug, b.slug]
            )
            assert n == 6
        # set_config(..., true) ended with its transaction: nothing leaks to the next one on this connection.
        assert await conn.fetchval("SELECT coalesce(current_setting('hub.tenant', true), '')") == ""
        assert await conn.fetchval("SELECT count(*) FROM services") == 0
    finally:
        await conn.close()


async def test_the_audit_log_is_append_only_for_the_app_role(
    hub: Hub, make_partner, database_url: str
) -> None:
    a = await make_partner("audit")
    conn = await _as_app(database_url)
    try:
        async with conn.transaction():
            await _enter(conn, a.slug)
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute("UPDATE audit_log SET action = 'x'")
        async with conn.transaction():
            await _enter(conn, "*")
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute("DELETE FROM audit_log")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("TRUNCATE audit_log")
    finally:
        await conn.close()


async def test_the_scope_set_per_transaction_does_not_leak_through_the_pool(
    hub: Hub, make_partner, database_url: str
) -> None:
    a = await make_partner("pool")
    engine = create_engine(app_database_url(database_url), pool_size=1, max_overflow=0)
    sessionmaker = create_sessionmaker(engine)
    try:
        with tenant_scope(a.slug):
            async with sessionmaker() as session, session.begin():
                pid = await session.scalar(text("SELECT pg_backend_pid()"))
                seen = await session.scalar(text("SELECT count(*) FROM services"))
                assert seen == 3
        # The same pooled connection, code that set no scope (tests run hub-wide; clear it): sees nothing.
        with tenant_scope(None):
            async with sessionmaker() as session, session.begin():
                assert await session.scalar(text("SELECT pg_backend_pid()")) == pid
                setting = text("SELECT coalesce(current_setting('hub.tenant', true), '')")
                assert await session.scalar(setting) == ""
                assert await session.scalar(text("SELECT count(*) FROM services")) == 0
        # Two transactions in one session each get the scope again (after commit a new one begins).
        with tenant_scope(ALL_PARTNERS):
            async with sessionmaker() as session:
                async with session.begin():
                    assert await session.scalar(text("SELECT count(*) FROM services")) >= 3
                async with session.begin():
                    assert await session.scalar(text("SELECT count(*) FROM services")) >= 3
    finally:
        await engine.dispose()
