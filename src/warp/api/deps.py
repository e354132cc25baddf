"""The request chassis: authentication, permission check, rate limit and one tenant transaction.

Every route declares what it needs with exactly one of::

    tx: Tx = require("numbers:read")      # a permission/scope; 403 without it
    tx: Tx = require(AUTHENTICATED)       # any authenticated principal
    _: None = public()                    # no credentials (health, login)

``require`` authenticates the bearer credential (API key or session token), counts the request
against the principal's rate limit, checks the permission, then opens ONE transaction acting as
the principal (``warp.db.tenant``: role warp_app, tenant, actor, request id) and hands it to the
handler as ``tx.conn``; it commits when the handler returns and rolls back when it raises, before
the response is sent. The dependency itself is async: a key found in the in-process cache is
authenticated and rate-limited on the event loop, and the transaction opens on the handler's first
use of ``tx.conn`` in the handler's worker thread, which also commits (one thread-pool hop per
request, see ``WarpRoute``); session tokens and uncached keys are looked up in a worker thread,
inside the request's transaction. ``tests/api/test_routes.py`` fails for a route that declares nothing.

Every router is built with ``route_class=WarpRoute``: a plain (``def``) handler then runs in ONE
worker-thread hop together with its transaction's commit or rollback, and FastAPI validates the
response on the event loop (a plain handler would otherwise cost three hops: handler, response
validation, commit). ``tests/api/test_routes.py`` fails for a route of another class.
"""

from __future__ import annotations

import functools
import inspect
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass, replace
from typing import Any, TypeVar
from uuid import UUID

import anyio
import psycopg
from fastapi import Depends, Request, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from psycopg_pool import ConnectionPool
from starlette.concurrency import run_in_threadpool

from warp.api.request_log import valid_ip
from warp.auth import api_keys, sessions
from warp.auth.errors import InsufficientScope, Unauthenticated
from warp.auth.key_cache import ApiKeyCache
from warp.auth.policy import AuthPolicy
from warp.auth.principal import Principal
from warp.auth.ratelimit import LocalStorage, RateLimiter
from warp.db import tenant

T = TypeVar("T")

PUBLIC = "public"
AUTHENTICATED = "authenticated"

_ANONYMOUS = Principal(kind="ANONYMOUS", actor_id=UUID(int=0), account_id=None, permissions=frozenset())

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
    # Requests holding (or about to take) a pooled connection (WARP_API_DB_SLOTS, default 1, fewer
    # than the pool): worker threads never all block on the pool while the requests holding its
    # connections wait for a thread to commit, a handler that takes a second connection (reports,
    # streamed exports) finds one, and few threads contend for the GIL (ADR 0007).
    db_slots: anyio.Semaphore | None = None


class Tx:
    """A handler's unit of work: the connection inside the principal's transaction.

    The connection is taken from the pool and the transaction opened (tenant settings, and the
    key's last use when due) on first use of ``conn``, in the thread that runs the handler: a request
    served from the key cache reaches its handler without a thread-pool hop. The chassis ends the
    transaction after the handler (``finish``), and opens it then if the handler never did but a
    last use is due.
    """

    __slots__ = ("_applied", "_conn", "_pool", "principal", "request_id")

    def __init__(self, pool: ConnectionPool[Any], principal: Principal, request_id: str) -> None:
        self.principal = principal
        self.request_id = request_id
        self._pool = pool
        self._conn: psycopg.Connection[Any] | None = None
        self._applied = False

    @property
    def conn(self) -> psycopg.Connection[Any]:
        if not self._applied:
            conn = self._connection()
            # Not pipelined: psycopg syncs after its implicit BEGIN even in pipeline mode, so a
            # pipeline saves no round trip here and costs client CPU (docs/performance.md).
            tenant.apply(conn, self.principal.context(self.request_id))
            if self.principal.needs_touch and self.principal.api_key_id is not None:
                api_keys.touch_last_used(conn, self.principal.api_key_id)
            self._applied = True
        assert self._conn is not None
        return self._conn

    def _connection(self) -> psycopg.Connection[Any]:
        """The request's pooled connection (its first statement begins the transaction)."""
        if self._conn is None:
            self._conn = self._pool.getconn()
        return self._conn

    @property
    def pending(self) -> bool:
        """Whether ``finish`` has database work to do."""
        return self._conn is not None or self.principal.needs_touch

    def finish(self, commit: bool) -> None:
        """Commit (or roll back) the transaction and give the connection back to the pool."""
        if commit and not self._applied and self.principal.needs_touch:
            self.conn  # noqa: B018 - opens the transaction to record the key's use
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if commit:
                conn.commit()
            else:
                conn.rollback()
        finally:
            self._pool.putconn(conn)


def _run_and_finish(endpoint: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Run a plain handler, then end its request's transaction, in the same worker thread."""
    tx = next((value for value in kwargs.values() if isinstance(value, Tx)), None)
    try:
        result = endpoint(*args, **kwargs)
    except BaseException:
        if tx is not None and tx.pending:
            tx.finish(False)
        raise
    if tx is not None and tx.pending:
        tx.finish(True)
    return result


def _one_hop(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """``endpoint`` (a plain function) as a coroutine running it and its commit in one thread hop.

    ``functools.wraps`` keeps the signature and globals FastAPI reads the parameters from."""

    @functools.wraps(endpoint)
    async def run(*args: Any, **kwargs: Any) -> Any:
        return await run_in_threadpool(_run_and_finish, endpoint, args, kwargs)

    return run


class WarpRoute(APIRoute):
    """The route class of every WARP router (``APIRouter(..., route_class=WarpRoute)``)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        plain = not (
            inspect.iscoroutinefunction(endpoint)
            or inspect.isgeneratorfunction(endpoint)
            or inspect.isasyncgenfunction(endpoint)
        )
        super().__init__(path, _one_hop(endpoint) if plain else endpoint, **kwargs)


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


def _cached_principal(token: str, request: Request, state: WarpState) -> Principal | None:
    """The principal of an API key verified recently (no database, no blocking), else None."""
    cache = state.key_cache
    if cache is None or not cache.enabled or not token.startswith("warp_"):
        return None
    return api_keys.authenticate_cached_api_key(token, client_ip_of(request), cache)


def _authenticate_in(tx_conn: Tx, token: str, request: Request, state: WarpState) -> Principal:
    """Authenticate with the database, inside the request's transaction (runs in a worker thread)."""
    return _authenticate(tx_conn._connection(), token, request, state)


def _db_slot(state: WarpState) -> AbstractAsyncContextManager[Any]:
    """Holds one of the process's db slots (``WarpState.db_slots``) for its block, if there are any."""
    return state.db_slots if state.db_slots is not None else nullcontext()


def _check_declared(kind: str, permission: str) -> None:
    if not permission or permission == PUBLIC:
        raise ValueError(f"{kind}() needs a permission or AUTHENTICATED; use public() for open routes")


async def _admit(
    request: Request,
    response: Response,
    token: str,
    permission: str,
    state: WarpState,
    tx: Tx,
    principal: Principal | None,
) -> Principal:
    """Authenticate ``token`` (``principal`` when the key cache had it, else the database through
    ``tx``), count the request against the principal's rate limit (headers on ``response``) and
    check ``permission``."""
    if principal is None:
        principal = await run_in_threadpool(_authenticate_in, tx, token, request, state)
    tx.principal = principal
    request.state.principal = principal
    identity = f"key:{principal.api_key_id}" if principal.api_key_id else f"user:{principal.user_id}"
    if isinstance(state.limiter.storage, LocalStorage):
        quota = state.limiter.hit(identity, principal.rate_limits)
    else:  # a network storage (Redis) blocks: off the event loop
        quota = await run_in_threadpool(state.limiter.hit, identity, principal.rate_limits)
    for name, value in quota.headers().items():
        response.headers[name] = value
    if permission != AUTHENTICATED and not principal.allows(permission):
        raise InsufficientScope(f"scope: this operation needs {permission!r}")
    return principal


def _token(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or not credentials.credentials:
        raise Unauthenticated("credentials: send Authorization: Bearer <API key or session token>")
    return credentials.credentials


def require(permission: str) -> Any:
    """Dependency: an authenticated principal holding ``permission``, in its own transaction."""
    _check_declared("require", permission)

    async def dependency(
        request: Request,
        response: Response,
        credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
    ) -> AsyncIterator[Tx]:
        token = _token(credentials)
        state = state_of(request)
        request_id = request_id_of(request)
        # A placeholder principal until authentication: its transaction is the request's, begun by
        # the look-up (session tokens, uncached keys) and given the tenant settings on first use.
        async with _db_slot(state):
            tx = Tx(state.pool, _ANONYMOUS, request_id)
            try:
                cached = _cached_principal(token, request, state)
                await _admit(request, response, token, permission, state, tx, cached)
                yield tx
            except BaseException:
                if tx.pending:
                    with anyio.CancelScope(shield=True):
                        await run_in_threadpool(tx.finish, False)
                raise
            if tx.pending:
                with anyio.CancelScope(shield=True):
                    await run_in_threadpool(tx.finish, True)

    dependency.warp_permission = permission  # type: ignore[attr-defined]
    return Depends(dependency, scope="function")


@dataclass(frozen=True)
class Admitted:
    """An authenticated, rate-counted request holding ``permission``, without a transaction."""

    principal: Principal
    request_id: str
    state: WarpState


def admit(permission: str) -> Any:
    """Dependency: like ``require`` but the handler gets no transaction and holds no db slot.

    For handlers whose database work goes through a shared writer that takes a db slot itself and
    runs several requests' work in one transaction (group submit of ``POST /v1/messages``). That
    writer acts as ``principal.context(request_id)`` and records the key's use when
    ``principal.needs_touch``. A key not in the cache is looked up here in its own short transaction
    (one db slot for the look-up)."""
    _check_declared("admit", permission)

    async def dependency(
        request: Request,
        response: Response,
        credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
    ) -> Admitted:
        token = _token(credentials)
        state = state_of(request)
        request_id = request_id_of(request)
        tx = Tx(state.pool, _ANONYMOUS, request_id)
        cached = _cached_principal(token, request, state)
        if cached is not None:
            principal = await _admit(request, response, token, permission, state, tx, cached)
            return Admitted(principal, request_id, state)
        async with _db_slot(state):
            admitted = False
            try:
                principal = await _admit(request, response, token, permission, state, tx, None)
                admitted = True
            finally:
                if tx.pending:
                    with anyio.CancelScope(shield=True):
                        await run_in_threadpool(tx.finish, admitted)
        # The look-up's transaction recorded the key's use (Tx.finish).
        return Admitted(replace(principal, needs_touch=False), request_id, state)

    dependency.warp_permission = permission  # type: ignore[attr-defined]
    return Depends(dependency)


async def run_in_transaction(who: Admitted, work: Callable[..., T]) -> T:
    """``work(tx=...)`` in a transaction acting as ``who``: one db slot, and one worker-thread hop
    that runs it and commits (or rolls back when it raises), as ``require`` runs plain handlers. For
    an ``admit`` handler that needs a transaction of its own for some requests (a keyed send)."""
    async with _db_slot(who.state):
        tx = Tx(who.state.pool, who.principal, who.request_id)
        result: T = await run_in_threadpool(_run_and_finish, work, (), {"tx": tx})
        return result


async def _public(request: Request) -> None:
    # async: FastAPI runs a plain dependency in a worker thread (a hop per request for nothing)
    request_id_of(request)


_public.warp_permission = PUBLIC  # type: ignore[attr-defined]


def public() -> Any:
    """Dependency marking a route that needs no credentials."""
    return Depends(_public)


def declared_permission(call: Callable[..., Any] | None) -> str | None:
    """The permission a dependency callable declares, if any."""
    return getattr(call, "warp_permission", None)
