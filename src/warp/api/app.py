"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from psycopg_pool import ConnectionPool

from warp.db.connection import database_url


def create_app(url: str | None = None) -> FastAPI:
    """Build the API; the connection pool opens at start-up and closes at shutdown."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = ConnectionPool(url or database_url(), min_size=1, max_size=10, open=False)
        pool.open(wait=True, timeout=30)
        app.state.pool = pool
        try:
            yield
        finally:
            pool.close()

    app = FastAPI(title="WARP API", version="0.1.0", lifespan=lifespan)

    @app.get("/health", tags=["health"])
    def health() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    return app
