"""billing.apply_payment: FIFO, partial, overpayment, idempotent, own invoices only; refunds."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg
import pytest
from billing_helpers import STAFF, account, assert_ledger_ok, balance, cdrs

from warp.billing import invoices, payments
from warp.billing.errors import DuplicatePayment, InvalidBilling
from warp.db import tenant


def issued(conn: psycopg.Connection[Any], acct: UUID, month: int, amount: Decimal) -> UUID:
    """An issued invoice of ``amount`` (voice, no state so no tax... but USF applies: intrastate has none)."""
    start = date(2026, month, 1)
    end = date(2026, month, 28)
    cdrs(conn, acct, n=1, charge=amount, jurisdiction="INTRASTATE", day=f"2026-{month:02d}-05")
    with tenant.transaction(conn, STAFF):
        invoices.run(
            conn,
            period_start=start,
            period_end=end,
            account_id=acct,
            issue=True,
            issue_date=date(2026, month, 28),
        )
    row = conn.execute(
        "SELECT id, total FROM billing.invoices WHERE account_id = %s AND period_start = %s", (acct, start)
    ).fetchone()
    assert row is not None and row[1] == amount
    return UUID(str(row[0]))


def state(conn: psycopg.Connection[Any], inv: UUID) -> tuple[Any, ...]:
    row = conn.execute("SELECT status, paid_amount FROM billing.invoices WHERE id = %s", (inv,)).fetchone()
    assert row is not None
    return tuple(row)


def pay(conn: psycopg.Connection[Any], acct: UUID, amount: str, ref: str) -> tuple[UUID, list[Any]]:
    with tenant.transaction(conn, STAFF):
        return payments.record_payment(
            conn, account_id=acct, amount=Decimal(amount), method="ACH", external_reference=ref
        )


def test_fifo_partial_overpayment_and_idempotence(conn: psycopg.Connection[Any]) -> None:
    acct = account(conn, "PAYER", state=None)
    other = account(conn, "OTHERPAYER", state=None)
    sep = issued(conn, acct, 9, Decimal("30.00"))
    octo = issued(conn, acct, 10, Decimal("50.00"))
    other_inv = issued(conn, other, 9, Decimal("10.00"))
    assert balance(conn, acct) == Decimal("-80.00")

    pid, applied = pay(conn, acct, "45.00", "ach-1")  # pays September, part of October
    assert [(a.invoice_id, a.amount) for a in applied] == [(sep, Decimal("30.00")), (octo, Decimal("15.00"))]
    assert state(conn, sep) == ("PAID", Decimal("30.00"))
    assert state(conn, octo) == ("PARTIALLY_PAID", Decimal("15.00"))
    assert state(conn, other_inv) == ("ISSUED", Decimal("0.00"))  # never another account's invoice

    with tenant.transaction(conn, STAFF):
        assert payments.apply_payment(conn, pid) == []  # second call: nothing more
    assert balance(conn, acct) == Decimal("-35.00")

    pid2, applied = pay(conn, acct, "50.00", "ach-2")  # 35 to October, 15 becomes credit
    assert [(a.invoice_id, a.amount) for a in applied] == [(octo, Decimal("35.00")), (None, Decimal("15.00"))]
    assert state(conn, octo) == ("PAID", Decimal("50.00"))
    credit = conn.execute(
        "SELECT credit_type, amount, remaining_amount FROM billing.credits WHERE payment_id = %s", (pid2,)
    ).fetchone()
    assert credit == ("OVERPAYMENT", Decimal("15.00"), Decimal("15.00"))
    with tenant.transaction(conn, STAFF):
        assert payments.apply_payment(conn, pid2) == []
    assert balance(conn, acct) == Decimal("15.00")
    n = conn.execute(
        "SELECT count(*) FROM billing.balance_ledger WHERE source_type = 'PAYMENT' AND account_id = %s",
        (acct,),
    ).fetchone()
    assert n == (2,)
    assert_ledger_ok(conn)


def test_duplicate_reference_and_bad_amounts(conn: psycopg.Connection[Any]) -> None:
    acct = account(conn, "DUP", state=None)
    pay(conn, acct, "5", "ref-1")
    with pytest.raises(DuplicatePayment):
        pay(conn, acct, "5", "ref-1")
    with pytest.raises(InvalidBilling):
        pay(conn, acct, "0", "ref-2")
    assert_ledger_ok(conn)


def test_refund_takes_back_unused_credit_and_hits_the_ledger(conn: psycopg.Connection[Any]) -> None:
    acct = account(conn, "REFUND", state=None)
    pid, _ = pay(conn, acct, "40.00", "ref-r")  # no open invoice: all credit
    with tenant.transaction(conn, STAFF):
        assert payments.refund_payment(conn, pid, Decimal("25.00"), "customer asked") == Decimal("15.00")
        with pytest.raises(InvalidBilling):
            payments.refund_payment(conn, pid, Decimal("15.01"), "too much")
    row = conn.execute(
        "SELECT p.status, p.refunded_amount, c.remaining_amount FROM billing.payments p "
        "JOIN billing.credits c ON c.payment_id = p.id WHERE p.id = %s",
        (pid,),
    ).fetchone()
    assert row == ("PARTIALLY_REFUNDED", Decimal("25.00"), Decimal("15.00"))
    assert_ledger_ok(conn)


def test_credit_note_is_on_the_balance_and_the_next_invoice(conn: psycopg.Connection[Any]) -> None:
    acct = account(conn, "NOTE", state=None)
    inv = issued(conn, acct, 9, Decimal("20.00"))
    with tenant.transaction(conn, STAFF):
        payments.grant_credit(
            conn,
            account_id=acct,
            amount=Decimal("5"),
            reason="disputed minutes",
            credit_type="CREDIT_NOTE",
            invoice_id=inv,
        )
    assert balance(conn, acct) == Decimal("-15.00")
    conn.execute("UPDATE billing.credits SET issued_at = '2026-10-10' WHERE account_id = %s", (acct,))
    cdrs(conn, acct, n=1, charge=Decimal("8"), jurisdiction="INTRASTATE", day="2026-10-05")
    with tenant.transaction(conn, STAFF):
        invoices.run(
            conn,
            period_start=date(2026, 10, 1),
            period_end=date(2026, 10, 31),
            account_id=acct,
            issue=True,
            issue_date=date(2026, 11, 1),
        )
    row = conn.execute(
        "SELECT total FROM billing.invoices WHERE account_id = %s AND period_start = '2026-10-01'", (acct,)
    ).fetchone()
    assert row == (Decimal("3.00"),)  # 8.00 - 5.00 credit note
    assert balance(conn, acct) == Decimal("-23.00")  # owes 20 + 3
    assert_ledger_ok(conn)
