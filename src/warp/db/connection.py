"""Which database WARP talks to, and how it connects."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg.rows import dict_row

from warp.config import Settings, load_settings
from warp.db.cluster import LocalCluster

DEFAULT_DBNAME = "warp"


def embedded_cluster(settings: Settings) -> LocalCluster:
    """The private cluster under ``$WARP_HOME`` (not started)."""
    return LocalCluster(
        home=settings.home,
        port=settings.db_port,
        listen_host=settings.db_listen_host,
        bindir=None if settings.pg_bindir is None else Path(settings.pg_bindir),
    )


def database_url(settings: Settings | None = None, *, start: bool = True) -> str:
    """The URL in use: ``WARP_DATABASE_URL``, else the embedded cluster (started on first use)."""
    settings = settings or load_settings()
    if settings.database_url:
        return settings.database_url
    cluster = embedded_cluster(settings)
    if start:
        cluster.start()
        cluster.ensure_database(DEFAULT_DBNAME)
    return cluster.url(DEFAULT_DBNAME)


@contextmanager
def connect(url: str, *, autocommit: bool = False) -> Iterator[psycopg.Connection[dict[str, object]]]:
    """A connection returning rows as dicts; closed on exit."""
    with psycopg.connect(url, autocommit=autocommit, row_factory=dict_row) as conn:
        yield conn
