"""An in-memory snapshot of tenants, services and agents' eligibility, read on every intake hot path."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tenants.models import Service, Tenant
from tenants.service_routing import ServiceRouting, routing_of


@dataclass(frozen=True)
class ServiceInfo:
    id: int
    tenant: str
    code: str
    name: str
    skills: frozenset[str]
    priority: int
    sl_threshold_seconds: int
    sl_target: float
    required_fields: tuple[str, ...]
    routing: ServiceRouting = field(default_factory=ServiceRouting)

    @property
    def queue(self) -> str:
        """The live queue an enquiry for this service waits in."""
        return f"{self.tenant}/{self.code}"


@dataclass(frozen=True)
class TenantInfo:
    slug: str
    name: str
    kind: str
    services: dict[str, ServiceInfo] = field(default_factory=dict)


@dataclass
class Catalogue:
    """What intake and dispatch need to know about partners, without a database round trip."""

    tenants: dict[str, TenantInfo] = field(default_factory=dict)
    loaded_at: float = 0.0

    def service(self, tenant: str, code: str) -> ServiceInfo | None:
        info = self.tenants.get(tenant)
        return info.services.get(code) if info else None

    def queues_for_agent(self, tenant: str, skills: set[str] | frozenset[str]) -> list[str]:
        """The live queues an agent can take work from: its own partner's services it has every skill for."""
        info = self.tenants.get(tenant)
        if info is None:
            return []
        return sorted(s.queue for s in info.services.values() if s.skills <= skills)


async def read_catalogue(session: AsyncSession) -> Catalogue:
    tenants = {
        t.slug: TenantInfo(t.slug, t.name, t.kind) for t in (await session.scalars(select(Tenant))).all()
    }
    for s in (await session.scalars(select(Service))).all():
        tenants[s.tenant_slug].services[s.code] = ServiceInfo(
            id=s.id,
            tenant=s.tenant_slug,
            code=s.code,
            name=s.name,
            skills=frozenset(s.skills),
            priority=s.priority,
            sl_threshold_seconds=s.sl_threshold_seconds,
            sl_target=s.sl_target,
            required_fields=tuple(s.required_fields),
            routing=routing_of(s.definition),
        )
    return Catalogue(tenants=tenants, loaded_at=time.monotonic())


class CatalogueCache:
    """Reloads every minute, and on a miss (a partner added while running); a repeated miss waits a second."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], max_age_seconds: float = 60.0) -> None:
        self._sessionmaker = sessionmaker
        self._max_age = max_age_seconds
        self._catalogue = Catalogue()
        self._misses: dict[tuple[str, str | None], float] = {}

    async def get(self) -> Catalogue:
        if time.monotonic() - self._catalogue.loaded_at > self._max_age:
            await self.reload()
        return self._catalogue

    async def reload(self) -> Catalogue:
        async with self._sessionmaker() as session:
            self._catalogue = await read_catalogue(session)
        return self._catalogue

    async def get_fresh_if_missing(self, tenant: str, code: str | None = None) -> Catalogue:
        """The catalogue, reloaded first if ``tenant`` (or its service ``code``) is not in it yet."""
        catalogue = await self.get()
        if _knows(catalogue, tenant, code):
            return catalogue
        key = (tenant, code)
        now = time.monotonic()
        # A flood of messages for an unknown partner must not become a flood of catalogue reads.
        if now - self._misses.get(key, -10.0) < 1.0:
            return catalogue
        catalogue = await self.reload()
        if not _knows(catalogue, tenant, code):
            if len(self._misses) > 10_000:
                self._misses.clear()
            self._misses[key] = now
        return catalogue


def _knows(catalogue: Catalogue, tenant: str, code: str | None) -> bool:
    return tenant in catalogue.tenants and (code is None or catalogue.service(tenant, code) is not None)
