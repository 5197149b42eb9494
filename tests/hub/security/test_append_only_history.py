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
    "agreement_versions": (
        "INSERT INTO agreement_versions (agreement_id, lender_slug, borrower_slug, definition, valid_from) "
        "VALUES ('agr-history', $1, $1, NULL, now())",
        ("partner",),
    ),
    "case_updates": (
        "INSERT INTO case_updates (enquiry_id, tenant_slug, source, source_id, status, at, received_at) "
        "VALUES ($1, $2, 'open311', 'u-1', 'in_progress', now(), now())",
        ("enquiry", "partner"),
    ),
}
# the column naming a row's partner, where it is not ``tenant_slug``
OWNER_COLUMN = {"agreement_versions": "lender_slug"}


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
    count = "SELECT count(*) FROM {} WHERE {} = $1"
    try:
        values = {"enquiry": enquiry_id, "partner": partner.slug, "agent": partner.agents[0]}
        for table, (insert, names) in HISTORY.items():
            column = OWNER_COLUMN.get(table, "tenant_slug")
            before = await _scoped(app, count.format(table, column), partner.slug)
            # appending is the application's right
            await _scoped(app, insert, *(values[n] for n in names))
            assert await _scoped(app, count.format(table, column), partner.slug) == before + 1, table
            for statement in (
                f"UPDATE {table} SET {column} = {column} WHERE {column} = $1",
                f"DELETE FROM {table} WHERE {column} = $1",
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
            assert await _scoped(app, count.format(table, column), partner.slug) == before + 1, table
        # intake wrote received and queued for the enquiry, and the test one more: all three still there
        assert await admin.fetchval(count.format("enquiry_events", "tenant_slug"), partner.slug) == 3
    finally:
        await app.close()
        await admin.close()


async def test_a_correction_is_a_row_the_app_role_adds_and_readers_take_while_the_original_stays(
    hub: Hub, make_partner, database_url: str
) -> None:
    from figures.periods import period_figures

    partner = await make_partner("corrections")
    app = await _as_app(database_url)
    try:
        original = await _scoped(
            app,
            "INSERT INTO published_periods (tenant_slug, period, definitions_version, published_at, figures) "
            "VALUES ($1, '2001-02', '2026.1', '2001-03-02T09:00:00Z', $2::jsonb) RETURNING id",
            partner.slug,
            _month(partner.slug, answered=2, occupancy=0.5),
        )
        # a second original of the same month is refused: corrections name what they correct
        with pytest.raises(asyncpg.UniqueViolationError):
            await _scoped(
                app,
                "INSERT INTO published_periods (tenant_slug, period, definitions_version, published_at, figures) "
                "VALUES ($1, '2001-02', '2026.1', now(), '{}') RETURNING id",
                partner.slug,
            )
        correction = await _scoped(
            app,
            "INSERT INTO published_periods "
            "(tenant_slug, period, definitions_version, published_at, figures, corrects, reason) "
            "VALUES ($1, '2001-02', '2026.1', '2001-03-09T09:00:00Z', $2::jsonb, $3, 'a late batch') "
            "RETURNING id",
            partner.slug,
            _month(partner.slug, answered=3, occupancy=0.25),
            original,
        )
        # a row is corrected once: a second correction of the original would fork the chain
        with pytest.raises(asyncpg.UniqueViolationError):
            await _scoped(
                app,
                "INSERT INTO published_periods "
                "(tenant_slug, period, definitions_version, published_at, figures, corrects, reason) "
                "VALUES ($1, '2001-02', '2026.1', now(), '{}', $2, 'a fork') RETURNING id",
                partner.slug,
                original,
            )
        for statement in (
            "UPDATE published_periods SET figures = '{}' WHERE id = $1",
            "DELETE FROM published_periods WHERE id = $1",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
                await _scoped(app, statement, correction)
        async with hub.sessionmaker() as session:
            read = await period_figures(session, tenant=partner.slug, period="2001-02")
        assert (read.totals, read.occupancy) == ({"answered": 3}, 0.25)
        assert read.correction == {
            "corrects": original,
            "corrects_published_at": "2001-03-02T09:00:00+00:00",
            "reason": "a late batch",
        }
        kept = await _scoped(
            app, "SELECT figures->'totals'->>'answered' FROM published_periods WHERE id = $1", original
        )
        assert kept == "2"
    finally:
        await app.close()


def _month(partner: str, *, answered: int, occupancy: float) -> str:
    """A month's frozen figures as a publication stores them (the fields a reader needs)."""
    import json

    return json.dumps(
        {
            "tenant": partner,
            "period": "2001-02",
            "definitions_version": "2026.1",
            "published_at": None,
            "totals": {"answered": answered},
            "by_service": [],
            "by_channel": [],
            "daily": [],
            "overflow": [],
            "occupancy": occupancy,
            "satisfaction": {},
        }
    )
