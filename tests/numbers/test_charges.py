"""Orders and completed port-ins record the number's charges from the account's rate plan in force."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import psycopg
from numbers_fixtures import STAFF, tenant_ctx
from psycopg.rows import dict_row

from warp.db import tenant
from warp.numbers import porting, service


def _plan(conn: psycopg.Connection[Any], name: str, rates: dict[str, tuple[str, str, str]]) -> uuid.UUID:
    row = conn.execute("INSERT INTO billing.rate_plans (name) VALUES (%s) RETURNING id", (name,)).fetchone()
    assert row is not None
    for number_type, (monthly, setup, port_in) in rates.items():
        conn.execute(
            "INSERT INTO billing.number_rates (rate_plan_id, number_type, monthly_charge, setup_charge, port_in_fee, "
            "effective_date) VALUES (%s, %s, %s, %s, %s, current_date - 30)",
            (row[0], number_type, monthly, setup, port_in),
        )
    return uuid.UUID(str(row[0]))


def _charges(conn: psycopg.Connection[Any], number: str) -> tuple[Any, ...] | None:
    return conn.execute(
        "SELECT a.account_id, a.monthly_charge, a.setup_charge, r.rate_plan_id FROM numbers.did_assignments a "
        "LEFT JOIN billing.number_rates r ON r.id = a.number_rate_id WHERE a.number = %s AND a.disconnected_at IS NULL",
        (number,),
    ).fetchone()


def test_order_records_charges_of_the_plan_in_force(
    db_url: str,
    conn: psycopg.Connection[Any],
    accounts: dict[str, uuid.UUID],
    inventory: Callable[..., list[str]],
) -> None:
    alpha, beta = accounts["ALPHA"], accounts["BETA"]
    old = _plan(conn, "Old", {"DID": ("9.00", "9.00", "9.00")})
    current = _plan(conn, "Current", {"DID": ("1.25", "3.50", "10.00"), "TOLL_FREE": ("4.00", "0.00", "0")})
    # ALPHA's old plan expired an hour ago; the current one is in force. BETA has no plan.
    conn.execute(
        "INSERT INTO billing.account_rate_plans (account_id, rate_plan_id, effective_at, expires_at) VALUES "
        "(%s, %s, now() - interval '60 days', now() - interval '1 hour'), (%s, %s, now() - interval '1 hour', NULL)",
        (alpha, old, alpha, current),
    )
    nums = inventory(3)
    conn.execute(
        "INSERT INTO numbers.inventory (number, number_type, npa, nxx) VALUES ('+18885550100', 'TOLL_FREE', '888', '555')"
    )
    with psycopg.connect(db_url, row_factory=dict_row) as c:
        with tenant.transaction(c, tenant_ctx(alpha)):
            service.order(c, [nums[0], "+18885550100"])
        with tenant.transaction(c, tenant_ctx(beta)):
            service.order(c, [nums[1]])
    assert _charges(conn, nums[0]) == (alpha, Decimal("1.25"), Decimal("3.50"), current)
    assert _charges(conn, "+18885550100") == (alpha, Decimal("4.00"), Decimal("0.00"), current)
    # No plan: unrated (NULL), never a silent zero.
    assert _charges(conn, nums[1]) == (beta, None, None, None)
    # Release closes the assignment with its charges kept; a new order records the plan then in force.
    with psycopg.connect(db_url, row_factory=dict_row) as c, tenant.transaction(c, tenant_ctx(alpha)):
        service.release(c, nums[0])
    closed = conn.execute(
        "SELECT monthly_charge, disconnected_at IS NOT NULL FROM numbers.did_assignments WHERE number = %s",
        (nums[0],),
    ).fetchall()
    assert closed == [(Decimal("1.25"), True)]


def test_completed_port_in_records_port_in_fee_as_setup(
    db_url: str, conn: psycopg.Connection[Any], accounts: dict[str, uuid.UUID]
) -> None:
    alpha = accounts["ALPHA"]
    plan = _plan(conn, "Porting", {"DID": ("0.80", "1.00", "15.00")})
    conn.execute(
        "INSERT INTO billing.account_rate_plans (account_id, rate_plan_id, effective_at) VALUES (%s, %s, now() - interval '1 day')",
        (alpha, plan),
    )
    with psycopg.connect(db_url, row_factory=dict_row) as c:
        with tenant.transaction(c, tenant_ctx(alpha)):
            req = porting.create_port_request(
                c,
                alpha,
                numbers=["+13125550100"],
                losing_carrier_name="Old Telco",
                authorized_name="Pat Doe",
                seal=lambda pin: "secret://x",
            )
            porting.transition(c, req.id, "submit")
        with tenant.transaction(c, STAFF):
            porting.transition(c, req.id, "foc", foc_date=date(2026, 12, 5))
            porting.transition(c, req.id, "complete")
    assert _charges(conn, "+13125550100") == (alpha, Decimal("0.80"), Decimal("15.00"), plan)
