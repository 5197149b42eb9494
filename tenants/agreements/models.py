"""Stored agreements (overflow and data-sharing): the validated definition as written, keyed by its id."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from plumbing.db.base import Base, JsonDoc, UTCDateTime, utcnow


class AgreementRow(Base):
    __tablename__ = "agreements"

    id: Mapped[str] = mapped_column(String(63), primary_key=True)
    lender_slug: Mapped[str] = mapped_column(ForeignKey("tenants.slug", ondelete="CASCADE"), index=True)
    borrower_slug: Mapped[str] = mapped_column(ForeignKey("tenants.slug", ondelete="CASCADE"), index=True)
    definition: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DataSharingRow(Base):
    """A stored data-sharing agreement; ``parties`` is copied out of the definition for row-level security."""

    __tablename__ = "data_sharing_agreements"

    id: Mapped[str] = mapped_column(String(63), primary_key=True)
    parties: Mapped[list[str]] = mapped_column(JsonDoc, default=list)
    definition: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
