"""One contract, two implementations: every test here runs on the real Redis and on the in-memory state."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from routing.live.base import LiveState
from routing.live.memory import MemoryLiveState
from routing.live.redis_state import RedisLiveState
from tests.conftest import REDIS_URL


@pytest.fixture(params=["memory", "redis"])
async def live(request: pytest.FixtureRequest, redis_prefix: str) -> AsyncIterator[LiveState]:
    state: LiveState = (
        MemoryLiveState() if request.param == "memory" else RedisLiveState.from_url(REDIS_URL, redis_prefix)
    )
    await state.reset()
    yield state
    await state.close()
