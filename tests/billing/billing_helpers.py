"""Small builders for billing tests: accounts with balances, rated CDRs, charged MDRs, DID assignments."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import psycopg

from warp.db import tenant

STAFF = tenant.Context(staff=True, actor_type="STAFF")


def account(
    conn: psycopg.Connection[Any],
    ban: str,
    *,
    cycle: str = "POSTPAID",
    balance: Decimal = Decimal(0),
    credit_limit: Decimal = Decimal(0),
    threshold: Decimal | None = None,
    state: str | None = "CO",
    tax_exempt: bool = False,
) -> uuid.UUID:
    """An account with a balance row whose opening balance is one ADJUSTMENT ledger entry."""
    row = conn.execute(
        "INSERT INTO accounts.accounts (ban, name, account_type, billing_state, tax_exempt) "
        "VALUES (%s, %s, 'CUSTOMER', %s, %s) RETURNING id",
        (ban, f"{ban} Inc", state, tax_exempt),
    ).fetchone()
    assert row is not None
    acct = uuid.UUID(str(row[0]))
    conn.execute(
        "INSERT INTO billing.account_balance (account_id, credit_limit, billing_cycle, low_balance_threshold) "
        "VALUES (%s, %s, %s, %s)",
        (acct, credit_limit, cycle, threshold),
    )
    if balance:
        conn.execute(
            "SELECT billing.post_entry(%s, 'ADJUSTMENT', %s, 'MANUAL', NULL, 'opening')", (acct, balance)
        )
    return acct


def cdrs(
    conn: psycopg.Connection[Any],
    acct: uuid.UUID,
    *,
    n: int,
    charge: Decimal,
    jurisdiction: str = "INTERSTATE",
    seconds: int = 60,
    day: str = "2026-11-10",
) -> None:
    """``n`` rated CDRs of ``charge`` each (raw + enriched rows)."""
    tag = uuid.uuid4().hex[:8]
    conn.execute(
        "WITH raw AS (INSERT INTO cdr.raw_cdr (start_time, call_id, duration, sip_code, ani, dnis, account_id, "
        "source_ip) SELECT %s::timestamptz + g * interval '1 second', %s || g, %s, 200, '+13035550100', "
        "'+12125550100', %s, '10.0.0.1' FROM generate_series(1, %s) g RETURNING id, start_time) "
        "INSERT INTO cdr.enriched_cdr (start_time, raw_cdr_id, account_id, dnis, jurisdiction, answered, "
        "duration_seconds, billable_seconds, customer_rate, customer_charge, vendor_cost, rating_status, rated_at) "
        "SELECT start_time, id, %s, '+12125550100', %s, true, %s, %s, %s, %s, 0, 'RATED', now() FROM raw",
        (f"{day} 12:00:00+00", tag, seconds, acct, n, acct, jurisdiction, seconds, seconds, charge, charge),
    )


def mdrs(
    conn: psycopg.Connection[Any],
    acct: uuid.UUID,
    *,
    n: int,
    charge: Decimal,
    segments: int = 1,
    message_type: str = "SMS",
    day: str = "2026-11-12",
) -> None:
    conn.execute(
        "INSERT INTO messaging.mdr (created_at, account_id, direction, message_type, from_number, to_number, "
        "segments, status, rate, charge) SELECT %s::timestamptz + g * interval '1 second', %s, 'OUTBOUND', %s, "
        "'+13035550100', '+12125550100', %s, 'DELIVERED', %s, %s FROM generate_series(1, %s) g",
        (f"{day} 09:00:00+00", acct, message_type, segments, charge, charge * segments, n),
    )


def did(
    conn: psycopg.Connection[Any],
    acct: uuid.UUID,
    number: str,
    *,
    activated: str,
    disconnected: str | None = None,
    monthly: Decimal | None = Decimal("1.00"),
    setup: Decimal | None = None,
    number_type: str = "DID",
) -> None:
    row = conn.execute(
        "INSERT INTO numbers.inventory (number, number_type, status) VALUES (%s, %s, 'ACTIVE') "
        "ON CONFLICT (number) DO UPDATE SET status = 'ACTIVE' RETURNING id",
        (number, number_type),
    ).fetchone()
    assert row is not None
    conn.execute(
        "INSERT INTO numbers.did_assignments (account_id, inventory_id, number, activated_at, disconnected_at, "
        "monthly_charge, setup_charge) VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (acct, row[0], number, activated, disconnected, monthly, setup),
    )


def assert_ledger_ok(conn: psycopg.Connection[Any]) -> None:
    """balance = sum(ledger) for every account."""
    assert conn.execute("SELECT * FROM billing.check_ledger()").fetchall() == []


def balance(conn: psycopg.Connection[Any], acct: uuid.UUID) -> Decimal:
    row = conn.execute(
        "SELECT balance FROM billing.account_balance WHERE account_id = %s", (acct,)
    ).fetchone()
    assert row is not None
    return Decimal(row[0])
