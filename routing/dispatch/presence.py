"""Agent status changes, each recorded as an append-only event beside the current status."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from tenants.models import Agent, AgentEvent

# wrap_up: after completing, until the agent says they are ready; break: away, not signed out.
STATUSES = ("available", "busy", "wrap_up", "break", "unavailable", "offline")


def change_status(session: AsyncSession, agent: Agent, status: str, *, at: datetime, reason: str) -> bool:
    """Set ``agent.status`` and log the change; returns False (and logs nothing) when it is unchanged."""
    if status not in STATUSES:
        raise ValueError(f"unknown agent status {status!r}")
    if agent.status == status:
        return False
    session.add(
        AgentEvent(
            agent_id=agent.id,
            tenant_slug=agent.tenant_slug,
            status=status,
            previous=agent.status,
            at=at,
            reason=reason,
        )
    )
    agent.status, agent.status_since = status, at
    return True
