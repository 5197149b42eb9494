"""``hub adapters run``: claim due deliveries, hand each to its service's adapter, record the outcome."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.base import (
    AdapterConfigError,
    AdapterContext,
    AdapterRegistry,
    DeliveryError,
    PermanentDeliveryError,
)
from backoffice.outbox import Claimed, RetryPolicy, claim_due, record_delivered, record_failed
from tenants.models import Service

log = structlog.get_logger(__name__)


@dataclass
class RunStats:
    delivered: int = 0
    retrying: int = 0
    parked: int = 0

    @property
    def attempted(self) -> int:
        return self.delivered + self.retrying + self.parked


class DeliveryRunner:
    """One adapter worker. Several can run against one database: claims never overlap (SKIP LOCKED)."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        registry: AdapterRegistry | None = None,
        policy: RetryPolicy | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        batch_size: int = 20,
        http: httpx.AsyncClient | None = None,
        tenants: list[str] | None = None,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.registry = registry or AdapterRegistry.from_entry_points()
        self.policy = policy or RetryPolicy()
        self.clock = clock
        self.batch_size = batch_size
        self.tenants = tenants  # None: every partner's deliveries; else only these partners'
        self._own_http = http is None
        self.http = http or httpx.AsyncClient(follow_redirects=False)
        self.wake = asyncio.Event()  # set by whoever just queued a delivery in this process
        self.totals = RunStats()

    async def close(self) -> None:
        if self._own_http:
            await self.http.aclose()

    async def run_once(self) -> RunStats:
        """Claim one batch and deliver it (distinct enquiries, so side by side); wait for every outcome."""
        claimed = await claim_due(
            self.sessionmaker,
            now=self.clock(),
            limit=self.batch_size,
            lease_seconds=self.policy.lease_seconds,
            tenants=self.tenants,
        )
        stats = RunStats()
        if not claimed:
            return stats
        specs = await self._adapter_specs({c.service_id for c in claimed})
        outcomes = await asyncio.gather(*(self._deliver(c, specs.get(c.service_id)) for c in claimed))
        for outcome in outcomes:
            setattr(stats, outcome, getattr(stats, outcome) + 1)
            setattr(self.totals, outcome, getattr(self.totals, outcome) + 1)
        return stats

    async def run_until_idle(self, max_rounds: int = 1000) -> RunStats:
        """Deliver until nothing is due now (tests, ``--once``)."""
        total = RunStats()
        for _ in range(max_rounds):
            stats = await self.run_once()
            if not stats.attempted:
                break
            total.delivered += stats.delivered
            total.retrying += stats.retrying
            total.parked += stats.parked
        return total

    async def run(self, stop: asyncio.Event, poll_seconds: float = 0.5) -> None:
        """Until ``stop``: a batch whenever there is work, otherwise a look every ``poll_seconds``."""
        structlog.contextvars.clear_contextvars()  # a worker's lines carry only their own delivery's ids
        log.info("adapters.start", adapters=self.registry.names)
        failures = 0
        while not stop.is_set():
            try:
                stats = await self.run_once()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database went away: keep the worker, try again shortly
                failures += 1
                log.warning("adapters.round_failed", error=str(exc)[:300], failures=failures)
                stats = RunStats()
                await asyncio.sleep(min(10.0, 0.2 * 2**failures))
            if stats.attempted:
                continue
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(_first(stop, self.wake), timeout=poll_seconds)
        log.info("adapters.stop", **self.totals.__dict__)

    async def _adapter_specs(self, service_ids: set[int]) -> dict[int, tuple[str, dict[str, Any] | None]]:
        """Each service's ``adapter:`` block as it is now, so a fixed configuration applies on the next try."""
        async with self.sessionmaker() as session:
            rows = (
                await session.execute(
                    select(Service.id, Service.tenant_slug, Service.code, Service.definition).where(
                        Service.id.in_(service_ids)
                    )
                )
            ).all()
        return {
            service_id: (f"service {code!r} of {tenant!r}", (definition or {}).get("adapter"))
            for service_id, tenant, code, definition in rows
        }

    async def _deliver(self, claimed: Claimed, spec: tuple[str, dict[str, Any] | None] | None) -> str:
        delivery = claimed.delivery
        where, adapter_spec = spec or (f"service {delivery.service_code!r} of {delivery.tenant!r}", None)
        adapter_name = str((adapter_spec or {}).get("name") or "")
        bound = log.bind(
            delivery_id=delivery.id,
            reference=delivery.reference,
            tenant=delivery.tenant,
            adapter=adapter_name,
            attempt=delivery.attempt,
        )
        context = AdapterContext(http=self.http, clock=self.clock)
        try:
            adapter = self.registry.build(adapter_spec, context, where=where)
            result = await adapter.deliver(delivery)
        except DeliveryError as exc:
            permanent = isinstance(exc, PermanentDeliveryError)
            code = "adapter_config" if isinstance(exc, AdapterConfigError) else type(exc).__name__
            status = await record_failed(
                self.sessionmaker,
                claimed,
                f"{code}: {exc}",
                adapter=adapter_name,
                permanent=permanent,
                policy=self.policy,
                now=self.clock(),
            )
            bound.warning(
                "adapters.delivery_failed", error=str(exc)[:300], permanent=permanent, status=status
            )
            return "parked" if status == "parked" else "retrying"
        except Exception as exc:
            # An adapter bug must not stop the queue: counted as a failed try, retried, parked in the end.
            status = await record_failed(
                self.sessionmaker,
                claimed,
                f"unexpected {type(exc).__name__}: {exc}",
                adapter=adapter_name,
                permanent=False,
                policy=self.policy,
                now=self.clock(),
            )
            bound.exception("adapters.delivery_crashed", status=status)
            return "parked" if status == "parked" else "retrying"
        await record_delivered(self.sessionmaker, claimed, result, adapter=adapter_name, now=self.clock())
        bound.info("adapters.delivered", external_ref=result.external_ref)
        return "delivered"


async def _first(*events: asyncio.Event) -> None:
    waiters = [asyncio.create_task(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
