"""Test fixtures: a real PostgreSQL for every test that touches data.

A session starts a private cluster (or uses WARP_TEST_DATABASE_URL, a URL to a server where we may
create databases), builds a template database once from the real migrations, and each test that
asks for ``db_url``/``conn`` gets a fresh clone of it (CREATE DATABASE ... TEMPLATE).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from warp.db.cluster import LocalCluster
from warp.db.migrate import migrate

FAST_TEST_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "shared_buffers": "256MB",
}


def with_dbname(url: str, dbname: str) -> str:
    """The same server as ``url``, another database."""
    params = conninfo_to_dict(url)
    params["dbname"] = dbname
    return make_conninfo(**params)


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """URL of a maintenance database on a server where tests may create databases."""
    external = os.environ.get("WARP_TEST_DATABASE_URL")
    if external:
        yield external
        return
    home = Path(tempfile.mkdtemp(prefix="warp-test-pg-"))
    home.chmod(0o755)
    cluster = LocalCluster(home=home, port=5432, server_options=FAST_TEST_SETTINGS)
    cluster.start()
    try:
        yield cluster.url("postgres")
    finally:
        cluster.stop()
        shutil.rmtree(home, ignore_errors=True)


def _worker_suffix() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def create_database(admin_url: str, name: str, template: str | None = None) -> str:
    """Create database ``name`` (optionally from ``template``) and return its URL."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        stmt = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            stmt = sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        conn.execute(stmt)
    return with_dbname(admin_url, name)


def drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def template_db(pg_admin_url: str) -> Iterator[str]:
    """Name of a database migrated to head, used as the template of per-test databases."""
    name = f"warp_template_{_worker_suffix()}_{uuid.uuid4().hex[:6]}"
    url = create_database(pg_admin_url, name)
    migrate(url)
    yield name
    drop_database(pg_admin_url, name)


@pytest.fixture
def db_url(pg_admin_url: str, template_db: str) -> Iterator[str]:
    """URL of a fresh database migrated to head, dropped after the test."""
    name = f"warp_t_{uuid.uuid4().hex[:12]}"
    url = create_database(pg_admin_url, name, template=template_db)
    yield url
    drop_database(pg_admin_url, name)


@pytest.fixture
def empty_db_url(pg_admin_url: str) -> Iterator[str]:
    """URL of a fresh empty database (no migrations), dropped after the test."""
    name = f"warp_e_{uuid.uuid4().hex[:12]}"
    url = create_database(pg_admin_url, name)
    yield url
    drop_database(pg_admin_url, name)


@pytest.fixture
def conn(db_url: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """An autocommit connection to a fresh migrated database."""
    with psycopg.connect(db_url, autocommit=True) as connection:
        yield connection


@pytest.fixture(scope="session")
def demo_template_db(pg_admin_url: str) -> Iterator[str]:
    """Name of a database migrated to head and seeded with the demo world, the template of ``demo_db_url``."""
    from warp.db.seed import seed

    name = f"warp_demo_template_{_worker_suffix()}_{uuid.uuid4().hex[:6]}"
    url = create_database(pg_admin_url, name)
    migrate(url)
    seed(url, demo=True)
    yield name
    drop_database(pg_admin_url, name)


@pytest.fixture
def demo_db_url(pg_admin_url: str, demo_template_db: str) -> Iterator[str]:
    """URL of a fresh database migrated to head with reference and demo data, dropped after the test."""
    name = f"warp_d_{uuid.uuid4().hex[:12]}"
    url = create_database(pg_admin_url, name, template=demo_template_db)
    yield url
    drop_database(pg_admin_url, name)
