"""Who a token or a user stands for: checked against the partners and agents it names, in one place."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from plumbing.auth.service import ROLES, TokenError, issue_token
from tenants.models import Agent, Tenant


class OwnerError(ValueError):
    """The partner or agent a token or user names does not fit its role."""


async def resolve_owner(
    session: AsyncSession, *, role: str, tenant: str | None, agent_id: str | None, what: str
) -> tuple[str | None, Agent | None]:
    """The partner a ``what`` ("token", "user") of ``role`` belongs to, and its agent for the agent role."""
    if tenant is not None and await session.get(Tenant, tenant) is None:
        raise OwnerError(f"no partner {tenant!r}")
    if role != "agent":
        if agent_id is not None:
            raise OwnerError("--agent is only for the agent role")
        if role in ("partner", "open311") and tenant is None:
            raise OwnerError(f"a {role} {what} needs --tenant")
        return tenant, None
    if agent_id is None:
        raise OwnerError(f"an agent's {what} needs --agent")
    agent = await session.get(Agent, agent_id)
    if agent is None:
        raise OwnerError(f"no agent {agent_id!r}")
    if tenant is not None and agent.tenant_slug != tenant:
        raise OwnerError(f"agent {agent_id!r} belongs to {agent.tenant_slug!r}, not {tenant!r}")
    return agent.tenant_slug, agent


async def create_token(
    session: AsyncSession,
    *,
    role: str,
    tenant: str | None = None,
    agent_id: str | None = None,
    label: str = "",
    expires_at: datetime | None = None,
) -> str:
    """Store the hash of a new token and return the token itself (shown once); ``expires_at`` None: no expiry."""
    if role not in ROLES:
        raise TokenError(f"role must be one of {', '.join(ROLES)}")
    try:
        tenant, _ = await resolve_owner(session, role=role, tenant=tenant, agent_id=agent_id, what="token")
    except OwnerError as exc:
        raise TokenError(str(exc)) from None
    return await issue_token(
        session, role=role, tenant=tenant, agent_id=agent_id, label=label, expires_at=expires_at
    )
