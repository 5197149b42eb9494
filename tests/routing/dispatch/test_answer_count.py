"""Counting an answer in the live figures is best effort only against an outage; a bug is not swallowed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis
from structlog.testing import capture_logs

from hub.runtime import Hub, desk_for
from routing.live.redis_state import RedisLiveState


async def test_an_answer_not_counted_while_redis_is_away_is_a_warning_and_a_bug_still_raises(
    hub: Hub,
) -> None:
    desk = desk_for(hub.dispatcher)
    # Nothing listens on port 1: the real client's real connection error, as when Redis restarts.
    away = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    desk.live = RedisLiveState(away, prefix="answer-count:")
    try:
        with capture_logs() as logs:
            await desk._count_answer("nobody/missed-bin", 3.0, datetime.now(UTC))
        assert [e["event"] for e in logs] == ["stats.answer_not_counted"]
        # A programming error (here: a time that is no time) is not an outage and is not hidden any more.
        desk.live = hub.live
        with pytest.raises(AttributeError):
            await desk._count_answer("nobody/missed-bin", 3.0, "09:00")  # type: ignore[arg-type]
    finally:
        await away.aclose()
