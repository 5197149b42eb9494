"""Tokens for a partner's people and systems: checked against the partners and agents they name, then issued."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from plumbing.auth.service import ROLES, TokenError, issue_token
from tenants.models import Agent, Tenant


async def create_token(
    session: AsyncSession,
    *,
    role: str,
    tenant: str | None = None,
    agent_id: str | None = None,
    label: str = "",
) -> str:
    """Store the hash of a new token and return the token itself (shown once)."""
    if role not in ROLES:
        raise TokenError(f"role must be one of {', '.join(ROLES)}")
    if tenant is not None and await session.get(Tenant, tenant) is None:
        raise TokenError(f"no tenant {tenant!r}")
    if role == "agent":
        if agent_id is None:
            raise TokenError("an agent token needs --agent")
        agent = await session.get(Agent, agent_id)
        if agent is None:
            raise TokenError(f"no agent {agent_id!r}")
        if tenant is not None and agent.tenant_slug != tenant:
            raise TokenError(f"agent {agent_id!r} belongs to {agent.tenant_slug!r}, not {tenant!r}")
        tenant = agent.tenant_slug
    elif agent_id is not None:
        raise TokenError("--agent is only for the agent role")
    if role in ("partner", "open311") and tenant is None:
        raise TokenError(f"a {role} token needs --tenant")
    return await issue_token(session, role=role, tenant=tenant, agent_id=agent_id, label=label)
