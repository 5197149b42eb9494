"""Users, sign-in with lockout, and server-side sessions. Services flush; the caller commits.

Passwords are hashed with argon2id (argon2-cffi). A session is 256 random bits in an HttpOnly cookie;
only its SHA-256 is stored, so a copy of the database signs nobody in.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hub.accounts.models import LoginAttempt, User, WebSession
from plumbing.auth.service import Principal
from tenants.tokens import OwnerError, resolve_owner

ROLES = ("agent", "supervisor", "committee", "admin")
MIN_PASSWORD_LENGTH = 10

LOCKOUT_FAILURES = 5
LOCKOUT_WINDOW = timedelta(minutes=15)
LOCKOUT_DURATION = timedelta(minutes=15)

SESSION_IDLE = timedelta(hours=1)
SESSION_LIFETIME = timedelta(hours=12)  # one long shift; then sign in again
_TOUCH_EVERY = timedelta(minutes=1)  # keeps a busy console from writing on every request

# OWASP's argon2id baseline (19 MiB, 2 passes, 1 lane): ~45 ms here, where the library's heavier default
# takes over half a second on two shared cores. Stored hashes carry their parameters; check_needs_rehash
# upgrades them at the next sign-in if these change.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Verified against when the username is unknown, so a wrong username costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class AccountError(ValueError):
    pass


@dataclass(frozen=True)
class SignedIn:
    """The person behind a web session."""

    user_id: int
    username: str
    name: str
    role: str
    tenant: str | None
    agent_id: str | None

    @property
    def principal(self) -> Principal:
        return Principal(self.role, self.tenant, self.agent_id)

    def sees(self, tenant: str) -> bool:
        return self.tenant is None or self.tenant == tenant


@dataclass(frozen=True)
class SignInResult:
    user: SignedIn | None
    token: str | None = None
    code: str | None = None  # bad_credentials, locked
    locked_until: datetime | None = None


def normalise_username(username: str) -> str:
    return username.strip().lower()[:63]


def hash_session_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token(session_token: str) -> str:
    """A per-session form token, derived from the session cookie so nothing more is stored."""
    return hashlib.sha256(b"csrf\0" + session_token.encode()).hexdigest()[:32]


def csrf_matches(session_token: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(csrf_token(session_token), given)


def lockout_until(failures: Sequence[datetime], now: datetime) -> datetime | None:
    """When a lock ends, if ``LOCKOUT_FAILURES`` failures fell within ``LOCKOUT_WINDOW`` and it has not ended.

    ``failures`` are the failed attempts since the last successful sign-in, in any order.
    """
    times = sorted(failures)
    for i in range(len(times) - LOCKOUT_FAILURES, -1, -1):
        last = times[i + LOCKOUT_FAILURES - 1]
        if last - times[i] <= LOCKOUT_WINDOW:
            until = last + LOCKOUT_DURATION
            return until if until > now else None
    return None


def _signed_in(user: User) -> SignedIn:
    return SignedIn(
        user.id, user.username, user.name or user.username, user.role, user.tenant_slug, user.agent_id
    )


async def create_user(
    session: AsyncSession,
    *,
    username: str,
    password: str,
    role: str,
    tenant: str | None = None,
    agent_id: str | None = None,
    name: str = "",
) -> User:
    """A new user; an agent's user takes its partner (and name) from the agent."""
    username = normalise_username(username)
    if not username or not username.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise AccountError("a username is letters, digits, '.', '-' or '_'")
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if await session.scalar(select(User.id).where(User.username == username)) is not None:
        raise AccountError(f"there is already a user {username!r}")
    try:
        tenant, agent = await resolve_owner(session, role=role, tenant=tenant, agent_id=agent_id, what="user")
    except OwnerError as exc:
        raise AccountError(str(exc)) from None
    if agent is not None:
        if await session.scalar(select(User.id).where(User.agent_id == agent_id)) is not None:
            raise AccountError(f"agent {agent_id!r} already has a user")
        name = name or agent.name
    password_hash = await asyncio.to_thread(_hasher.hash, password)
    user = User(
        username=username,
        name=name,
        password_hash=password_hash,
        role=role,
        tenant_slug=tenant,
        agent_id=agent_id,
    )
    session.add(user)
    await session.flush()
    return user


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def sign_in(
    session: AsyncSession, *, username: str, password: str, now: datetime, remote: str | None = None
) -> SignInResult:
    """Check the password unless locked out; record the attempt either way (commit even when refused)."""
    username = normalise_username(username)
    last_ok = await session.scalar(
        select(LoginAttempt.at)
        .where(LoginAttempt.username == username, LoginAttempt.outcome == "ok")
        .order_by(LoginAttempt.at.desc())
        .limit(1)
    )
    since = now - LOCKOUT_WINDOW - LOCKOUT_DURATION
    if last_ok is not None and last_ok > since:
        since = last_ok
    failures = (
        await session.scalars(
            select(LoginAttempt.at).where(
                LoginAttempt.username == username, LoginAttempt.outcome == "failed", LoginAttempt.at > since
            )
        )
    ).all()
    until = lockout_until(failures, now)
    if until is not None:
        # Not counted as a failure, so the lock ends when it said it would, whatever is tried meanwhile.
        session.add(LoginAttempt(username=username, at=now, outcome="locked", remote=remote))
        await session.flush()
        return SignInResult(None, code="locked", locked_until=until)

    user = await session.scalar(select(User).where(User.username == username, User.disabled_at.is_(None)))
    ok = await asyncio.to_thread(_verify, user.password_hash if user else _DUMMY_HASH, password)
    if user is None or not ok:
        session.add(LoginAttempt(username=username, at=now, outcome="failed", remote=remote))
        await session.flush()
        until = lockout_until([*failures, now], now)
        return SignInResult(None, code="locked" if until else "bad_credentials", locked_until=until)

    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = await asyncio.to_thread(_hasher.hash, password)
    token = secrets.token_urlsafe(32)
    session.add(LoginAttempt(username=username, at=now, outcome="ok", remote=remote))
    session.add(
        WebSession(
            id_hash=hash_session_token(token),
            user_id=user.id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + SESSION_LIFETIME,
        )
    )
    await session.flush()
    return SignInResult(_signed_in(user), token=token)


async def resolve_session(session: AsyncSession, token: str, *, now: datetime) -> SignedIn | None:
    """The user of a live session, or None when it is unknown, ended, expired or idle too long."""
    row = (
        await session.execute(
            select(WebSession, User)
            .join(User, User.id == WebSession.user_id)
            .where(
                WebSession.id_hash == hash_session_token(token),
                WebSession.ended_at.is_(None),
                User.disabled_at.is_(None),
            )
        )
    ).first()
    if row is None:
        return None
    web_session, user = row
    if web_session.expires_at <= now or web_session.last_seen_at + SESSION_IDLE <= now:
        return None
    if now - web_session.last_seen_at >= _TOUCH_EVERY:
        web_session.last_seen_at = now
        await session.flush()
    return _signed_in(user)


async def sign_out(session: AsyncSession, token: str, *, now: datetime) -> None:
    await session.execute(
        update(WebSession)
        .where(WebSession.id_hash == hash_session_token(token), WebSession.ended_at.is_(None))
        .values(ended_at=now)
    )
