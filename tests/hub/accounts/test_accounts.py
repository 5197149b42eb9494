"""Users and sign-in rules, below the pages: lockout arithmetic, refusals when creating users, the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from hub.accounts.models import User
from hub.accounts.service import (
    AccountError,
    create_user,
    csrf_matches,
    csrf_token,
    lockout_until,
    resolve_session,
    sign_in,
)
from hub.runtime import Hub
from plumbing.db.session import unit_of_work

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def minutes(*offsets: float) -> list[datetime]:
    return [T0 + timedelta(minutes=m) for m in offsets]


def test_five_failures_within_fifteen_minutes_lock_for_fifteen_after_the_fifth() -> None:
    failures = minutes(0, 1, 2, 3, 4)
    assert lockout_until(failures[:4], T0 + timedelta(minutes=5)) is None
    assert lockout_until(failures, T0 + timedelta(minutes=5)) == T0 + timedelta(minutes=19)
    assert lockout_until(failures, T0 + timedelta(minutes=19)) is None  # served its time
    assert lockout_until(minutes(0, 4, 8, 12, 16), T0 + timedelta(minutes=17)) is None  # spread over 16 min
    assert lockout_until(minutes(0, 4, 8, 12, 16, 17), T0 + timedelta(minutes=17)) == T0 + timedelta(
        minutes=32
    )
    assert lockout_until(list(reversed(failures)), T0 + timedelta(minutes=5)) == T0 + timedelta(minutes=19)


def test_form_tokens_belong_to_their_session() -> None:
    assert csrf_matches("session-a", csrf_token("session-a"))
    assert not csrf_matches("session-b", csrf_token("session-a"))
    assert not csrf_matches("session-a", None)


async def test_creating_users_checks_role_partner_agent_and_password(hub: Hub, make_partner) -> None:
    partner, other = await make_partner(agents=1), await make_partner(agents=1)
    agent_id = partner.agents[0]
    name = f"u{uuid.uuid4().hex[:8]}"
    refusals = [
        ({"role": "boss"}, "role must be one of"),
        ({"role": "agent"}, "needs --agent"),
        ({"role": "agent", "agent_id": "ghost"}, "no agent"),
        ({"role": "agent", "agent_id": agent_id, "tenant": other.slug}, "belongs to"),
        ({"role": "supervisor", "agent_id": agent_id}, "only for the agent role"),
        ({"role": "supervisor", "tenant": "nowhere"}, "no partner"),
        ({"role": "supervisor", "password": "short"}, "at least 10"),
        ({"role": "supervisor", "username": "has space"}, "a username is"),
    ]
    for kwargs, message in refusals:
        args = {"username": name, "password": "long enough pw", **kwargs}
        with pytest.raises(AccountError, match=message):
            async with unit_of_work(hub.sessionmaker) as session:
                await create_user(session, **args)  # type: ignore[arg-type]

    async with unit_of_work(hub.sessionmaker) as session:
        user = await create_user(
            session, username=f" {name.upper()} ", password="long enough pw", role="agent", agent_id=agent_id
        )
        assert (user.username, user.tenant_slug, user.name) == (name, partner.slug, agent_id.title())
        assert user.password_hash.startswith("$argon2id$") and "long enough" not in user.password_hash
    for username in (name, f"x{name}"):  # the same username twice; a second user for the same agent
        with pytest.raises(AccountError, match="already"):
            async with unit_of_work(hub.sessionmaker) as session:
                await create_user(
                    session, username=username, password="long enough pw", role="agent", agent_id=agent_id
                )

    now = hub.dispatcher.clock()
    async with unit_of_work(hub.sessionmaker) as session:
        result = await sign_in(session, username=name, password="long enough pw", now=now)
    assert result.user is not None and result.token is not None and result.user.tenant == partner.slug
    async with unit_of_work(hub.sessionmaker) as session:
        assert await resolve_session(session, result.token, now=now) == result.user
        assert await resolve_session(session, result.token + "x", now=now) is None
        assert await resolve_session(session, result.token, now=now + timedelta(hours=13)) is None


async def test_hub_users_create_reads_the_password_from_stdin(
    hub: Hub, database_url: str, make_partner
) -> None:
    partner = await make_partner(agents=1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")} | {
        "HUB_DATABASE_URL": database_url
    }
    username = f"cli-{uuid.uuid4().hex[:8]}"

    def run(*args: str, password: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "hub.cli", "users", "create", *args, "--password-stdin"],
            input=password + "\n",
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    made = run(
        "--username", username, "--role", "agent", "--agent", partner.agents[0], password="a fine password"
    )
    assert made.returncode == 0, made.stderr
    assert f"created {username} (agent, {partner.slug})" in made.stdout
    refused = run("--username", f"{username}-2", "--role", "committee", password="short")
    assert refused.returncode == 2 and "at least 10 characters" in refused.stderr
    async with hub.sessionmaker() as session:
        user = await session.scalar(select(User).where(User.username == username))
    assert user is not None and user.agent_id == partner.agents[0]
