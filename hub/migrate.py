"""Apply Alembic migrations from code (used by ``hub migrate``, the embedded hub and the tests)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import make_url

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url)
    return config


def upgrade(url: str, revision: str = "head") -> list[str]:
    """Bring the database at ``url`` to ``revision``; safe to run again. Returns the migrations applied
    (their revisions, ``0008``), in the order run; none when it was up to date."""
    config = alembic_config(url)
    applied: list[str] = []
    config.attributes["applied"] = applied  # env.py records each step it runs
    command.upgrade(config, revision)
    return applied


def where(url: str) -> str:
    """The database as an operator would look for it: the SQLite file's path, or the URL without its password."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return f"the SQLite file {Path(parsed.database or '').resolve()}"
    return parsed.render_as_string(hide_password=True)


async def upgrade_async(url: str, revision: str = "head") -> None:
    # Alembic's env.py runs its own event loop, so keep it off ours.
    await asyncio.to_thread(upgrade, url, revision)


async def set_app_role_password(url: str, role: str, password: str) -> None:
    """Give the application role (created by the migrations) its password, as the owner; PostgreSQL only."""
    from sqlalchemy import text

    from plumbing.db.session import create_engine

    if not url.startswith("postgresql"):
        return
    engine = create_engine(url, pool_size=1, max_overflow=0)
    try:
        async with engine.begin() as conn:
            statement = await conn.scalar(
                text(
                    "SELECT format('ALTER ROLE %I WITH LOGIN PASSWORD %L', CAST(:role AS text), CAST(:password AS text))"
                ),
                {"role": role, "password": password},
            )
            await conn.exec_driver_sql(statement)  # not text(): a ":name" in the password is no parameter
    finally:
        await engine.dispose()
