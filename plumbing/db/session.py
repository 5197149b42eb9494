"""Engine and session factories: one session per request or unit of work, which commits."""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import orjson
from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, SessionTransaction

from plumbing.db.scope import current_scope


def dump_json(value: Any) -> str:
    """JSON columns through orjson: several times faster than the standard encoder, and intake writes ~10 of
    them per enquiry. Non-string keys become strings, as ``json.dumps`` makes them."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine; SQLite gets WAL and foreign keys so the embedded hub behaves like the real one."""
    kwargs.setdefault("json_serializer", dump_json)
    kwargs.setdefault("json_deserializer", orjson.loads)
    # A failed statement's text never quotes its parameters (customers' details): see plumbing/logging.py.
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    # SQLAlchemy's own pre-ping costs three round trips on asyncpg at every checkout (BEGIN, ";", ROLLBACK):
    # three of a desk accept's eight, traced in hub serve (docs/benchmarks.md). Only a connection that sat
    # unused is checked; one just checked in was working a moment ago.
    ping = kwargs.pop("pool_pre_ping", True)
    kwargs["connect_args"] = {"connection_class": ScopedConnection, **kwargs.get("connect_args", {})}
    engine = create_async_engine(url, **kwargs)
    event.listen(engine.sync_engine, "connect", _open_connection)
    event.listen(engine.sync_engine.pool, "checkin", _forget_scope)
    if ping:
        ping_when_idle(engine, PING_AFTER_IDLE_SECONDS)
    return engine


# A connection unused in the pool for longer than this is pinged before it is handed out.
PING_AFTER_IDLE_SECONDS = 2.0
_IDLE_SINCE = "hub_idle_since"


def ping_when_idle(engine: AsyncEngine, after: float) -> None:
    """Before a checkout, ping the connection if it sat in the pool for ``after`` seconds or more; a dead one is
    replaced (``DisconnectionError``: the pool connects afresh, as with ``pool_pre_ping``).

    A busy process reuses its connections within milliseconds, so its requests pay no ping; after a quiet spell,
    or a database restart noticed by no request, the first checkout of each connection pings it. A connection
    that dies less than ``after`` seconds after its last use fails its next statement instead, and that error
    makes the pool drop every connection made before it (SQLAlchemy's invalidation on a disconnect)."""
    pool = engine.sync_engine.pool

    def checked_in(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info[_IDLE_SINCE] = time.monotonic()

    def checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop(_IDLE_SINCE, None)
        if since is None or time.monotonic() - since < after:
            return  # just made, or just used
        try:
            dbapi_connection.ping()
        except Exception as exc:  # the dialect's wrapping of asyncpg's, or an OS error
            raise DisconnectionError("the connection did not answer a ping") from exc

    event.listen(pool, "checkin", checked_in)
    event.listen(pool, "checkout", checked_out)


def _open_connection(dbapi_conn: Any, record: Any) -> None:
    """Ask the database for this connection's scope key, once (docs/guarantees.md: the application cannot
    widen its own scope). A database not yet migrated has no such function: nothing to sign for yet."""
    try:
        key = dbapi_conn.run_async(lambda conn: conn.fetchval("SELECT hub_open_connection()"))
    except Exception as exc:  # asyncpg's UndefinedFunctionError, wrapped by the dialect
        if "hub_open_connection" not in str(exc):
            raise
        key = None
    record.info[_KEY] = bytes.fromhex(key) if key else None


_KEY = "hub_scope_key"


def sign_scope(key: bytes | None, scope: str) -> str:
    """The signature ``hub_scope()`` checks: HMAC-SHA256 of the scope under the connection's key."""
    return hmac.new(key, scope.encode(), hashlib.sha256).hexdigest() if key else ""


class ScopedConnection(asyncpg.Connection):
    """An asyncpg connection that can send a transaction's scope with its ``BEGIN``, in one round trip.

    SQLAlchemy's asyncpg driver sends ``BEGIN`` just before a transaction's first statement, and the scope was a
    statement of its own after it: two round trips before any work, in every transaction of every process (an agent's
    accept is five: BEGIN, the scope, hold, write, COMMIT). ``BEGIN …; SELECT set_config(…)`` goes as one simple
    query instead; what is set, and when (before the first statement), is unchanged.
    """

    _hub_after_begin: str | None = None

    async def execute(self, query: str, *args: Any, timeout: float | None = None) -> str:
        pending = self._hub_after_begin
        if pending is not None and not args and query.startswith("BEGIN"):
            self._hub_after_begin = None
            query = f"{query.rstrip(';')}; {pending}"
        return await super().execute(query, *args, timeout=timeout)


# A scope and its signature written into the statement as literals: only the characters partner slugs, ``*``, the
# comma and hex digits use (anything else takes the parameterised statement).
_LITERAL = re.compile(r"[A-Za-z0-9_.,*:-]*")


def _forget_scope(dbapi_connection: Any, _record: Any) -> None:
    """A transaction that sent no statement leaves its scope unsent: never for the connection's next user."""
    raw = getattr(dbapi_connection, "_connection", None)
    if isinstance(raw, ScopedConnection):
        raw._hub_after_begin = None


class TenantScopedSession(Session):
    """A session whose every transaction first sets ``hub.tenant`` (transaction-local) for row-level security."""


# built once: this runs every transaction (one round trip for both settings)
_SET_SCOPE = text("SELECT set_config('hub.tenant', :scope, true), set_config('hub.tenant_sig', :sig, true)")


@event.listens_for(TenantScopedSession, "after_begin")
def _set_tenant_scope(_session: Session, _transaction: SessionTransaction, connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        scope = current_scope()
        sig = sign_scope(connection.info.get(_KEY), scope)
        adapted = connection.connection.dbapi_connection
        raw = getattr(adapted, "_connection", None)
        if (
            isinstance(raw, ScopedConnection)
            and not getattr(adapted, "_started", True)  # BEGIN not sent yet: it takes the scope with it
            and _LITERAL.fullmatch(scope)
            and _LITERAL.fullmatch(sig)
        ):
            raw._hub_after_begin = f"SELECT set_config('hub.tenant', '{scope}', true), set_config('hub.tenant_sig', '{sig}', true)"
            return
        connection.execute(_SET_SCOPE, {"scope": scope, "sig": sig})


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(
        engine, expire_on_commit=False, autoflush=False, sync_session_class=TenantScopedSession
    )


@asynccontextmanager
async def unit_of_work(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A transaction that commits on success and rolls back on error; services inside only flush."""
    async with sessionmaker() as session, session.begin():
        yield session


async def ping(engine: AsyncEngine) -> None:
    """One round trip to the database (``SELECT 1``) on a connection of its own: the readiness probe's check."""
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
