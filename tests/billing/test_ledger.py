"""The ledger: balance = sum(ledger), atomic concurrent debits, the prepaid credit limit, low-balance events."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from billing_helpers import STAFF, account, assert_ledger_ok, balance

from warp.billing import ledger
from warp.billing.errors import InsufficientFunds
from warp.db import tenant


def test_check_ledger_finds_a_balance_that_drifted(conn: psycopg.Connection[Any]) -> None:
    acct = account(conn, "DRIFT", balance=Decimal("10"))
    assert_ledger_ok(conn)
    conn.execute("UPDATE billing.account_balance SET balance = balance + 1 WHERE account_id = %s", (acct,))
    rows = conn.execute("SELECT account_id, difference FROM billing.check_ledger()").fetchall()
    assert rows == [(acct, Decimal("1"))]
    with tenant.transaction(conn, STAFF):
        assert [m.account_id for m in ledger.check_ledger(conn)] == [acct]


def test_debit_moves_balance_through_the_ledger(conn: psycopg.Connection[Any]) -> None:
    acct = account(conn, "POST")  # postpaid, no balance row content yet beyond 0
    with tenant.transaction(conn, STAFF):
        after = ledger.debit(conn, acct, Decimal("1.234567"), source_type="MANUAL", description="test")
    assert after == Decimal("-1.234567")
    row = conn.execute(
        "SELECT entry_type, amount, balance_after FROM billing.balance_ledger WHERE account_id = %s "
        "AND description = 'test'",
        (acct,),
    ).fetchone()
    assert row == ("CHARGE", Decimal("-1.234567"), Decimal("-1.234567"))
    assert_ledger_ok(conn)


def test_prepaid_debit_crossing_the_credit_limit_is_refused(conn: psycopg.Connection[Any]) -> None:
    acct = account(conn, "PRE", cycle="PREPAID", balance=Decimal("5.00"), credit_limit=Decimal("2.00"))
    with tenant.transaction(conn, STAFF):
        assert ledger.debit(conn, acct, Decimal("6.50")) == Decimal("-1.50")
        with pytest.raises(InsufficientFunds):
            ledger.debit(conn, acct, Decimal("0.51"))  # would reach -2.01
        assert ledger.debit(conn, acct, Decimal("0.50")) == Decimal("-2.00")  # exactly -credit_limit is fine
        with pytest.raises(InsufficientFunds):
            ledger.debit(conn, acct, Decimal("0.000001"))
    assert balance(conn, acct) == Decimal("-2.00")
    n = conn.execute("SELECT count(*) FROM billing.balance_ledger WHERE account_id = %s", (acct,)).fetchone()
    assert n == (3,)  # opening + two accepted debits; refused ones leave no row
    assert_ledger_ok(conn)


def test_postpaid_is_not_limited(conn: psycopg.Connection[Any]) -> None:
    acct = account(conn, "POSTLIM", credit_limit=Decimal("1.00"))
    with tenant.transaction(conn, STAFF):
        assert ledger.debit(conn, acct, Decimal("100")) == Decimal("-100")
    assert_ledger_ok(conn)


def test_fifty_concurrent_debits_on_one_account(db_url: str, conn: psycopg.Connection[Any]) -> None:
    acct = account(conn, "CONC", cycle="PREPAID", balance=Decimal("100.00"))
    barrier = threading.Barrier(50)
    errors: list[BaseException] = []
    refused: list[int] = []

    def worker(i: int) -> None:
        try:
            with psycopg.connect(db_url) as c:
                barrier.wait(timeout=30)
                with tenant.transaction(c, tenant.Context(account_id=acct)):
                    ledger.debit(c, acct, Decimal("1.50"), source_type="MANUAL", description=f"d{i}")
        except InsufficientFunds:
            refused.append(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    # 100.00 covers 66 debits of 1.50: all 50 pass, exactly.
    assert refused == []
    assert balance(conn, acct) == Decimal("25.00")
    afters = [
        r[0]
        for r in conn.execute(
            "SELECT balance_after FROM billing.balance_ledger WHERE account_id = %s AND entry_type = 'CHARGE' "
            "ORDER BY balance_after DESC",
            (acct,),
        )
    ]
    assert afters == [
        Decimal("100.00") - Decimal("1.50") * k for k in range(1, 51)
    ]  # serialised, no lost update
    assert_ledger_ok(conn)


def test_concurrent_debits_never_cross_the_credit_limit(db_url: str, conn: psycopg.Connection[Any]) -> None:
    acct = account(conn, "CONC2", cycle="PREPAID", balance=Decimal("10.00"), credit_limit=Decimal("5.00"))
    barrier = threading.Barrier(50)
    ok: list[int] = []
    refused: list[int] = []

    def worker(i: int) -> None:
        with psycopg.connect(db_url) as c:
            barrier.wait(timeout=30)
            try:
                with tenant.transaction(c, tenant.Context(account_id=acct)):
                    ledger.debit(c, acct, Decimal("1.00"))
                ok.append(i)
            except InsufficientFunds:
                refused.append(i)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ok) == 15 and len(refused) == 35
    assert balance(conn, acct) == Decimal("-5.00")
    assert_ledger_ok(conn)


def test_low_balance_event_when_crossing_the_threshold(conn: psycopg.Connection[Any]) -> None:
    acct = account(conn, "LOW", cycle="PREPAID", balance=Decimal("20.00"), threshold=Decimal("10.00"))
    with tenant.transaction(conn, STAFF):
        ledger.debit(conn, acct, Decimal("5"))  # 15: above
        ledger.debit(conn, acct, Decimal("6"))  # 9: crosses
        ledger.debit(conn, acct, Decimal("1"))  # 8: still below, no second event
    events = conn.execute(
        "SELECT event_type, payload->>'balance', payload->>'threshold' FROM billing.billing_events "
        "WHERE account_id = %s AND event_type = 'balance.low'",
        (acct,),
    ).fetchall()
    assert events == [("balance.low", "9.00", "10.00")]
    assert conn.execute(
        "SELECT last_low_balance_alert_at IS NOT NULL FROM billing.account_balance WHERE account_id = %s",
        (acct,),
    ).fetchone() == (True,)
    # back above (top-up), then crossing again raises a new event
    conn.execute("SELECT billing.post_entry(%s, 'PAYMENT', 50, 'MANUAL', NULL, 'top-up')", (acct,))
    with tenant.transaction(conn, STAFF):
        ledger.debit(conn, acct, Decimal("50"))
    n = conn.execute(
        "SELECT count(*) FROM billing.billing_events WHERE account_id = %s AND event_type = 'balance.low'",
        (acct,),
    ).fetchone()
    assert n == (2,)
    assert_ledger_ok(conn)


def test_tenant_cannot_debit_another_account(db_url: str, conn: psycopg.Connection[Any]) -> None:
    mine = account(conn, "MINE", cycle="PREPAID", balance=Decimal("10"))
    other = account(conn, "OTHER", cycle="PREPAID", balance=Decimal("10"))
    with (
        psycopg.connect(db_url) as c,
        pytest.raises(psycopg.errors.InsufficientPrivilege),  # row-level security refuses
        tenant.transaction(c, tenant.Context(account_id=mine)),
    ):
        ledger.debit(c, other, Decimal("1"))
    assert balance(conn, other) == Decimal("10")
    assert_ledger_ok(conn)
