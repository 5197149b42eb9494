"""Customers as each owner partner knows them, keyed by normalised UPRN, phone and email."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from plumbing.db.base import Base, BigId, UTCDateTime, utcnow


class Customer(Base):
    """A person known to one owner partner. Enquiries point here; matching never crosses partners."""

    __tablename__ = "customers"
    __table_args__ = (
        Index("ix_customers_tenant_uprn", "tenant_slug", "uprn"),
        Index("ix_customers_tenant_phone", "tenant_slug", "phone"),
        Index("ix_customers_tenant_email", "tenant_slug", "email"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_slug: Mapped[str] = mapped_column(ForeignKey("tenants.slug"))
    name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    uprn: Mapped[str | None] = mapped_column(String(20), nullable=True)
    phone: Mapped[str | None] = mapped_column(String(20), nullable=True)
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
