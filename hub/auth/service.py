"""Create and check bearer tokens. Tokens carry 256 random bits, so a SHA-256 of each is a safe store."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.auth.models import ApiToken
from tenants.models import Agent, Tenant

# ``open311``: a partner's Open311 api_key, good for posting requests to that partner and nothing else
# (no endpoint of the hub's own API lets it through, so a key handed to a third-party client reads no figures).
ROLES = ("agent", "supervisor", "committee", "admin", "partner", "open311")


class TokenError(ValueError):
    pass


@dataclass(frozen=True)
class Principal:
    """Who is calling: a role, the partner it is scoped to (None: every partner) and the agent it is."""

    role: str
    tenant: str | None
    agent_id: str | None = None

    def sees(self, tenant: str) -> bool:
        return self.tenant is None or self.tenant == tenant


# Who a token is, and the partners its requests may see (None: every partner).
Caller = tuple["Principal", set[str] | None]


class PrincipalCache:
    """Tokens checked in the last seconds, so an agent's every click does not look its token up again.

    Only tokens found are kept. A token revoked or deleted in the database stops working, and an agreement
    signed or ended changes what its requests may see, within ``max_age_seconds``.
    """

    def __init__(self, max_age_seconds: float = 30.0, max_entries: int = 10_000) -> None:
        self.max_age_seconds = max_age_seconds
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, Caller]] = {}

    def get(self, token: str) -> Caller | None:
        entry = self._entries.get(hash_token(token))  # kept by hash: no secret lives on in memory
        if entry is None or time.monotonic() - entry[0] > self.max_age_seconds:
            return None
        return entry[1]

    def put(self, token: str, caller: Caller) -> None:
        if len(self._entries) >= self.max_entries:
            self._entries.clear()  # rare (that many distinct callers in a few seconds): start again
        self._entries[hash_token(token)] = (time.monotonic(), caller)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


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
    token = "hub_" + secrets.token_urlsafe(32)
    session.add(
        ApiToken(token_hash=hash_token(token), role=role, tenant_slug=tenant, agent_id=agent_id, label=label)
    )
    await session.flush()
    return token


async def authenticate(session: AsyncSession, token: str) -> Principal | None:
    row = await session.scalar(
        select(ApiToken).where(ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None))
    )
    if row is None:
        return None
    return Principal(row.role, row.tenant_slug, row.agent_id)


async def check_api_key(session: AsyncSession, key: str, *, tenant: str) -> bool:
    """Whether ``key`` is a live Open311 api_key of ``tenant`` (the one place keys are checked)."""
    if not key:
        return False
    principal = await authenticate(session, key)
    return principal is not None and principal.role == "open311" and principal.tenant == tenant
