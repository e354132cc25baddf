"""Helpers and fixtures for numbers tests: accounts and inventory loaded as superuser."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from warp.db import tenant

STAFF = tenant.Context(staff=True, actor_type="STAFF")


def tenant_ctx(account_id: uuid.UUID) -> tenant.Context:
    return tenant.Context(account_id=account_id, actor_type="SYSTEM")


@pytest.fixture
def accounts(conn: psycopg.Connection[Any]) -> dict[str, uuid.UUID]:
    ids = {}
    for ban in ("ALPHA", "BETA"):
        row = conn.execute(
            "INSERT INTO accounts.accounts (ban, name, account_type) VALUES (%s, %s, 'CUSTOMER') RETURNING id",
            (ban, f"{ban} Inc"),
        ).fetchone()
        assert row is not None
        ids[ban] = row[0]
    return ids


def add_inventory(conn: psycopg.Connection[Any], numbers: list[str], status: str = "AVAILABLE") -> None:
    conn.execute(
        "INSERT INTO numbers.inventory (number, npa, nxx, state, rate_center, lata, status) "
        "SELECT n, substr(n, 3, 3), substr(n, 6, 3), 'CO', 'DENVER', '656', %s FROM unnest(%s::text[]) AS n",
        (status, numbers),
    )


@pytest.fixture
def inventory(conn: psycopg.Connection[Any]) -> Callable[..., list[str]]:
    def make(count: int = 10, prefix: str = "+1303555", status: str = "AVAILABLE") -> list[str]:
        numbers = [f"{prefix}{i:04d}" for i in range(count)]
        add_inventory(conn, numbers, status)
        return numbers

    return make


def as_tenant(db_url: str, account_id: uuid.UUID) -> Any:
    """A dict-row connection for use with tenant.transaction."""
    return psycopg.connect(db_url, row_factory=dict_row)
