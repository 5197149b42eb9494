"""Published periods (figures frozen with their definitions) and satisfaction surveys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from plumbing.db.base import Base, BigId, JsonDoc, UTCDateTime, utcnow


class PublishedPeriod(Base):
    """A month's figures as the committee saw them; never rewritten, whatever definitions come later."""

    __tablename__ = "published_periods"
    # One original per partner and month; a correction is a new row naming the row it corrects (at most once),
    # and readers take the latest of the chain (migration 0018).
    __table_args__ = (
        Index(
            "uq_published_periods_original",
            "tenant_slug",
            "period",
            unique=True,
            postgresql_where=text("corrects IS NULL"),
            sqlite_where=text("corrects IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_slug: Mapped[str] = mapped_column(ForeignKey("tenants.slug"))
    period: Mapped[str] = mapped_column(String(7))  # YYYY-MM, the partner's local month
    definitions_version: Mapped[str] = mapped_column(String(16))
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    figures: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    corrects: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("published_periods.id"), unique=True, nullable=True
    )
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)  # why the correction was made


class SurveyInvite(Base):
    """A completed contact invited to rate the service; the token is the only way to answer."""

    __tablename__ = "survey_invites"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    enquiry_id: Mapped[int] = mapped_column(ForeignKey("enquiries.id"), unique=True)
    tenant_slug: Mapped[str] = mapped_column(String(63), index=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    sample_rate: Mapped[float] = mapped_column()
    invited_at: Mapped[datetime] = mapped_column(UTCDateTime)
    rating: Mapped[str | None] = mapped_column(String(8), nullable=True)
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
