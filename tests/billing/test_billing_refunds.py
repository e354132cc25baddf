"""Refunds re-open the invoices the payment paid (newest first) with the balance right; `warp payments`."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg
import pytest
from billing_helpers import STAFF, account, assert_ledger_ok, balance, cdrs
from test_payments import issued, pay, state
from typer.testing import CliRunner

from warp.billing import invoices, payments
from warp.billing.errors import InvalidBilling
from warp.cli.main import app
from warp.db import tenant


def open_due(conn: psycopg.Connection[Any], acct: UUID) -> Decimal:
    row = conn.execute(
        "SELECT coalesce(sum(total - paid_amount), 0) FROM billing.invoices WHERE account_id = %s "
        "AND status IN ('ISSUED', 'PARTIALLY_PAID')",
        (acct,),
    ).fetchone()
    assert row is not None
    return Decimal(row[0])


def test_refund_reopens_paid_invoices_newest_first(conn: psycopg.Connection[Any]) -> None:
    acct = account(conn, "REOPEN", state=None)
    sep = issued(conn, acct, 9, Decimal("30.00"))
    octo = issued(conn, acct, 10, Decimal("50.00"))
    pid, _ = pay(conn, acct, "45.00", "ach-r1")  # September paid, October 15 of 50
    assert state(conn, sep) == ("PAID", Decimal("30.00"))

    with tenant.transaction(conn, STAFF):
        after = payments.refund_payment(conn, pid, Decimal("30.00"), "chargeback")
    # October's 15 comes back first (newest), then 15 of September's 30: both open again
    assert state(conn, octo) == ("ISSUED", Decimal("0.00"))
    assert state(conn, sep) == ("PARTIALLY_PAID", Decimal("15.00"))
    assert conn.execute("SELECT paid_at FROM billing.invoices WHERE id = %s", (sep,)).fetchone() == (None,)
    assert after == balance(conn, acct) == Decimal("-65.00")
    assert open_due(conn, acct) == Decimal("65.00")  # the balance owed = what the open invoices still ask
    apps = conn.execute(
        "SELECT invoice_id, amount, refunded_amount FROM billing.payment_applications WHERE payment_id = %s "
        "ORDER BY amount DESC",
        (pid,),
    ).fetchall()
    assert apps == [(sep, Decimal("30.00"), Decimal("15.00")), (octo, Decimal("15.00"), Decimal("15.00"))]
    pay_row = conn.execute(
        "SELECT status, refunded_amount FROM billing.payments WHERE id = %s", (pid,)
    ).fetchone()
    assert pay_row == ("PARTIALLY_REFUNDED", Decimal("30.00"))
    event = conn.execute(
        "SELECT payload FROM billing.billing_events WHERE event_type = 'payment.refunded' AND account_id = %s",
        (acct,),
    ).fetchone()
    assert event is not None
    assert [(r["invoice_id"], r["amount"]) for r in event[0]["reopened_invoices"]] == [
        (str(octo), "15.00"),
        (str(sep), "15.00"),
    ]

    with tenant.transaction(conn, STAFF):
        assert payments.apply_payment(conn, pid) == []  # re-applying a refunded payment does nothing
    _, applied = pay(conn, acct, "65.00", "ach-r2")  # FIFO again: September's 15, then October's 50
    assert [(a.invoice_id, a.amount) for a in applied] == [(sep, Decimal("15.00")), (octo, Decimal("50.00"))]
    assert state(conn, sep) == ("PAID", Decimal("30.00")) and state(conn, octo) == ("PAID", Decimal("50.00"))
    assert balance(conn, acct) == Decimal("0.00")

    with tenant.transaction(conn, STAFF):  # the rest of the first payment: September open for 15 again
        payments.refund_payment(conn, pid, Decimal("15.00"), "rest")
    assert state(conn, sep) == ("PARTIALLY_PAID", Decimal("15.00"))
    assert conn.execute("SELECT status FROM billing.payments WHERE id = %s", (pid,)).fetchone() == (
        "REFUNDED",
    )
    assert balance(conn, acct) == -open_due(conn, acct) == Decimal("-15.00")
    assert_ledger_ok(conn)


def test_credit_already_spent_on_an_invoice_cannot_be_refunded(conn: psycopg.Connection[Any]) -> None:
    acct = account(conn, "SPENT", state=None)
    pid, applied = pay(conn, acct, "50.00", "ach-s1")  # nothing open: 50 becomes credit
    assert [(a.invoice_id, a.amount) for a in applied] == [(None, Decimal("50.00"))]
    conn.execute("UPDATE billing.credits SET issued_at = '2026-10-02' WHERE payment_id = %s", (pid,))
    cdrs(conn, acct, n=1, charge=Decimal("20.00"), jurisdiction="INTRASTATE", day="2026-10-05")
    with tenant.transaction(conn, STAFF):  # October's 20 is paid by 20 of that credit
        invoices.run(
            conn,
            period_start=date(2026, 10, 1),
            period_end=date(2026, 10, 31),
            account_id=acct,
            issue=True,
            issue_date=date(2026, 11, 1),
        )
    with (
        pytest.raises(InvalidBilling, match=r"at most 30\.00 of payment ach-s1"),
        tenant.transaction(conn, STAFF),
    ):
        payments.refund_payment(conn, pid, Decimal("40.00"), "too much")
    with tenant.transaction(conn, STAFF):
        assert payments.refund_payment(conn, pid, Decimal("30.00"), "what is left") == Decimal("0.00")
    assert conn.execute(
        "SELECT status, remaining_amount FROM billing.credits WHERE payment_id = %s", (pid,)
    ).fetchone() == ("VOID", Decimal("0.00"))
    assert_ledger_ok(conn)


def test_prepaid_refund_comes_off_the_balance(conn: psycopg.Connection[Any]) -> None:
    acct = account(conn, "PRE-REF", cycle="PREPAID", state=None)
    pid, applied = pay(conn, acct, "50.00", "card-p1")
    assert applied == []  # prepaid: funds stay on the balance
    with tenant.transaction(conn, STAFF):
        assert payments.refund_payment(conn, pid, Decimal("50.00"), "closing") == Decimal("0.00")
    assert_ledger_ok(conn)


def test_payments_cli_record_list_show_refund(
    seeded_url: str, conn: psycopg.Connection[Any], monkeypatch: Any
) -> None:
    monkeypatch.setenv("WARP_DATABASE_URL", seeded_url)
    acct = account(conn, "CLI-PAY", state=None)
    inv = issued(conn, acct, 9, Decimal("30.00"))
    run = CliRunner()

    out = run.invoke(
        app,
        [
            "payments",
            "record",
            "--account",
            "CLI-PAY",
            "--amount",
            "30.00",
            "--method",
            "ach",
            "--reference",
            "w-1",
        ],
    )
    assert out.exit_code == 0, out.output
    assert "30.00" in out.stdout
    assert state(conn, inv) == ("PAID", Decimal("30.00"))

    listed = run.invoke(app, ["payments", "list", "--account", "CLI-PAY", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert [(r["ban"], r["amount"], r["applied"], r["status"]) for r in rows] == [
        ("CLI-PAY", "30.00", "30.00", "COMPLETED")
    ]
    pid = rows[0]["id"]

    refunded = run.invoke(app, ["payments", "refund", pid, "--amount", "10", "--reason", "dispute", "--json"])
    assert refunded.exit_code == 0, refunded.output
    data = json.loads(refunded.stdout)
    assert Decimal(data["balance_after"]) == Decimal("-10.00")
    assert [(a["invoice_status"], a["invoice_paid_amount"]) for a in data["payment"]["applications"]] == [
        ("PARTIALLY_PAID", "20.00")
    ]
    assert state(conn, inv) == ("PARTIALLY_PAID", Decimal("20.00"))

    shown = run.invoke(app, ["payments", "show", pid])
    assert shown.exit_code == 0 and "PARTIALLY_REFUNDED" in shown.stdout

    too_much = run.invoke(app, ["payments", "refund", pid, "--amount", "25", "--reason", "x"])
    assert isinstance(too_much.exception, InvalidBilling) and "unrefunded" in too_much.exception.message
    bad = run.invoke(
        app, ["payments", "record", "--account", "CLI-PAY", "--amount", "1.234", "--method", "ACH"]
    )
    assert isinstance(bad.exception, InvalidBilling) and "amount" in bad.exception.message
    unknown = run.invoke(app, ["payments", "record", "--account", "NOPE", "--amount", "1", "--method", "ACH"])
    assert unknown.exception is not None and "NOPE" in str(unknown.exception)
    assert_ledger_ok(conn)
