"""Many rows in one INSERT on PostgreSQL: each column sent as one array and unnested, in the order given.

SQLAlchemy's own multi-row inserts process every row's parameters one by one in Python, and its dialects'
``INSERT ... ON CONFLICT`` is never cached (compiled afresh for every batch); on the hot paths (intake, events,
the outbox) these statements are built once, as text, and the driver encodes the arrays in C.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncSession

from plumbing.db.session import dump_json


def on_postgresql(session: AsyncSession) -> bool:
    """Whether these statements apply (the embedded SQLite demo keeps SQLAlchemy's own inserts)."""
    return session.get_bind().dialect.name == "postgresql"


def unnest_insert(
    table: str,
    columns: Mapping[str, str],
    *,
    on_conflict: str = "",
    returning: str = "",
    prefix: str = "",
) -> TextClause:
    """``INSERT INTO table (columns) SELECT ... FROM unnest(:column arrays)``; ``columns`` maps each to its
    PostgreSQL type. Rows go in in the order given, so ids drawn from a sequence ascend in that order.
    ``prefix`` names the parameters ``:{prefix}{column}``, so that several can share one statement (``with_``)."""
    names = ", ".join(columns)
    # JSON goes as text and is cast in the SELECT: the driver's jsonb codec wants one document, not an array.
    arrays = ", ".join(f"CAST(:{prefix}{name} AS {_sent_as(kind)}[])" for name, kind in columns.items())
    casts = ", ".join(f"{name}::{kind}" for name, kind in columns.items())
    return text(
        f"INSERT INTO {table} ({names}) SELECT {casts} "
        f"FROM unnest({arrays}) WITH ORDINALITY AS new({names}, position) ORDER BY position"
        + (f" ON CONFLICT {on_conflict}" if on_conflict else "")
        + (f" RETURNING {returning}" if returning else "")
    )


def as_arrays(
    rows: Sequence[Mapping[str, Any]], columns: Mapping[str, str], *, prefix: str = ""
) -> dict[str, list[Any]]:
    """The rows as one list per column; JSON columns as documents (None as JSON null, as the ORM stores it).
    ``prefix`` goes before each parameter's name (the statement's, as ``unnest_cte`` names them)."""
    return {
        prefix + name: [dump_json(row[name]) for row in rows]
        if kind == "jsonb"
        else [row[name] for row in rows]
        for name, kind in columns.items()
    }


def unnest_cte(
    name: str, table: str, columns: Mapping[str, str], *, prefix: str, on_conflict: str = ""
) -> str:
    """``unnest_insert`` as one data-modifying ``WITH`` query (``name AS (INSERT ...)``), its parameters named
    ``prefix`` + column, so that several inserts go to the server as one statement (``one_statement``).
    No rows (empty arrays) inserts nothing."""
    names = ", ".join(columns)
    arrays = ", ".join(f"CAST(:{prefix}{column} AS {_sent_as(kind)}[])" for column, kind in columns.items())
    casts = ", ".join(f"{column}::{kind}" for column, kind in columns.items())
    return (
        f"{name} AS (INSERT INTO {table} ({names}) SELECT {casts} "
        f"FROM unnest({arrays}) WITH ORDINALITY AS new({names}, position) ORDER BY position"
        + (f" ON CONFLICT {on_conflict}" if on_conflict else "")
        + ")"
    )


_STATEMENTS: dict[tuple[str, ...], TextClause] = {}


def one_statement(queries: Sequence[str]) -> TextClause:
    """Data-modifying ``WITH`` queries (``name AS (INSERT | UPDATE ...)``) joined into one statement: one round
    trip for all of them. They run on one snapshot and none sees another's rows, so no two may touch one row.
    Built once per list of queries."""
    key = tuple(queries)
    statement = _STATEMENTS.get(key)
    if statement is None:
        statement = _STATEMENTS[key] = text("WITH " + ",\n".join(queries) + "\nSELECT 1")
    return statement


@functools.cache
def with_(parts: tuple[TextClause, ...], main: TextClause) -> TextClause:
    """``main`` with each of ``parts`` (data-modifying statements) run as a ``WITH`` clause of it: one round trip.

    PostgreSQL runs each part exactly once, whether or not ``main`` reads it; parts must not change the same row.
    """
    if not parts:
        return main
    ctes = ", ".join(f"w{i} AS ({part.text})" for i, part in enumerate(parts))
    return text(f"WITH {ctes} {main.text}")


def _sent_as(kind: str) -> str:
    return "text" if kind == "jsonb" else kind
