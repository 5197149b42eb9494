"""The publishing outbox: messages written in a transaction, sent by the relay once it has committed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from plumbing.db.base import Base, BigId, JsonDoc, UTCDateTime, utcnow


class OutboxMessage(Base):
    """A message to publish once the transaction that wrote it has committed; deleted after its confirm."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    exchange: Mapped[str] = mapped_column(String(255))
    routing_key: Mapped[str] = mapped_column(String(255))
    message_id: Mapped[str] = mapped_column(String(200))
    message_type: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str] = mapped_column(String(100), default="application/json")
    headers: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
