"""Create and check bearer tokens. Tokens carry 256 random bits, so a SHA-256 of each is a safe store."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from plumbing.auth.models import ApiToken
from plumbing.db.base import utcnow

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


# How long a process trusts a token it looked up. Revocation and expiry take effect in every process within this
# (docs/operations.md promises a second): each process looks each busy token up at most once a second.
CACHE_SECONDS = 1.0


class PrincipalCache:
    """Tokens checked in the last second, so an agent's every click does not look its token up again.

    Only tokens found are kept. A token revoked, expired or deleted in the database stops working, and an
    agreement signed or ended changes what its requests may see, within ``max_age_seconds`` in every process.
    """

    def __init__(self, max_age_seconds: float = CACHE_SECONDS, max_entries: int = 10_000) -> None:
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


# The partners a caller of a partner (None: no partner) may see; None for every partner. Decided above this floor.
ScopeRule = Callable[[str | None], Awaitable[set[str] | None]]


class Authenticator:
    """Who a bearer token is and which partners its requests may see (the scope rule is handed in)."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        scope_rule: ScopeRule,
        cache: PrincipalCache | None = None,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.scope_rule = scope_rule
        self.cache = cache or PrincipalCache()

    async def caller(self, token: str) -> Caller | None:
        """The principal and its partners, or None for an unknown or revoked token."""
        caller = self.cache.get(token)
        if caller is None:
            async with self.sessionmaker() as session:
                principal = await authenticate(session, token)
            if principal is None:
                return None
            caller = (principal, await self.scope_rule(principal.tenant))
            self.cache.put(token, caller)
        return caller


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def issue_token(
    session: AsyncSession,
    *,
    role: str,
    tenant: str | None,
    agent_id: str | None,
    label: str = "",
    expires_at: datetime | None = None,
) -> str:
    """Store the hash of a new token and return the token itself (shown once); the caller checked its owner."""
    if role not in ROLES:
        raise TokenError(f"role must be one of {', '.join(ROLES)}")
    token = "hub_" + secrets.token_urlsafe(32)
    session.add(
        ApiToken(
            token_hash=hash_token(token),
            role=role,
            tenant_slug=tenant,
            agent_id=agent_id,
            label=label,
            expires_at=expires_at,
        )
    )
    await session.flush()
    return token


async def revoke_tokens(
    session: AsyncSession,
    *,
    token: str | None = None,
    token_id: int | None = None,
    label: str | None = None,
    tenant: str | None = None,
    at: datetime,
) -> list[int]:
    """Revoke the live tokens matching the token itself, its id, or its label (within ``tenant`` if given).

    Returns the ids revoked (none: nothing matched, or they were revoked already). Every process refuses them
    within ``CACHE_SECONDS``.
    """
    if (token, token_id, label) == (None, None, None):
        raise TokenError("say which token: the token itself, --id or --label")
    query = update(ApiToken).where(ApiToken.revoked_at.is_(None))
    if token is not None:
        query = query.where(ApiToken.token_hash == hash_token(token))
    if token_id is not None:
        query = query.where(ApiToken.id == token_id)
    if label is not None:
        query = query.where(ApiToken.label == label)
    if tenant is not None:
        query = query.where(ApiToken.tenant_slug == tenant)
    rows = await session.execute(query.values(revoked_at=at).returning(ApiToken.id))
    return sorted(rows.scalars().all())


async def authenticate(session: AsyncSession, token: str) -> Principal | None:
    row = await session.scalar(
        select(ApiToken).where(
            ApiToken.token_hash == hash_token(token),
            ApiToken.revoked_at.is_(None),
            or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > utcnow()),
        )
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
