"""The running hub: storage, live state, catalogue, dispatcher and intake, wired from settings."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from backoffice.outbox import enqueue_case
from backoffice.updates import StatusUpdates
from figures.definitions import definitions, version_at
from figures.satisfaction import SatisfactionSampler, SurveyInvite
from hub.migrate import upgrade_async
from plumbing.auth.revocation import RedisRevocations
from plumbing.auth.service import RevocationMarker
from plumbing.bus.memory import MemoryBus
from plumbing.db.session import create_engine, create_sessionmaker
from plumbing.db.side_loop import SideLoop
from plumbing.settings import Settings
from routing.dispatch.desk import AgentDesk
from routing.dispatch.opening import always_open, partner_hours
from routing.dispatch.service import Dispatcher
from routing.intake.contract import DEFAULT_LIMITS, IntakeLimits
from routing.intake.service import IntakeProcessor
from routing.live.base import LiveState
from routing.live.memory import MemoryLiveState
from routing.live.redis_state import RedisLiveState
from routing.models import Enquiry
from tenants.catalogue import CatalogueCache
from whatif.jobs import JobStore, MemoryJobStore, RedisJobStore, WhatIfJobs

log = structlog.get_logger(__name__)


def settle_heap() -> None:
    """After start-up: what was loaded so far (modules, the app, caches) is left out of garbage collection.

    A long-running process otherwise re-scans those objects in every full collection, a pause that lands on
    whichever request or batch is running (the p99).
    """
    gc.collect()
    gc.freeze()
    # Fewer young collections: a request or a batch makes thousands of short-lived objects, nearly all freed by
    # reference counting; the default (700) ran a collection every few statements.
    gc.set_threshold(10_000, 20, 20)


class Completion:
    """The desk's completion hooks, from the floors above routing: the back office's case and the survey sample."""

    def __init__(self, sampler: SatisfactionSampler | None = None) -> None:
        self.sampler = sampler or SatisfactionSampler()

    async def pass_to_back_office(
        self, session: AsyncSession, *, enquiry: Enquiry, at: datetime, notes: str | None, handler: str
    ) -> None:
        await enqueue_case(session, enquiry=enquiry, at=at, notes=notes, handler=handler)

    async def maybe_invite(
        self, session: AsyncSession, *, enquiry_id: int, tenant: str, reference: str, now: datetime
    ) -> SurveyInvite | None:
        return await self.sampler.maybe_invite(
            session, enquiry_id=enquiry_id, tenant=tenant, reference=reference, now=now
        )


def desk_for(dispatcher: Dispatcher) -> AgentDesk:
    """The agent desk with what completing an enquiry also does."""
    return AgentDesk(dispatcher, Completion())


def intake_for(dispatcher: Dispatcher, settings: Settings | None = None) -> IntakeProcessor:
    """The intake with the back office's status updates, the figures' short-abandon threshold and the limits."""
    skew = settings.update_clock_skew_seconds if settings is not None else 120
    return IntakeProcessor(
        dispatcher,
        apply_status_updates=StatusUpdates(timedelta(seconds=skew)),
        short_abandon_seconds=lambda at: definitions(version_at(at)).short_abandon_seconds,
        limits=intake_limits(settings) if settings is not None else DEFAULT_LIMITS,
    )


def intake_limits(settings: Settings) -> IntakeLimits:
    """The message limits the settings name (HUB_INTAKE_MAX_...)."""
    return IntakeLimits(
        max_message_bytes=settings.intake_max_message_bytes,
        max_attributes_bytes=settings.intake_max_attributes_bytes,
        max_depth=settings.intake_max_depth,
        max_string_chars=settings.intake_max_string_chars,
        earliest_year=settings.intake_earliest_year,
        latest_year=settings.intake_latest_year,
    )


@dataclass
class Hub:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    live: LiveState
    catalogue: CatalogueCache
    dispatcher: Dispatcher
    intake: IntakeProcessor
    desk: AgentDesk
    memory_bus: MemoryBus | None
    # figures, charts and packs run here, off the loop that serves agents (plumbing/db/side_loop.py)
    side_loop: SideLoop
    # what-if runs started here, their progress and results readable from every API process
    whatif_jobs: WhatIfJobs

    @classmethod
    async def start(cls, settings: Settings, *, migrate: bool | None = None, pre_ping: bool = True) -> Hub:
        """Connect to what the settings name; the embedded hub also migrates its SQLite file.

        ``pre_ping`` False: no liveness check even of a connection that sat unused (``ping_when_idle``), for a
        caller that retries a transaction which fails on a dead connection anyway (the worker).
        """
        url = settings.effective_database_url
        if settings.embedded:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        if migrate if migrate is not None else settings.embedded:
            await upgrade_async(settings.effective_migrate_url)
        pool = (
            {"pool_size": settings.database_pool_size, "max_overflow": settings.database_max_overflow}
            if not settings.embedded
            else {}
        )
        engine = create_engine(url, pool_pre_ping=pre_ping, **pool)
        sessionmaker = create_sessionmaker(engine)
        live: LiveState = (
            RedisLiveState.from_url(settings.redis_url, settings.redis_prefix)
            if settings.redis_url
            else MemoryLiveState()
        )
        catalogue = CatalogueCache(sessionmaker)
        dispatcher = Dispatcher(
            sessionmaker,
            live,
            catalogue,
            reservation_ttl_ms=int(settings.reservation_timeout_seconds * 1000),
            missed_offers_limit=settings.missed_offers_before_not_ready,
            open_now=always_open if settings.ignore_opening_hours else partner_hours(catalogue),
        )
        return cls(
            settings=settings,
            engine=engine,
            sessionmaker=sessionmaker,
            live=live,
            catalogue=catalogue,
            dispatcher=dispatcher,
            intake=intake_for(dispatcher, settings),
            desk=desk_for(dispatcher),
            memory_bus=MemoryBus() if not settings.amqp_url else None,
            side_loop=SideLoop(url),
            whatif_jobs=WhatIfJobs(job_store(live, settings)),
        )

    async def close(self) -> None:
        await self.whatif_jobs.close()
        await self.side_loop.close()
        await self.live.close()
        await self.engine.dispose()


def job_store(live: LiveState, settings: Settings) -> JobStore:
    """Redis beside the live state, so every API process reads every job; the embedded hub is one process."""
    if isinstance(live, RedisLiveState):
        return RedisJobStore(live.redis, settings.redis_prefix)
    return MemoryJobStore()


def revocation_marker(hub: Hub) -> RevocationMarker | None:
    """The marker every process checks before trusting a cached token (none for the in-memory hub)."""
    if isinstance(hub.live, RedisLiveState):
        return RedisRevocations(hub.live.redis, f"{hub.settings.redis_prefix}tokens:revoked")
    return None


@asynccontextmanager
async def running_hub(settings: Settings) -> AsyncIterator[Hub]:
    """A hub for one command: started, then closed whatever happens (the CLI's unit of lifetime)."""
    hub = await Hub.start(settings)
    try:
        yield hub
    finally:
        await hub.close()
