"""Create and check bearer tokens. Tokens carry 256 random bits, so a SHA-256 of each is a safe store."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import structlog
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from plumbing.auth.models import ApiToken
from plumbing.db.base import utcnow
from plumbing.tracing import mark

log = structlog.get_logger(__name__)

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
    expires_at: datetime | None = None

    def sees(self, tenant: str) -> bool:
        return self.tenant is None or self.tenant == tenant


# Who a token is, and the partners its requests may see (None: every partner).
Caller = tuple["Principal", set[str] | None]


# How long a process trusts a token it looked up. With a shared revocation marker (Redis: every process reads it
# every quarter second, ``hub token revoke`` changes it) a revocation takes effect within that and the cache may keep a
# token for ``CACHE_SECONDS``; without one (the embedded hub, or Redis unreachable) only for
# ``CACHE_SECONDS_UNMARKED``, so a revocation still holds in every process within a second. An expired token is
# refused from its expiry whatever the cache holds. What a token is (role, partner, agent, expiry) never changes
# after it is issued, so with the marker the age limit only bounds a revocation made by hand in SQL; at 30 s, 500
# agents' tokens were looked up again ~20 times a second (a transaction and two reads each, ~1 in 4 agent requests
# at 50 calls/s: docs/benchmarks.md, branch `api50`).
CACHE_SECONDS = 300.0
CACHE_SECONDS_UNMARKED = 1.0
# How long a process trusts the partners a partner's requests may see (from its agreements): a new or ended
# agreement takes effect within this (docs/guarantees.md). Kept by partner, not by token: a handful of look-ups.
SCOPE_SECONDS = 30.0


class RevocationMarker(Protocol):
    """A value every process can read cheaply that changes whenever a token is revoked (handed in by the shell)."""

    async def current(self) -> str: ...

    async def bump(self) -> None: ...


class PrincipalCache:
    """Tokens checked lately, so an agent's every click does not look its token up again.

    Only tokens found are kept, each with the revocation marker it was looked up under: a changed marker, an age
    beyond the limit or the token's expiry sends the next request back to the database.
    """

    def __init__(self, max_age_seconds: float = CACHE_SECONDS, max_entries: int = 10_000) -> None:
        self.max_age_seconds = max_age_seconds
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, str | None, Principal]] = {}

    def get(self, token: str, marker: str | None = None) -> Principal | None:
        key = hash_token(token)  # kept by hash: no secret lives on in memory
        entry = self._entries.get(key)
        if entry is None:
            return None
        stamp, seen_marker, principal = entry
        limit = (
            self.max_age_seconds if marker is not None else min(self.max_age_seconds, CACHE_SECONDS_UNMARKED)
        )
        if time.monotonic() - stamp > limit * spread(key) or marker != seen_marker:
            return None
        if principal.expires_at is not None and principal.expires_at <= utcnow():
            return None
        return principal

    def put(self, token: str, principal: Principal, marker: str | None = None) -> None:
        if len(self._entries) >= self.max_entries:
            self._entries.clear()  # rare (that many distinct callers in a few seconds): start again
        self._entries[hash_token(token)] = (time.monotonic(), marker, principal)


# The partners a caller of a partner (None: no partner) may see; None for every partner. Decided above this floor,
# read in the session the token was just read in (one session, so one checkout and transaction, per look-up).
ScopeRule = Callable[[AsyncSession, str | None], Awaitable[set[str] | None]]


class Authenticator:
    """Who a bearer token is and which partners its requests may see (the scope rule is handed in)."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        scope_rule: ScopeRule,
        cache: PrincipalCache | None = None,
        revocations: RevocationMarker | None = None,
        scope_seconds: float = SCOPE_SECONDS,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.scope_rule = scope_rule
        self.cache = cache or PrincipalCache()
        self.revocations = revocations
        self.scope_seconds = scope_seconds
        self._scopes: dict[str | None, tuple[float, set[str] | None]] = {}

    async def _marker(self) -> str | None:
        if self.revocations is None:
            return None
        try:
            return await self.revocations.current()
        except Exception:  # Redis unreachable: fall back to the short cache, never to a stale answer
            log.warning("auth.revocation_marker_unavailable", exc_info=True)
            return None

    async def caller(self, token: str) -> Caller | None:
        """The principal and its partners, or None for an unknown, revoked or expired token."""
        marker = await self._marker()
        mark("auth_marker")
        principal = self.cache.get(token, marker)
        if principal is None:
            async with self.sessionmaker() as session:
                principal = await authenticate(session, token)
                if principal is None:
                    return None
                partners = await self._partners(session, principal.tenant)
            self.cache.put(token, principal, marker)
            mark("auth_lookup")  # the cache missed: the token read from the database
            return principal, partners
        scope = self._scopes.get(principal.tenant)
        if scope is not None and time.monotonic() - scope[0] <= self.scope_seconds:
            return principal, scope[1]
        async with self.sessionmaker() as session:
            partners = await self._partners(session, principal.tenant)
        mark("auth_scope")
        return principal, partners

    async def _partners(self, session: AsyncSession, tenant: str | None) -> set[str] | None:
        """The partners ``tenant``'s requests may see: as read within the last ``scope_seconds``, or read now."""
        scope = self._scopes.get(tenant)
        if scope is not None and time.monotonic() - scope[0] <= self.scope_seconds:
            return scope[1]
        # Stamped before the read: an agreement changed while it ran is not trusted for longer than the limit.
        read_at = time.monotonic()
        partners = await self.scope_rule(session, tenant)
        self._scopes[tenant] = (read_at, partners)
        return partners


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def spread(token_hash: str) -> float:
    """A token's share of the cache's age limit, 0.5–1.0, fixed by its hash.

    Agents sign in together (the start of a shift): with one age limit for all, every token expired in the same
    second and each was looked up again at once, holding the pool while calls were being accepted (traced in the
    agent-API bench: 63 of 105 requests over 20 ms were such lookups). Spread, the look-ups come a few a second.
    """
    return 0.5 + int(token_hash[:4], 16) / 0xFFFF / 2


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
    return Principal(row.role, row.tenant_slug, row.agent_id, row.expires_at)


async def check_api_key(session: AsyncSession, key: str, *, tenant: str) -> bool:
    """Whether ``key`` is a live Open311 api_key of ``tenant`` (the one place keys are checked)."""
    if not key:
        return False
    principal = await authenticate(session, key)
    return principal is not None and principal.role == "open311" and principal.tenant == tenant
