"""Where reporting reads go: a streaming read replica when ``WARP_REPLICA_URL`` is set and reachable,
else the primary. Writes never use this (the replica is read-only: PostgreSQL itself refuses them).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from warp.db.pooler import connection_kwargs

log = logging.getLogger(__name__)


class ReportingSource:
    """A pool on the replica (when usable) with the primary pool as fallback."""

    def __init__(self, primary: ConnectionPool[Any], replica_url: str | None, *, pool_size: int = 4) -> None:
        self.primary = primary
        self.replica_url = replica_url or None
        self.replica: ConnectionPool[Any] | None = None
        self.reason = "WARP_REPLICA_URL unset"
        if self.replica_url:
            self._open_replica(pool_size)

    def _open_replica(self, pool_size: int) -> None:
        assert self.replica_url
        try:
            with psycopg.connect(self.replica_url, connect_timeout=3, autocommit=True) as probe:
                row = probe.execute("SELECT pg_is_in_recovery()").fetchone()
            in_recovery = bool(row and row[0])
        except psycopg.Error as exc:
            self.reason = f"replica unreachable ({type(exc).__name__})"
            log.warning("reporting: replica unreachable, reading from the primary: %s", exc)
            return
        self.replica = ConnectionPool(
            self.replica_url,
            kwargs={"row_factory": dict_row, **connection_kwargs()},
            min_size=1,
            max_size=pool_size,
            open=False,
        )
        self.replica.open(wait=True, timeout=10)
        self.reason = "streaming replica" if in_recovery else "replica URL is not a standby"

    @property
    def target(self) -> str:
        """``replica`` or ``primary``: where reporting reads go now."""
        return "replica" if self.replica is not None else "primary"

    def describe(self) -> dict[str, str]:
        return {"target": self.target, "reason": self.reason}

    @contextlib.contextmanager
    def connection(self) -> Iterator[tuple[psycopg.Connection[Any], str]]:
        """A connection for reporting reads and where it points; falls back to the primary on failure."""
        if self.replica is not None:
            try:
                conn = self.replica.getconn(timeout=5)
            except Exception as exc:  # pool timeout or connection failure: read from the primary
                log.warning("reporting: replica unavailable, falling back to the primary: %s", exc)
            else:
                try:
                    yield conn, "replica"
                finally:
                    self.replica.putconn(conn)
                return
        with self.primary.connection() as conn:
            yield conn, "primary"

    def close(self) -> None:
        if self.replica is not None:
            self.replica.close()
