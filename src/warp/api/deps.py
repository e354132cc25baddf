"""The request chassis: authentication, permission check, rate limit and one tenant transaction.

Every route declares what it needs with exactly one of::

    tx: Tx = require("numbers:read")      # a permission/scope; 403 without it
    tx: Tx = require(AUTHENTICATED)       # any authenticated principal
    _: None = public()                    # no credentials (health, login)

``require`` authenticates the bearer credential (API key or session token), counts the request
against the principal's rate limit, checks the permission, then opens ONE transaction acting as
the principal (``warp.db.tenant``: role warp_app, tenant, actor, request id) and hands it to the
handler as ``tx.conn``; it commits when the handler returns and rolls back when it raises, before
the response is sent. ``tests/api/test_routes.py`` fails for a route that declares nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
from fastapi import Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from psycopg_pool import ConnectionPool

from warp.api.request_log import valid_ip
from warp.auth import api_keys, sessions
from warp.auth.errors import InsufficientScope, Unauthenticated
from warp.auth.key_cache import ApiKeyCache
from warp.auth.policy import AuthPolicy
from warp.auth.principal import Principal
from warp.auth.ratelimit import RateLimiter
from warp.db import tenant

PUBLIC = "public"
AUTHENTICATED = "authenticated"

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="`Authorization: Bearer <API key (warp_<prefix>_<secret>) or session token>`",
)


@dataclass
class WarpState:
    """What the chassis needs at run time (``app.state.warp``)."""

    pool: ConnectionPool[Any]
    policy: AuthPolicy
    limiter: RateLimiter
    url: str
    key_cache: ApiKeyCache | None = None  # verified API keys (policy.api_key_cache_seconds)


@dataclass(frozen=True)
class Tx:
    """A handler's unit of work: the connection inside the principal's transaction."""

    conn: psycopg.Connection[Any]
    principal: Principal
    request_id: str


def state_of(request: Request) -> WarpState:
    warp: WarpState = request.app.state.warp
    return warp


def request_id_of(request: Request) -> str:
    rid = getattr(request.state, "request_id", None)
    if not rid:
        rid = str(uuid.uuid4())
        request.state.request_id = rid
    return str(rid)


def client_ip_of(request: Request) -> str | None:
    """The peer address (no proxy headers are trusted), or None when it is not an IP address."""
    return valid_ip(request.client.host) if request.client else None


def _authenticate(conn: psycopg.Connection[Any], token: str, request: Request, state: WarpState) -> Principal:
    if token.startswith("warp_"):
        return api_keys.authenticate_api_key(conn, token, client_ip_of(request), state.key_cache)
    return sessions.authenticate_session(conn, token, state.policy)


def require(permission: str) -> Any:
    """Dependency: an authenticated principal holding ``permission``, in its own transaction."""
    if not permission or permission == PUBLIC:
        raise ValueError("require() needs a permission or AUTHENTICATED; use public() for open routes")

    def dependency(
        request: Request,
        response: Response,
        credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
    ) -> Iterator[Tx]:
        if credentials is None or not credentials.credentials:
            raise Unauthenticated("credentials: send Authorization: Bearer <API key or session token>")
        state = state_of(request)
        request_id = request_id_of(request)
        with state.pool.connection() as conn, conn.transaction():
            principal = _authenticate(conn, credentials.credentials, request, state)
            request.state.principal = principal
            identity = f"key:{principal.api_key_id}" if principal.api_key_id else f"user:{principal.user_id}"
            quota = state.limiter.hit(identity, principal.rate_limits)
            for name, value in quota.headers().items():
                response.headers[name] = value
            if permission != AUTHENTICATED and not principal.allows(permission):
                raise InsufficientScope(f"scope: this operation needs {permission!r}")
            tenant.apply(conn, principal.context(request_id))
            if principal.needs_touch and principal.api_key_id is not None:
                api_keys.touch_last_used(conn, principal.api_key_id)
            yield Tx(conn=conn, principal=principal, request_id=request_id)

    dependency.warp_permission = permission  # type: ignore[attr-defined]
    return Depends(dependency, scope="function")


def _public(request: Request) -> None:
    request_id_of(request)


_public.warp_permission = PUBLIC  # type: ignore[attr-defined]


def public() -> Any:
    """Dependency marking a route that needs no credentials."""
    return Depends(_public)


def declared_permission(call: Callable[..., Any] | None) -> str | None:
    """The permission a dependency callable declares, if any."""
    return getattr(call, "warp_permission", None)
