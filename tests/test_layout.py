"""The shell speaks through the domains: no SQL in route or page modules, and one error shape.

Routes (every ``endpoints.py`` and ``*_endpoints.py``) and the shell's pages and API (everything under ``hub/web/``
and ``hub/api/``) parse, check access, call a domain and shape the answer. The statements themselves live in the
domain that owns the data (``tenants/queries.py``, ``routing/queries.py``, ``backoffice/queries.py``, a service),
where they take the caller's session and so read under its row-level security scope. This reads each such module
with ``ast`` and fails on any import of SQLAlchemy's statement builders or any statement run on a session or
connection. There are no exceptions: the readiness probe's ``SELECT 1`` is ``plumbing.db.session.ping``.

The same modules, and the bearer-token dependency every API route runs, refuse with ``plumbing.problems.Problem``
(a stable code of the route's own and a sentence), never FastAPI's ``HTTPException``: that one reaches the client
only as a generic code chosen by its status.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("plumbing", "tenants", "routing", "figures", "backoffice", "whatif", "adapters", "hub")
SHELL_FOLDERS = (("hub", "web"), ("hub", "api"))

BUILDERS = frozenset({"select", "text", "insert", "update", "delete"})
RUNS = frozenset({"execute", "scalars", "scalar", "get", "stream", "stream_scalars"})
# What a name bound to a session or connection is recognised by: its annotation's type, or what opened it.
SESSION_TYPES = ("Session", "Connection")
SESSION_OPENERS = ("sessionmaker", "unit_of_work", "connect", "begin")


def route_modules() -> list[Path]:
    """Every module the rule covers, as a path relative to the repository."""
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if (
                path.name == "endpoints.py"
                or path.name.endswith("_endpoints.py")
                or relative.parts[:2] in SHELL_FOLDERS
            ):
                found.append(relative)
    return found


def _raised_http_exceptions(source: str) -> Iterator[str]:
    """Each ``raise HTTPException(...)`` (under any name it was imported as), as ``line: what``."""
    tree = ast.parse(source)
    names = {"HTTPException"} | {
        alias.asname
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
        if alias.name == "HTTPException" and alias.asname
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and node.exc is not None:
            raised = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if _last_name(raised) in names:
                yield f"{node.lineno}: raises {_last_name(raised)}"


def _mentions(node: ast.AST, words: tuple[str, ...]) -> bool:
    """Whether any name or attribute inside ``node`` contains one of ``words``."""
    for inner in ast.walk(node):
        name = (
            inner.id
            if isinstance(inner, ast.Name)
            else inner.attr
            if isinstance(inner, ast.Attribute)
            else ""
        )
        if any(word in name for word in words):
            return True
    return False


def _session_names(tree: ast.AST) -> set[str]:
    """Names that hold a session or a connection: annotated as one, opened as one, or called one."""
    names = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.arg)
            and node.annotation is not None
            and _mentions(node.annotation, SESSION_TYPES)
        ):
            names.add(node.arg)
        if isinstance(node, ast.With | ast.AsyncWith):
            for item in node.items:
                if isinstance(item.optional_vars, ast.Name) and _mentions(item.context_expr, SESSION_OPENERS):
                    names.add(item.optional_vars.id)
        name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
        if "session" in name.lower() and "sessionmaker" not in name:
            names.add(name)
    return names


def _sqlalchemy_aliases(tree: ast.AST) -> set[str]:
    """Names ``import sqlalchemy`` (or a submodule) was bound to, for ``sa.select(...)``."""
    return {
        alias.asname or alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
        if alias.name.split(".")[0] == "sqlalchemy"
    }


def violations(source: str) -> Iterator[str]:
    """Each statement builder imported or used, and each statement run on a session, as ``line: what``."""
    tree = ast.parse(source)
    sessions = _session_names(tree)
    aliases = _sqlalchemy_aliases(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "sqlalchemy":
            for alias in node.names:
                if alias.name in BUILDERS:
                    yield f"{node.lineno}: imports {alias.name} from {node.module}"
        if isinstance(node, ast.Attribute) and node.attr in BUILDERS and _root_name(node.value) in aliases:
            yield f"{node.lineno}: uses {_root_name(node.value)}…{node.attr}"
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in RUNS
            and _last_name(node.func.value) in sessions
        ):
            yield f"{node.lineno}: runs {_last_name(node.func.value)}.{node.func.attr}(…)"


def _root_name(node: ast.AST) -> str | None:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _last_name(node: ast.AST) -> str | None:
    """``session`` for ``session`` and for ``self.session``: the name the receiver is known by."""
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None


def test_the_rule_covers_the_routes_and_the_shell() -> None:
    covered = {str(path) for path in route_modules()}
    # a few of each kind, so that a path mistake cannot leave the rule checking nothing
    for expected in (
        "hub/web/console.py",
        "hub/web/supervisor.py",
        "hub/api/health.py",
        "hub/api/prometheus.py",
        "tenants/endpoints.py",
        "tenants/sharing_endpoints.py",
        "routing/dispatch/customer_endpoints.py",
        "backoffice/endpoints.py",
    ):
        assert expected in covered
    assert "tenants/queries.py" not in covered and "figures/floor.py" not in covered


@pytest.mark.parametrize("path", route_modules(), ids=str)
def test_no_sql_in_route_or_page_modules(path: Path) -> None:
    found = list(violations((ROOT / path).read_text(encoding="utf-8")))
    assert found == [], f"{path} builds or runs SQL itself; move it to the owning domain's queries: {found}"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from sqlalchemy import func, select\n", ["1: imports select from sqlalchemy"]),
        (
            "from sqlalchemy.dialects.postgresql import insert\n",
            ["1: imports insert from sqlalchemy.dialects.postgresql"],
        ),
        ("import sqlalchemy as sa\nq = sa.update(T)\n", ["2: uses sa…update"]),
        (
            "async def f(db: AsyncSession):\n    await db.get(T, 1)\n",
            ["2: runs db.get(…)"],
        ),
        (
            "async def f(hub):\n    async with unit_of_work(hub.sessionmaker) as s:\n        await s.scalars(q)\n",
            ["3: runs s.scalars(…)"],
        ),
        (
            "async def f(engine):\n    async with engine.connect() as c:\n        await c.execute(q)\n",
            ["3: runs c.execute(…)"],
        ),
        ("async def f(self):\n    await self.session.scalar(q)\n", ["2: runs session.scalar(…)"]),
        # not SQL: a mapping's get, the catalogue's get, a client's get, the sessionmaker itself
        (
            "async def f(request, client, hub):\n"
            "    request.headers.get('a')\n"
            "    await hub.catalogue.get()\n"
            "    await client.get('/x')\n"
            "    async with hub.sessionmaker() as session:\n"
            "        await read_floor(session)\n",
            [],
        ),
    ],
)
def test_the_check_sees_sql_and_nothing_else(source: str, expected: list[str]) -> None:
    assert list(violations(source)) == expected


@pytest.mark.parametrize("path", [*route_modules(), Path("plumbing/auth/dependencies.py")], ids=str)
def test_api_refusals_are_problems(path: Path) -> None:
    found = list(_raised_http_exceptions((ROOT / path).read_text(encoding="utf-8")))
    assert found == [], (
        f"{path} refuses with HTTPException; raise plumbing.problems.Problem with a code: {found}"
    )


def test_the_check_sees_an_http_exception_raised_under_any_name() -> None:
    source = (
        "from fastapi import HTTPException\n"
        "from starlette.exceptions import HTTPException as Refused\n"
        "def f():\n"
        "    raise HTTPException(404, 'no')\n"
        "def g():\n"
        "    raise Refused(400)\n"
        "def h():\n"
        "    raise Problem(404, 'not_found', 'no')\n"
    )
    assert list(_raised_http_exceptions(source)) == ["4: raises HTTPException", "6: raises Refused"]
