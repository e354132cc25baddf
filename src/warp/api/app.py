"""The FastAPI application factory."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from fastapi import FastAPI
from psycopg import Connection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import ConnectionPool

from warp.api import errors
from warp.api.deps import WarpState
from warp.api.request_log import RequestLogMiddleware, RequestLogWriter
from warp.api.routes import ROUTERS
from warp.auth.key_cache import ApiKeyCache
from warp.auth.policy import AuthPolicy, load_policy
from warp.auth.ratelimit import RateLimiter
from warp.db.connection import database_url
from warp.db.pooler import connection_kwargs
from warp.errors import ConfigError
from warp.reporting.source import ReportingSource

POOL_SIZE = 10


def env_db_slots() -> int:
    """``WARP_API_DB_SLOTS`` (default 1), or ConfigError naming it."""
    raw = os.environ.get("WARP_API_DB_SLOTS", "1")
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"WARP_API_DB_SLOTS: {raw!r} is not a whole number") from None


def check_db_slots(slots: int, pool_size: int = POOL_SIZE) -> int:
    """``slots`` when a pool of ``pool_size`` can serve it (one connection stays free), else ConfigError."""
    if not 1 <= slots <= max(1, pool_size - 1):
        raise ConfigError(f"WARP_API_DB_SLOTS: {slots} must be between 1 and {max(1, pool_size - 1)}")
    return slots


def create_app(
    url: str | None = None,
    *,
    policy: AuthPolicy | None = None,
    pool_size: int = POOL_SIZE,
    db_slots: int | None = None,
    request_log: bool = True,
) -> FastAPI:
    """Build the API; the connection pool (dict rows) opens at start-up and closes at shutdown.

    ``db_slots`` (default ``WARP_API_DB_SLOTS``, else 1) is how many requests of this process
    hold a database transaction at once; concurrency beyond it comes from worker processes
    (``warp serve --workers``). ADR 0007 says why one is the default.
    """
    slots = check_db_slots(db_slots if db_slots is not None else env_db_slots(), pool_size)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db_url = url or database_url()
        pool: ConnectionPool[Connection[DictRow]] = ConnectionPool(
            db_url,
            connection_class=Connection[DictRow],
            kwargs={"row_factory": dict_row, **connection_kwargs()},
            min_size=min(2, pool_size),
            max_size=pool_size,
            open=False,
        )
        pool.open(wait=True, timeout=30)
        effective = policy or load_policy()
        app.state.pool = pool
        # Reporting reads: the streaming replica when WARP_REPLICA_URL is set and reachable, else the primary.
        reporting = ReportingSource(pool, os.environ.get("WARP_REPLICA_URL"))
        app.state.reporting = reporting
        app.state.warp = WarpState(
            pool=pool,
            policy=effective,
            limiter=RateLimiter(effective),
            url=db_url,
            key_cache=ApiKeyCache(effective.api_key_cache_seconds),
            db_slots=anyio.Semaphore(slots),
        )
        writer = RequestLogWriter(pool) if request_log else None
        app.state.request_log = writer
        if writer is not None:
            writer.start()
        try:
            yield
        finally:
            if writer is not None:
                writer.stop()
            reporting.close()
            pool.close()

    app = FastAPI(
        # No OpenTelemetry here: without this FastAPI asks the global providers on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        title="WARP API",
        version="0.1.0",
        lifespan=lifespan,
        description="Wholesale telecom back office. Errors are RFC 9457 problem+json; lists are "
        'cursor-paginated as {"data": [...], "next_cursor": ...}.',
    )
    errors.install(app)
    for router in ROUTERS:
        app.include_router(router)

    def current_writer() -> Any:
        return getattr(app.state, "request_log", None)

    app.add_middleware(errors.CatchAllMiddleware)
    app.add_middleware(RequestLogMiddleware, writer_getter=current_writer)
    return app
