"""FastAPI dependencies: the request's principal from its bearer token, and role checks."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import structlog
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from plumbing.auth.service import Authenticator, Principal
from plumbing.db.scope import ALL_PARTNERS, set_scope
from plumbing.problems import Problem

_bearer = HTTPBearer(auto_error=False, description="A token from `hub token create`.")


async def current_principal(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Problem(
            401, "unauthenticated", "a bearer token is required", headers={"WWW-Authenticate": "Bearer"}
        )
    authenticator: Authenticator = request.app.state.authenticator
    caller = await authenticator.caller(credentials.credentials)
    if caller is None:
        raise Problem(
            401, "unauthenticated", "unknown or revoked token", headers={"WWW-Authenticate": "Bearer"}
        )
    principal, partners = caller
    structlog.contextvars.bind_contextvars(
        role=principal.role, tenant=principal.tenant, agent_id=principal.agent_id
    )
    # From here on, row-level security shows only the caller's partner and its agreement partners.
    set_scope(ALL_PARTNERS if partners is None else partners)
    return principal


def require(*roles: str) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """A dependency that lets through only the given roles (admin always passes)."""

    async def check(principal: Principal = Depends(current_principal)) -> Principal:
        if principal.role != "admin" and principal.role not in roles:
            raise Problem(403, "forbidden", f"this needs the role {' or '.join(roles)}")
        return principal

    return check
