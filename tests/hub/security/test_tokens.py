"""Tokens end when they are meant to: revoked, every process refuses them within a second; expired, at once.

Two hub processes' worth of state (two ``Hub`` instances, each with its own app and principal cache) both hold a
token warm in their caches; ``hub token revoke`` runs as a third process (the CLI) and both must refuse the token
within a second.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import httpx
from sqlalchemy import event, select

from hub.api.app import create_app
from hub.runtime import Hub
from plumbing.auth.models import ApiToken
from plumbing.auth.service import CACHE_SECONDS_UNMARKED, Authenticator, hash_token, revoke_tokens
from plumbing.db.base import utcnow
from plumbing.db.session import unit_of_work
from tenants.access import partners_in
from tenants.tokens import create_token
from tests.conftest import unique_slug
from tests.hub.test_cli import run_hub


def cli_env(hub: Hub, database_url: str) -> dict[str, str]:
    return {
        "HUB_DATABASE_URL": database_url,
        "HUB_REDIS_URL": hub.settings.redis_url or "",
        "HUB_REDIS_PREFIX": hub.settings.redis_prefix,
    }


async def test_a_revoked_token_is_refused_by_every_process_within_a_second(
    hub: Hub, make_partner, database_url: str
) -> None:
    partner = await make_partner(agents=0)
    label = unique_slug("revoke-me")
    async with unit_of_work(hub.sessionmaker) as session:
        token = await create_token(session, role="supervisor", tenant=partner.slug, label=label)
    headers = {"Authorization": f"Bearer {token}"}
    path = f"/api/v1/tenants/{partner.slug}/queues"
    second = await Hub.start(hub.settings, migrate=False)  # another process's hub: its own pools and cache
    try:
        async with (
            httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(hub)), base_url="http://a") as one,
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=create_app(second)), base_url="http://b"
            ) as two,
        ):
            for client in (one, two):  # both caches now hold the token
                assert (await client.get(path, headers=headers)).status_code == 200
            revoked = await asyncio.to_thread(
                run_hub, "token", "revoke", "--label", label, settings_env=cli_env(hub, database_url)
            )
            assert revoked.returncode == 0, revoked.stderr
            assert revoked.stdout.startswith("revoked 1 token(s)")
            done_at = time.monotonic()
            refused_after: dict[str, float] = {}
            while len(refused_after) < 2 and time.monotonic() - done_at < 5:
                for name, client in (("one", one), ("two", two)):
                    if (
                        name not in refused_after
                        and (await client.get(path, headers=headers)).status_code == 401
                    ):
                        refused_after[name] = time.monotonic() - done_at
                await asyncio.sleep(0.05)
    finally:
        await second.close()
    assert set(refused_after) == {"one", "two"}
    # the shared marker makes it at once; a second is the promise (docs/operations.md)
    assert max(refused_after.values()) <= CACHE_SECONDS_UNMARKED, refused_after


async def test_without_the_shared_marker_a_revocation_in_the_database_holds_within_a_second(
    hub: Hub, make_partner
) -> None:
    """The embedded hub (no Redis), or Redis unreachable: each process trusts a token for a second only."""
    partner = await make_partner(agents=0)
    async with unit_of_work(hub.sessionmaker) as session:
        token = await create_token(session, role="supervisor", tenant=partner.slug)
    alone = Authenticator(hub.sessionmaker, partners_in, revocations=None)
    assert await alone.caller(token) is not None and alone.cache.get(token) is not None  # cached
    async with unit_of_work(hub.sessionmaker) as session:
        assert len(await revoke_tokens(session, token=token, at=utcnow())) == 1  # no marker bumped
    done_at = time.monotonic()
    while await alone.caller(token) is not None:
        assert time.monotonic() - done_at <= CACHE_SECONDS_UNMARKED + 0.2
        await asyncio.sleep(0.05)


async def test_revoke_by_token_or_id_and_an_unknown_one_is_an_error(hub: Hub, database_url: str) -> None:
    async with unit_of_work(hub.sessionmaker) as session:
        by_value = await create_token(session, role="committee", label=unique_slug("by-value"))
        by_id = await create_token(session, role="committee", label=unique_slug("by-id"))
    async with hub.sessionmaker() as session:
        id_of = await session.scalar(select(ApiToken.id).where(ApiToken.token_hash == hash_token(by_id)))
    env = cli_env(hub, database_url)
    first = await asyncio.to_thread(run_hub, "token", "revoke", by_value, settings_env=env)
    second = await asyncio.to_thread(run_hub, "token", "revoke", "--id", str(id_of), settings_env=env)
    again = await asyncio.to_thread(run_hub, "token", "revoke", by_value, settings_env=env)
    nothing = await asyncio.to_thread(run_hub, "token", "revoke", settings_env=env)
    assert first.returncode == 0 and second.returncode == 0, (first.stderr, second.stderr)
    assert second.stdout.strip() == f"revoked 1 token(s): id {id_of}"
    assert again.returncode == 1 and "no live token matched" in again.stderr  # already revoked
    assert nothing.returncode == 2 and "say which token" in nothing.stderr
    async with hub.sessionmaker() as session:
        rows = (
            await session.scalars(
                select(ApiToken).where(ApiToken.token_hash.in_([hash_token(by_value), hash_token(by_id)]))
            )
        ).all()
    assert len(rows) == 2 and all(r.revoked_at is not None for r in rows)


async def test_a_token_expires(hub: Hub, make_partner, api: httpx.AsyncClient, database_url: str) -> None:
    partner = await make_partner(agents=0)
    path = f"/api/v1/tenants/{partner.slug}/queues"
    async with unit_of_work(hub.sessionmaker) as session:
        soon = await create_token(
            session, role="supervisor", tenant=partner.slug, expires_at=utcnow() + timedelta(seconds=1.5)
        )
        gone = await create_token(
            session, role="supervisor", tenant=partner.slug, expires_at=utcnow() - timedelta(seconds=1)
        )
    assert (await api.get(path, headers={"Authorization": f"Bearer {gone}"})).status_code == 401
    assert (await api.get(path, headers={"Authorization": f"Bearer {soon}"})).status_code == 200
    await asyncio.sleep(1.6)  # past its expiry: refused though the cache still holds it
    assert (await api.get(path, headers={"Authorization": f"Bearer {soon}"})).status_code == 401

    # the command line: --expires-in 90d stores an expiry 90 days on (to the minute), and a bad unit is refused
    label = unique_slug("ninety")
    made = await asyncio.to_thread(
        run_hub,
        "token",
        "create",
        "--role",
        "committee",
        "--label",
        label,
        "--expires-in",
        "90d",
        settings_env=cli_env(hub, database_url),
    )
    assert made.returncode == 0, made.stderr
    async with hub.sessionmaker() as session:
        row = await session.scalar(select(ApiToken).where(ApiToken.label == label))
    assert row is not None and row.expires_at is not None
    assert abs(row.expires_at - (utcnow() + timedelta(days=90))) < timedelta(minutes=1)
    bad = await asyncio.to_thread(
        run_hub,
        "token",
        "create",
        "--role",
        "committee",
        "--expires-in",
        "soon",
        settings_env=cli_env(hub, database_url),
    )
    assert bad.returncode == 2 and "30m, 12h, 90d or 2w" in bad.stderr


def test_tokens_looked_up_together_expire_from_the_cache_spread_over_the_second_half_of_its_limit() -> None:
    """500 agents signing in at once: their cache entries end between half the limit and the limit, not together."""
    from plumbing.auth.service import spread

    shares = [spread(hash_token(f"token-{i}")) for i in range(500)]
    assert all(0.5 <= s <= 1.0 for s in shares)
    # Over 30 s that is 15–30 s; the 500 expiries fall in each of the five 3-second bands (a hash spreads evenly:
    # about 100 a band, at least 50 asked here).
    bands = [sum(1 for s in shares if 0.5 + i / 10 <= s < 0.6 + i / 10 + (i == 4)) for i in range(5)]
    assert sum(bands) == 500 and min(bands) >= 50, bands


async def test_a_token_looked_up_and_its_partners_take_one_connection(hub: Hub, make_partner) -> None:  # type: ignore[no-untyped-def]
    """A cache miss reads the token and the partners its requests may see in one session: one checkout and one
    transaction (two before: each a BEGIN, the scope and a ROLLBACK more, on every agent's look-up)."""
    partner = await make_partner(agents=0)
    async with unit_of_work(hub.sessionmaker) as session:
        token = await create_token(session, role="supervisor", tenant=partner.slug)
    checkouts: list[object] = []

    def counted(_dbapi: object, record: object, _proxy: object) -> None:
        checkouts.append(record)

    pool = hub.engine.sync_engine.pool
    event.listen(pool, "checkout", counted)
    try:
        caller = await Authenticator(hub.sessionmaker, partners_in, revocations=None).caller(token)
    finally:
        event.remove(pool, "checkout", counted)
    assert caller is not None
    principal, partners = caller
    assert (principal.role, principal.tenant, partners) == ("supervisor", partner.slug, {partner.slug})
    assert len(checkouts) == 1


async def test_a_partners_scope_is_read_once_for_all_its_tokens_and_again_after_its_limit(  # type: ignore[no-untyped-def]
    hub: Hub, make_partner
) -> None:
    """The partners a request may see are kept by partner for ``scope_seconds`` (a new or ended agreement takes
    effect within it), apart from the token: two agents' tokens share one read, and after the limit the scope is
    read again while the tokens stay trusted (their look-up is not repeated)."""
    partner = await make_partner(agents=0)
    async with unit_of_work(hub.sessionmaker) as session:
        tokens = [await create_token(session, role="supervisor", tenant=partner.slug) for _ in range(2)]
    reads: list[str | None] = []

    async def counted_rule(session, tenant):  # type: ignore[no-untyped-def]
        reads.append(tenant)
        return await partners_in(session, tenant)

    token_reads: list[str] = []

    def seen(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        if "api_tokens" in statement:
            token_reads.append(statement)

    auth = Authenticator(hub.sessionmaker, counted_rule, revocations=None, scope_seconds=0.3)
    event.listen(hub.engine.sync_engine, "before_cursor_execute", seen)
    try:
        for token in tokens:
            caller = await auth.caller(token)
            assert caller is not None and caller[1] == {partner.slug}
        assert (reads, len(token_reads)) == ([partner.slug], 2)
        await asyncio.sleep(0.35)  # past the scope's limit, within the tokens' (a second at least half of it)
        caller = await auth.caller(tokens[0])
        assert caller is not None and caller[1] == {partner.slug}
        assert (reads, len(token_reads)) == ([partner.slug, partner.slug], 2)
    finally:
        event.remove(hub.engine.sync_engine, "before_cursor_execute", seen)
