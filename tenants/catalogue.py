"""An in-memory snapshot of tenants, services and agents' eligibility, read on every intake hot path."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from plumbing.db.scope import all_partners
from tenants.hours import OpeningHours
from tenants.models import CatalogueVersion, Service, Tenant
from tenants.schemas import ServiceDefinition, opening_hours_from_settings
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
    # The whole catalogue entry (attributes, keywords, targets...); None only for rows older than it.
    spec: ServiceDefinition | None = None
    hours: OpeningHours | None = None  # the service's own hours, when it has them; else the partner's
    routing: ServiceRouting = field(default_factory=ServiceRouting)

    @property
    def queue(self) -> str:
        """The live queue an enquiry for this service waits in."""
        return f"{self.tenant}/{self.code}"

    @property
    def keywords(self) -> tuple[str, ...]:
        return tuple(self.spec.keywords) if self.spec else ()

    @property
    def synonyms(self) -> tuple[str, ...]:
        return tuple(self.spec.synonyms) if self.spec else ()


@dataclass(frozen=True)
class TenantInfo:
    slug: str
    name: str
    kind: str
    services: dict[str, ServiceInfo] = field(default_factory=dict)
    # Services dropped from the definition: no new work, but what already waits for them is still served.
    retired: dict[str, ServiceInfo] = field(default_factory=dict)
    catalogue_version: int | None = None  # what an enquiry routed now is recorded under
    hours: OpeningHours = field(default_factory=OpeningHours)
    settings: dict[str, Any] = field(default_factory=dict)


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
        services = (*info.services.values(), *info.retired.values())
        return sorted(s.queue for s in services if s.skills <= skills)


def _spec(definition: dict[str, Any]) -> ServiceDefinition | None:
    try:
        return ServiceDefinition.model_validate(definition)
    except ValidationError:
        return None  # a row stored before catalogues had every field: routable, just not classifiable


async def catalogue_stamp(session: AsyncSession) -> int:
    """The newest catalogue version's id: every load that changes a partner's catalogue writes a new one."""
    return int(await session.scalar(select(func.max(CatalogueVersion.id))) or 0)


async def read_catalogue(session: AsyncSession) -> Catalogue:
    rows = {t.slug: t for t in (await session.scalars(select(Tenant))).all()}
    tenants = {
        t.slug: TenantInfo(
            t.slug,
            t.name,
            t.kind,
            catalogue_version=t.catalogue_version,
            hours=opening_hours_from_settings(t.timezone, t.settings or {}),
            settings=dict(t.settings or {}),
        )
        for t in rows.values()
    }
    for s in (await session.scalars(select(Service).order_by(Service.id))).all():
        spec = _spec(s.definition)
        tenant_row = rows[s.tenant_slug]
        owner = tenants[s.tenant_slug]
        (owner.services if s.active else owner.retired)[s.code] = ServiceInfo(
            id=s.id,
            tenant=s.tenant_slug,
            code=s.code,
            name=s.name,
            skills=frozenset(s.skills),
            priority=s.priority,
            sl_threshold_seconds=s.sl_threshold_seconds,
            sl_target=s.sl_target,
            required_fields=tuple(s.required_fields),
            spec=spec,
            hours=(
                opening_hours_from_settings(
                    tenant_row.timezone, tenant_row.settings or {}, override=spec.opening_hours
                )
                if spec is not None and spec.opening_hours is not None
                else None
            ),
            routing=routing_of(s.definition),
        )
    return Catalogue(tenants=tenants, loaded_at=time.monotonic())


class CatalogueCache:
    """A load by any process is seen here within ``check_every_seconds``; reloads on a miss too (a partner added
    while running; a repeated miss waits a second).

    Each ``get`` at most twice a second reads the newest catalogue version's id (one indexed row) and reloads when
    it moved, so a load is in force in every process within a second, the reload included, and an enquiry taken
    in just after it is stamped with the new version.
    """

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        max_age_seconds: float = 60.0,
        check_every_seconds: float = 0.5,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._max_age = max_age_seconds
        self._check_every = check_every_seconds
        self._catalogue = Catalogue()
        self._misses: dict[tuple[str, str | None], float] = {}
        self._checked_at = -1e9
        self._stamp: int | None = None
        # One reload at a time, so one that read before a load cannot finish after a later one and put it back.
        self._reloading = asyncio.Lock()

    @property
    def current(self) -> Catalogue:
        """The snapshot last read, without I/O (for synchronous callers such as the opening-hours check)."""
        return self._catalogue

    async def get(self) -> Catalogue:
        now = time.monotonic()
        if now - self._catalogue.loaded_at > self._max_age:
            await self.reload()
        elif now - self._checked_at >= self._check_every:
            self._checked_at = now  # before the await: concurrent callers do not all check
            with all_partners():
                async with self._sessionmaker() as session:
                    stamp = await catalogue_stamp(session)
            if stamp != self._stamp:
                await self.reload()
        return self._catalogue

    async def reload(self) -> Catalogue:
        # Every partner's services, whatever the scope of the request or task that happens to trigger the
        # reload: the cache is shared by the whole process (a narrowed request must not shrink it for everyone).
        async with self._reloading:
            with all_partners():
                async with self._sessionmaker() as session:
                    # the stamp first: a load committed between the two reads is caught by the next check
                    stamp = await catalogue_stamp(session)
                    self._catalogue = await read_catalogue(session)
            self._stamp, self._checked_at = stamp, time.monotonic()
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
