"""``audit_log``: rows are only ever inserted; a database trigger refuses UPDATE, DELETE and TRUNCATE."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from plumbing.db.base import Base, BigId, JsonDoc, UTCDateTime


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_enquiry_id", "enquiry_id"),
        Index("ix_audit_log_at", "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    action: Mapped[str] = mapped_column(String(40))  # customer.viewed, agent.skills_changed
    # Who, copied rather than referenced: the record must outlive the user account.
    user_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    username: Mapped[str] = mapped_column(String(63))
    role: Mapped[str] = mapped_column(String(16))
    actor_tenant: Mapped[str | None] = mapped_column(String(63), nullable=True)
    agent_id: Mapped[str | None] = mapped_column(String(63), nullable=True)
    # What.
    enquiry_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    customer_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    owner_tenant: Mapped[str | None] = mapped_column(String(63), nullable=True)
    fields: Mapped[list[str]] = mapped_column(JsonDoc, default=list)
    detail: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
