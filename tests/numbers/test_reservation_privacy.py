"""Another tenant's reservation is invisible: the holder column is not granted to tenants."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import psycopg
import pytest
from numbers_fixtures import STAFF, tenant_ctx
from psycopg.rows import dict_row

from warp.db import tenant
from warp.numbers import service


def test_tenant_cannot_learn_another_tenants_reservation(
    db_url: str, accounts: dict[str, uuid.UUID], inventory: Callable[..., list[str]]
) -> None:
    alpha, beta = accounts["ALPHA"], accounts["BETA"]
    nums = inventory(3)
    with psycopg.connect(db_url, row_factory=dict_row) as c:
        with tenant.transaction(c, tenant_ctx(alpha)):
            service.reserve(c, nums[:2])
        with tenant.transaction(c, tenant_ctx(beta)):
            service.reserve(c, nums[2:])
            # The holder column cannot be read at all, directly, through *, or in a predicate.
            for query in (
                "SELECT reserved_by_account_id FROM numbers.inventory",
                "SELECT * FROM numbers.inventory",
                "SELECT number FROM numbers.inventory WHERE reserved_by_account_id = %s",
                "SELECT i FROM numbers.inventory i",
            ):
                with pytest.raises(psycopg.errors.InsufficientPrivilege), c.transaction():
                    c.execute(query, (alpha,) if "%s" in query else None)
            # What a tenant may read: the number is RESERVED, not by whom.
            row = c.execute("SELECT status FROM numbers.inventory WHERE number = %s", (nums[0],)).fetchone()
            assert row == {"status": "RESERVED"}
            assert [(r.number, r.account_id) for r in service.list_reservations(c)] == [(nums[2], beta)]
        with tenant.transaction(c, tenant_ctx(alpha)):
            assert [(r.number, r.account_id) for r in service.list_reservations(c)] == [
                (nums[0], alpha),
                (nums[1], alpha),
            ]
        with tenant.transaction(c, STAFF):
            held = {r.number: r.account_id for r in service.list_reservations(c)}
            assert held == {nums[0]: alpha, nums[1]: alpha, nums[2]: beta}
            row = c.execute(
                "SELECT reserved_by_account_id FROM numbers.inventory WHERE number = %s", (nums[2],)
            ).fetchone()
            assert row == {"reserved_by_account_id": beta}


def test_readonly_role_cannot_read_the_holder(
    db_url: str, accounts: dict[str, uuid.UUID], inventory: Callable[..., list[str]]
) -> None:
    nums = inventory(1)
    ctx = tenant.Context(account_id=accounts["BETA"], role=tenant.READONLY_ROLE)
    with psycopg.connect(db_url) as c:
        with tenant.transaction(c, tenant_ctx(accounts["ALPHA"])):
            service.reserve(c, nums)
        with pytest.raises(psycopg.errors.InsufficientPrivilege), tenant.transaction(c, ctx):
            c.execute("SELECT reserved_by_account_id FROM numbers.inventory")
