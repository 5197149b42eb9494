"""The delivery outbox, each enquiry's back-office case, and the append-only log of its status updates."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from plumbing.db.base import Base, BigId, JsonDoc, UTCDateTime, utcnow

# A delivery is ``pending`` (due at ``next_attempt_at``, or claimed until then), ``delivered`` or ``parked``.
PENDING, DELIVERED, PARKED = "pending", "delivered", "parked"


class BackofficeDelivery(Base):
    """One thing a back office must receive, written in the transaction of the change it carries."""

    __tablename__ = "backoffice_deliveries"
    __table_args__ = (
        Index("ix_backoffice_deliveries_due", "status", "next_attempt_at"),
        Index("ix_backoffice_deliveries_enquiry", "enquiry_id", "id"),
        Index("ix_backoffice_deliveries_tenant_status", "tenant_slug", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    enquiry_id: Mapped[int] = mapped_column(ForeignKey("enquiries.id"))
    tenant_slug: Mapped[str] = mapped_column(String(63))
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"))
    service_code: Mapped[str] = mapped_column(String(63))
    # The adapter named when the row was last tried; the service definition decides at each attempt.
    adapter: Mapped[str] = mapped_column(String(63), default="")
    kind: Mapped[str] = mapped_column(String(40))
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claim_token: Mapped[str | None] = mapped_column(String(32), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    external_ref: Mapped[str | None] = mapped_column(String(200), nullable=True)
    redriven: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    parked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Case(Base):
    """An enquiry's life in the back office: the status last applied, kept beside the update log."""

    __tablename__ = "cases"
    __table_args__ = (Index("ix_cases_tenant_external_ref", "tenant_slug", "external_ref"),)

    enquiry_id: Mapped[int] = mapped_column(ForeignKey("enquiries.id"), primary_key=True)
    tenant_slug: Mapped[str] = mapped_column(String(63))
    status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    status_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    expected_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    passed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    external_ref: Mapped[str | None] = mapped_column(String(200), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CaseUpdate(Base):
    """Append-only: one row per status update applied; ``(tenant, source, source_id)`` makes a repeat a no-op."""

    __tablename__ = "case_updates"
    __table_args__ = (
        UniqueConstraint("tenant_slug", "source", "source_id"),
        Index("ix_case_updates_enquiry", "enquiry_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    enquiry_id: Mapped[int] = mapped_column(ForeignKey("enquiries.id"))
    tenant_slug: Mapped[str] = mapped_column(String(63))
    source: Mapped[str] = mapped_column(String(16))
    source_id: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)
    expected_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
