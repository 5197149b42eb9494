"""plumbing/db/session.py: the readiness probe's round trip to the database."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

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
