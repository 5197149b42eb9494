"""Liveness and readiness probes."""

from __future__ import annotations

import asyncio
import time

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from plumbing.bus.amqp import AmqpConnection
from plumbing.db.session import ping
from routing.live.redis_state import RedisLiveState

router = APIRouter(tags=["health"])

_BROKER_CHECK_TTL = 5.0


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


async def _check_database(request: Request) -> None:
    await ping(request.app.state.hub.engine)


async def _check_redis(request: Request) -> None:
    live = request.app.state.hub.live
    if isinstance(live, RedisLiveState):
        await live.redis.ping()


async def _check_broker(request: Request) -> None:
    url = request.app.state.hub.settings.amqp_url
    if not url:
        return
    # Opening a connection per probe would be costly; a recent success stands for a few seconds.
    cached = getattr(request.app.state, "broker_ok_at", 0.0)
    if time.monotonic() - cached < _BROKER_CHECK_TTL:
        return
    connection = await AmqpConnection.open(url, name="hub-readyz")
    await connection.close()
    request.app.state.broker_ok_at = time.monotonic()


@router.get("/readyz", summary="Database, Redis and broker reachable")
async def readyz(request: Request) -> JSONResponse:
    checks = {"database": _check_database, "redis": _check_redis, "broker": _check_broker}
    results: dict[str, str] = {}
    for name, check in checks.items():
        try:
            await asyncio.wait_for(check(request), timeout=3)
            results[name] = "ok"
        except Exception as exc:
            results[name] = f"unreachable: {type(exc).__name__}"
    ready = all(v == "ok" for v in results.values())
    return JSONResponse({"ready": ready, "checks": results}, status_code=200 if ready else 503)
