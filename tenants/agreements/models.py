"""Stored agreements (overflow and data-sharing): the validated definition as written, keyed by its id."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from plumbing.db.base import Base, BigId, JsonDoc, UTCDateTime, utcnow


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


class AgreementVersion(Base):
    """An agreement as written from ``valid_from`` on (no definition: ended then); append-only. A month's ledger
    charges each contact at the version in force when it was routed (``figures.periods``)."""

    __tablename__ = "agreement_versions"
    __table_args__ = (Index("ix_agreement_versions_agreement_id_valid_from", "agreement_id", "valid_from"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    agreement_id: Mapped[str] = mapped_column(String(63))
    lender_slug: Mapped[str] = mapped_column(String(63))
    borrower_slug: Mapped[str] = mapped_column(String(63))
    definition: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc, nullable=True)
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime)
