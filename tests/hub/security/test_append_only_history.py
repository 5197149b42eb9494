"""History is append-only in the database: the application role may add to it, never change or remove it."""

from __future__ import annotations

import asyncpg
import pytest

from hub.runtime import Hub
from tests.hub.security.test_rls import _as_app, _enter
from tests.hub.web.conftest import intake

# table -> an INSERT the application role may make, and what its parameters are
HISTORY: dict[str, tuple[str, tuple[str, ...]]] = {
    "enquiry_events": (
        "INSERT INTO enquiry_events (enquiry_id, tenant_slug, event, at, data) "
        "VALUES ($1, $2, 'enquiry.note', now(), '{}')",
        ("enquiry", "partner"),
    ),
    "agent_events": (
        "INSERT INTO agent_events (agent_id, tenant_slug, status, previous, at, reason) "
        "VALUES ($1, $2, 'available', 'offline', now(), '')",
        ("agent", "partner"),
    ),
    "published_periods": (
        "INSERT INTO published_periods (tenant_slug, period, definitions_version, published_at, figures) "
        "VALUES ($1, '2001-01', '2026.1', now(), '{\"service_level\": 0.739}')",  # a month no page reads
        ("partner",),
    ),
    "case_updates": (
        "INSERT INTO case_updates (enquiry_id, tenant_slug, source, source_id, status, at, received_at) "
        "VALUES ($1, $2, 'open311', 'u-1', 'in_progress', now(), now())",
        ("enquiry", "partner"),
    ),
}


def _plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def _scoped(conn: asyncpg.Connection, statement: str, *args: object) -> object:
    async with conn.transaction():
        await _enter(conn, "*")  # signed, as the hub's own sessions set it (plumbing.db.session)
        return await conn.fetchval(statement, *args)


async def test_the_app_role_appends_to_every_history_table_but_nobody_updates_deletes_or_truncates(
    hub: Hub, make_partner, database_url: str
) -> None:
    partner = await make_partner("append-only")
    enquiry_id = await intake(hub, partner.slug)
    app = await _as_app(database_url)
    admin = await asyncpg.connect(_plain(database_url))
    count = "SELECT count(*) FROM {} WHERE tenant_slug = $1"
    try:
        values = {"enquiry": enquiry_id, "partner": partner.slug, "agent": partner.agents[0]}
        for table, (insert, names) in HISTORY.items():
            before = await _scoped(app, count.format(table), partner.slug)
            # appending is the application's right
            await _scoped(app, insert, *(values[n] for n in names))
            assert await _scoped(app, count.format(table), partner.slug) == before + 1, table
            for statement in (
                f"UPDATE {table} SET tenant_slug = tenant_slug WHERE tenant_slug = $1",
                f"DELETE FROM {table} WHERE tenant_slug = $1",
            ):
                # the application role holds no such grant ...
                with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
                    await _scoped(app, statement, partner.slug)
                # ... and the trigger stops every other role too, the owner included
                with pytest.raises(asyncpg.InsufficientPrivilegeError, match=f"{table} is append-only"):
                    await admin.execute(statement, partner.slug)
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
                await app.execute(f"TRUNCATE {table} CASCADE")
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match=f"{table} is append-only"):
                await admin.execute(f"TRUNCATE {table} CASCADE")
            assert await _scoped(app, count.format(table), partner.slug) == before + 1, table
        # intake wrote received and queued for the enquiry, and the test one more: all three still there
        assert await admin.fetchval(count.format("enquiry_events"), partner.slug) == 3
    finally:
        await app.close()
        await admin.close()
