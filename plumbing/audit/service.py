"""Write audit rows. There is deliberately no function here to change or remove one."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from plumbing.audit.models import AuditEntry


async def record(
    session: AsyncSession,
    *,
    at: datetime,
    action: str,
    username: str,
    role: str,
    user_id: int | None = None,
    actor_tenant: str | None = None,
    agent_id: str | None = None,
    enquiry_id: int | None = None,
    customer_id: int | None = None,
    owner_tenant: str | None = None,
    fields: Iterable[str] = (),
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add one audit row (flushed; the caller's unit of work commits it with what it describes)."""
    entry = AuditEntry(
        at=at,
        action=action,
        user_id=user_id,
        username=username,
        role=role,
        actor_tenant=actor_tenant,
        agent_id=agent_id,
        enquiry_id=enquiry_id,
        customer_id=customer_id,
        owner_tenant=owner_tenant,
        fields=sorted(set(fields)),
        detail=detail or {},
    )
    session.add(entry)
    await session.flush()
    return entry
