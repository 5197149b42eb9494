"""Tenants, their catalogue services and their agents."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, SmallInteger, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from plumbing.db.base import Base, BigId, JsonDoc, UTCDateTime, utcnow


class Tenant(Base):
    """A partner authority, or the hub itself as a pool of shared agents (kind ``pool``)."""

    __tablename__ = "tenants"

    slug: Mapped[str] = mapped_column(String(63), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16), default="partner")
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/London")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Hours, bank holidays, closures and contact, as in the partner definition (see tenants.schemas).
    settings: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict, server_default=text("'{}'"))
    catalogue_version: Mapped[int | None] = mapped_column(Integer, nullable=True)

    services: Mapped[list[Service]] = relationship(back_populates="tenant", cascade="all, delete-orphan")
    agents: Mapped[list[Agent]] = relationship(back_populates="tenant", cascade="all, delete-orphan")


class Service(Base):
    """One entry of a tenant's catalogue."""

    __tablename__ = "services"
    __table_args__ = (UniqueConstraint("tenant_slug", "code"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_slug: Mapped[str] = mapped_column(ForeignKey("tenants.slug", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(63))
    name: Mapped[str] = mapped_column(String(200))
    lgsl_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    skills: Mapped[list[str]] = mapped_column(JsonDoc, default=list)
    priority: Mapped[int] = mapped_column(Integer, default=5)
    sl_threshold_seconds: Mapped[int] = mapped_column(Integer, default=20)
    sl_target: Mapped[float] = mapped_column(default=0.8)
    required_fields: Mapped[list[str]] = mapped_column(JsonDoc, default=list)
    definition: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    # A service dropped from the definition stays (enquiries point at it) but takes no new work.
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))

    tenant: Mapped[Tenant] = relationship(back_populates="services")


class CatalogueVersion(Base):
    """A partner's catalogue as it stood from one change to the next; never updated, only added to.

    An enquiry records the version it was routed under, so its service name, resolution target and hours
    read back as they were, whatever the catalogue says later.
    """

    __tablename__ = "catalogue_versions"
    __table_args__ = (UniqueConstraint("tenant_slug", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_slug: Mapped[str] = mapped_column(ForeignKey("tenants.slug", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    digest: Mapped[str] = mapped_column(String(64))
    definition: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    source: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Agent(Base):
    """A person who takes work from the shared queue, employed by a partner or by the hub."""

    __tablename__ = "agents"

    id: Mapped[str] = mapped_column(String(63), primary_key=True)
    tenant_slug: Mapped[str] = mapped_column(ForeignKey("tenants.slug", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="offline")
    status_since: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    missed_offers: Mapped[int] = mapped_column(Integer, default=0)

    tenant: Mapped[Tenant] = relationship(back_populates="agents")
    skill_rows: Mapped[list[AgentSkill]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="AgentSkill.skill"
    )

    @property
    def skills(self) -> list[str]:
        return [row.skill for row in self.skill_rows]


class AgentSkill(Base):
    __tablename__ = "agent_skills"

    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True)
    skill: Mapped[str] = mapped_column(String(63), primary_key=True)
    # Proficiency 1 (learning) to 5 (expert); None: not rated (counted as routing.policy.proficiency's default).
    level: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)


class AgentEvent(Base):
    """Append-only: every change of an agent's status, so occupancy and staffing are derived, not kept."""

    __tablename__ = "agent_events"
    __table_args__ = (Index("ix_agent_events_tenant_at", "tenant_slug", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    tenant_slug: Mapped[str] = mapped_column(String(63))
    status: Mapped[str] = mapped_column(String(16))
    previous: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(String(40), default="")
