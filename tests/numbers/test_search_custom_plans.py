"""The available-number search is never a server-side prepared statement (no generic plan).

psycopg prepares a query text after its 5th execution on a connection; PostgreSQL may then reuse a
generic plan built without the parameter values, in which ``number LIKE '+1303%'`` is no index range
(measured: 450 ms instead of 5 ms for npa + '9*9*9*9*9' over a million numbers, docs/performance.md).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import psycopg
from numbers_fixtures import tenant_ctx
from psycopg.rows import dict_row

from warp.db import tenant
from warp.numbers import service
from warp.numbers.service import SearchFilter


def test_search_never_prepares_on_a_long_lived_connection(
    db_url: str, accounts: dict[str, uuid.UUID], inventory: Callable[..., list[str]]
) -> None:
    numbers = inventory(30)
    with psycopg.connect(db_url, row_factory=dict_row) as c:
        assert c.prepare_threshold is not None  # psycopg's default: prepare after 5 runs
        for _ in range(12):
            with tenant.transaction(c, tenant_ctx(accounts["ALPHA"])):
                found = service.search_available(c, SearchFilter(npa="303", contains="5*5*0"), 20)
                assert [n.number for n in found] == numbers[:20]
                found = service.search_available(c, SearchFilter(state="CO"), 5)
                assert len(found) == 5
        prepared: list[Any] = c.execute(
            "SELECT statement FROM pg_prepared_statements WHERE statement LIKE '%numbers.inventory%'"
        ).fetchall()
        assert prepared == []
        # Control: the same connection does prepare an ordinary repeated query, so the check above can fail.
        for _ in range(6):
            c.execute("SELECT count(*) FROM numbers.inventory WHERE npa = %s", ("303",))
        prepared = c.execute(
            "SELECT statement FROM pg_prepared_statements WHERE statement LIKE '%numbers.inventory%'"
        ).fetchall()
        assert len(prepared) == 1
