"""Which partners' rows a unit of work may touch: PostgreSQL row-level security reads it per transaction.

Every transaction a session begins runs ``SELECT set_config('hub.tenant', <scope>, true)`` first (``true``: local to
the transaction, so nothing survives into the next user of a pooled connection; a session-level ``SET`` would leak).
The scope comes from a context variable:

- unset (the default): the empty scope, and RLS shows **no** partner's rows: code that forgets sees nothing;
- ``ALL_PARTNERS`` (``*``): trusted hub-wide code (worker intake, dispatcher, rebuild, CLI, authentication lookups);
- a comma-separated list of partner slugs: only those partners' rows.

On SQLite (the embedded demo) there is no RLS: the embedded hub is single-trust, for demos only.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar

ALL_PARTNERS = "*"

_scope: ContextVar[str | None] = ContextVar("hub_tenant_scope", default=None)


def current_scope() -> str:
    """The value for ``hub.tenant`` in this context ('' when nothing was set: no rows)."""
    return _scope.get() or ""


def set_scope(value: str | Iterable[str] | None) -> None:
    """Set the scope for the rest of this context (a task, a request, a command)."""
    _scope.set(_normalise(value))


@contextmanager
def tenant_scope(value: str | Iterable[str] | None) -> Iterator[None]:
    token = _scope.set(_normalise(value))
    try:
        yield
    finally:
        _scope.reset(token)


def all_partners() -> AbstractContextManager[None]:
    """Trusted code that legitimately spans partners says so explicitly."""
    return tenant_scope(ALL_PARTNERS)


def _normalise(value: str | Iterable[str] | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return ",".join(sorted(set(value)))
