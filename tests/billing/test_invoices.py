"""Invoice runs: lines, proration, taxes, rounding, credits, idempotence, immutability, gapless numbers."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg
import pytest
from billing_helpers import STAFF, account, assert_ledger_ok, balance, cdrs, did, mdrs

from warp.billing import invoices, payments
from warp.db import tenant

NOV = (date(2026, 11, 1), date(2026, 11, 30))


def run(conn: psycopg.Connection[Any], acct: UUID | None = None, issue: bool = False) -> invoices.RunResult:
    with tenant.transaction(conn, STAFF):
        return invoices.run(
            conn,
            period_start=NOV[0],
            period_end=NOV[1],
            account_id=acct,
            issue=issue,
            issue_date=date(2026, 12, 1),
        )


def items(conn: psycopg.Connection[Any], acct: UUID) -> dict[str, tuple[Any, ...]]:
    rows = conn.execute(
        "SELECT it.item_type || ':' || it.category, it.quantity, it.amount FROM billing.invoice_items it "
        "JOIN billing.invoices i ON i.id = it.invoice_id WHERE i.account_id = %s",
        (acct,),
    ).fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def invoice(conn: psycopg.Connection[Any], acct: UUID) -> tuple[Any, ...]:
    row = conn.execute(
        "SELECT id, status, invoice_number, subtotal, tax_total, total FROM billing.invoices WHERE account_id = %s",
        (acct,),
    ).fetchone()
    assert row is not None
    return tuple(row)


def test_lines_taxes_rounding_and_totals(conn: psycopg.Connection[Any]) -> None:
    acct = account(conn, "INV1", state="CO")
    # 3 interstate calls of 0.333333 = 0.999999 -> 1.00 ; intrastate 2 x 0.125 = 0.25
    cdrs(conn, acct, n=3, charge=Decimal("0.333333"), jurisdiction="INTERSTATE")
    cdrs(conn, acct, n=2, charge=Decimal("0.125"), jurisdiction="INTRASTATE")
    cdrs(conn, acct, n=1, charge=Decimal("0.005"), jurisdiction="INTERNATIONAL")  # 0.005 -> 0.01 (half up)
    mdrs(conn, acct, n=10, charge=Decimal("0.004"), segments=2)  # 20 segments, 0.08
    did(conn, acct, "+13035550101", activated="2026-10-01T00:00:00Z", monthly=Decimal("1.00"))
    result = run(conn, acct)
    assert (result.created, result.invoices) == (1, 1)
    got = items(conn, acct)
    assert got["VOICE:VOICE_INTERSTATE"] == (Decimal("3.000000"), Decimal("1.00"))
    assert got["VOICE:VOICE_INTRASTATE"][1] == Decimal("0.25")
    assert got["VOICE:VOICE_INTERNATIONAL"][1] == Decimal("0.01")
    assert got["MESSAGING:SMS_OUTBOUND"] == (Decimal("20.000000"), Decimal("0.08"))
    assert got["DID_MONTHLY:DID"][1] == Decimal("1.00")
    # USF 34.5% of (1.00 + 0.01) = 0.34845 -> 0.35; regulatory 0.4% -> 0.00404 -> 0.00 (kept as a 0 line)
    assert got["TAX:USF"][1] == Decimal("0.35")
    # CO sales 2.9% of intrastate 0.25 + service (DID) 1.00 = 0.03625 -> 0.04
    assert got["TAX:SALES"][1] == Decimal("0.04")
    # CO E911 0.09 per DID
    assert got["TAX:E911"] == (Decimal("1.000000"), Decimal("0.09"))
    _, status, number, subtotal, tax, total = invoice(conn, acct)
    assert (status, number) == ("DRAFT", None)
    assert subtotal == Decimal("2.34") and tax == Decimal("0.48") and total == Decimal("2.82")
    line_sum = conn.execute(
        "SELECT sum(amount) FROM billing.invoice_items it JOIN billing.invoices i ON i.id = it.invoice_id "
        "WHERE i.account_id = %s",
        (acct,),
    ).fetchone()
    assert line_sum == (total,)  # total = sum of rounded lines
    inv_id = invoice(conn, acct)[0]
    assert conn.execute("SELECT * FROM billing.calculate_invoice_total(%s)", (inv_id,)).fetchone() == (
        Decimal("2.34"),
        Decimal("0.48"),
        Decimal("2.82"),
    )


def test_tax_exempt_account_pays_no_tax(conn: psycopg.Connection[Any]) -> None:
    acct = account(conn, "EXEMPT", state="NY", tax_exempt=True)
    cdrs(conn, acct, n=10, charge=Decimal("1"), jurisdiction="INTERSTATE")
    run(conn, acct)
    assert not [k for k in items(conn, acct) if k.startswith("TAX")]


def test_did_proration_by_days_active(conn: psycopg.Connection[Any]) -> None:
    acct = account(conn, "PRORATE", state=None)
    did(conn, acct, "+13035550201", activated="2026-11-16T10:00:00Z", monthly=Decimal("3.00"))  # 15 days
    did(
        conn,
        acct,
        "+13035550202",
        activated="2026-10-01T00:00:00Z",
        disconnected="2026-11-11T00:00:00Z",
        monthly=Decimal("3.00"),
    )  # 10 days
    did(
        conn,
        acct,
        "+18005550203",
        activated="2026-11-01T00:00:00Z",
        monthly=Decimal("2.00"),
        number_type="TOLL_FREE",
    )
    did(
        conn,
        acct,
        "+13035550204",
        activated="2026-11-20T00:00:00Z",
        monthly=Decimal("1.00"),
        setup=Decimal("5"),
    )
    run(conn, acct)
    got = items(conn, acct)
    # 3.00 * 15/30 + 3.00 * 10/30 + 1.00 * 11/30 = 1.50 + 1.00 + 0.366667 -> 2.87
    assert got["DID_MONTHLY:DID"][1] == Decimal("2.87")
    assert got["DID_MONTHLY:TOLL_FREE"] == (Decimal("1.000000"), Decimal("2.00"))
    assert got["SETUP:DID"] == (Decimal("1.000000"), Decimal("5.00"))
    usage = conn.execute(
        "SELECT quantity, event_count FROM billing.usage_summary WHERE account_id = %s AND usage_type = 'DID' "
        "AND category = 'DID'",
        (acct,),
    ).fetchone()
    assert usage == (Decimal("36.000000"), 3)  # number-days


def test_rerun_does_not_duplicate_and_regenerates_drafts(conn: psycopg.Connection[Any]) -> None:
    acct = account(conn, "RERUN", state=None)
    cdrs(conn, acct, n=2, charge=Decimal("1"))
    first = run(conn)
    inv_id = invoice(conn, acct)[0]
    cdrs(conn, acct, n=3, charge=Decimal("1"), day="2026-11-20")
    second = run(conn)
    assert second.created == 0 and second.regenerated >= 1
    rows = conn.execute("SELECT id, total FROM billing.invoices WHERE account_id = %s", (acct,)).fetchall()
    assert rows == [(inv_id, Decimal("6.75"))]  # 5.00 + USF 1.725 -> 1.73 + regulatory 0.02
    assert first.created >= 1


def test_issued_invoice_is_immutable_and_rerun_leaves_it(conn: psycopg.Connection[Any]) -> None:
    acct = account(conn, "IMMUT", state=None)
    cdrs(conn, acct, n=2, charge=Decimal("1"))
    run(conn, acct, issue=True)
    inv_id, status, number, _, _, total = invoice(conn, acct)
    assert status == "ISSUED" and number.startswith("2026-")
    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute("UPDATE billing.invoices SET total = total + 1 WHERE id = %s", (inv_id,))
    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute("UPDATE billing.invoices SET status = 'DRAFT' WHERE id = %s", (inv_id,))
    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute("DELETE FROM billing.invoices WHERE id = %s", (inv_id,))
    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute("UPDATE billing.invoice_items SET amount = 0 WHERE invoice_id = %s", (inv_id,))
    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute("DELETE FROM billing.invoice_items WHERE invoice_id = %s", (inv_id,))
    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(
            "INSERT INTO billing.invoice_items (invoice_id, account_id, item_type, description, amount) "
            "VALUES (%s, %s, 'OTHER', 'sneaky', 1)",
            (inv_id, acct),
        )
    cdrs(conn, acct, n=5, charge=Decimal("1"), day="2026-11-21")
    again = run(conn, acct, issue=True)
    assert again.skipped_issued == 1 and again.invoices == 0
    assert invoice(conn, acct) == (inv_id, "ISSUED", number, Decimal("2.00"), invoice(conn, acct)[4], total)
    # the ledger was charged once, for the total
    assert balance(conn, acct) == -total
    assert_ledger_ok(conn)


def test_invoice_numbers_are_gapless_per_year(conn: psycopg.Connection[Any]) -> None:
    accts = [account(conn, f"GAP{i}", state=None) for i in range(5)]
    for a in accts:
        cdrs(conn, a, n=1, charge=Decimal("2"))
    with tenant.transaction(conn, STAFF):
        invoices.run(conn, period_start=NOV[0], period_end=NOV[1])
    ids = [invoice(conn, a)[0] for a in accts]
    # a failed issue rolls its numbers back
    with pytest.raises(RuntimeError), tenant.transaction(conn, STAFF):
        invoices.issue_invoices(conn, ids[:2], issue_date=date(2026, 12, 1))
        raise RuntimeError("abort")
    with tenant.transaction(conn, STAFF):
        invoices.issue_invoices(conn, ids[:2], issue_date=date(2026, 12, 1))
        invoices.issue_invoices(conn, ids[2:], issue_date=date(2026, 12, 1))
    numbers = sorted(invoice(conn, a)[2] for a in accts)
    assert numbers == [f"2026-{n:06d}" for n in range(1, 6)]
    with tenant.transaction(conn, STAFF):
        assert invoices.issue_invoices(conn, ids) == []  # already issued: nothing
    assert conn.execute(
        "SELECT last_issued FROM billing.invoice_number_counters WHERE year = 2026"
    ).fetchone() == (5,)


def test_credits_appear_once_and_ledger_stays_consistent(conn: psycopg.Connection[Any]) -> None:
    acct = account(conn, "CRED", state=None)
    cdrs(conn, acct, n=10, charge=Decimal("1"), jurisdiction="INTRASTATE")  # 10.00, no tax without a state
    with tenant.transaction(conn, STAFF):
        payments.grant_credit(conn, account_id=acct, amount=Decimal("4"), reason="outage")
    with tenant.transaction(conn, STAFF):  # later: consumed second
        payments.grant_credit(conn, account_id=acct, amount=Decimal("20"), reason="goodwill")
    run(conn, acct, issue=True)
    _, status, _, _subtotal, _, total = invoice(conn, acct)
    assert total == Decimal("0.00") and status == "PAID"
    left = conn.execute(
        "SELECT reason, remaining_amount, status FROM billing.credits WHERE account_id = %s ORDER BY reason",
        (acct,),
    ).fetchall()
    assert left == [("goodwill", Decimal("14.00"), "OPEN"), ("outage", Decimal("0.00"), "APPLIED")]
    assert balance(conn, acct) == Decimal("14.00")  # 24 credit - 10 usage
    assert_ledger_ok(conn)


def test_prepaid_usage_is_not_charged_twice(conn: psycopg.Connection[Any]) -> None:
    acct = account(conn, "PREINV", cycle="PREPAID", balance=Decimal("50"), state=None)
    # the prepaid debits already happened at rating/send time
    cdrs(conn, acct, n=4, charge=Decimal("1"))
    conn.execute("SELECT billing.post_entry(%s, 'CHARGE', -4, 'CDR', NULL, 'calls')", (acct,))
    did(conn, acct, "+13035550301", activated="2026-10-01T00:00:00Z", monthly=Decimal("2.00"))
    run(conn, acct, issue=True)
    _, status, _, _, _tax, total = invoice(conn, acct)
    assert status == "PAID"
    # the invoice charges only what was not debited in real time: the DIDs and the taxes
    assert balance(conn, acct) == Decimal("50") - Decimal("4") - (total - Decimal("4"))
    assert_ledger_ok(conn)


def test_a_large_run_refreshes_the_statistics_of_what_it_wrote(
    conn: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(invoices, "ANALYZE_FROM", 2)  # as if the run were large
    accts = [account(conn, f"STATS{i}", state=None) for i in range(3)]
    for a in accts:
        cdrs(conn, a, n=2, charge=Decimal("1"))
    conn.execute("ANALYZE billing.invoice_items")  # statistics of an empty table, as before a first run
    assert conn.execute(
        "SELECT reltuples FROM pg_class WHERE oid = 'billing.invoice_items'::regclass"
    ).fetchone() == (0,)
    result = run(conn)  # staff (not the owner): ANALYZE goes through the SECURITY DEFINER function
    assert "analyze" in result.steps and result.invoices == 3
    assert conn.execute(
        "SELECT reltuples FROM pg_class WHERE oid = 'billing.invoice_items'::regclass"
    ).fetchone() == (3,)


def test_items_guard_is_per_statement_and_still_refuses_issued_invoices(
    conn: psycopg.Connection[Any],
) -> None:
    acct = account(conn, "STMT", state=None)
    cdrs(conn, acct, n=1, charge=Decimal("1"))
    run(conn, acct, issue=True)
    inv_id = invoice(conn, acct)[0]
    item = conn.execute("SELECT id FROM billing.invoice_items WHERE invoice_id = %s", (inv_id,)).fetchone()
    assert item is not None
    count = "SELECT count(*) FROM billing.invoice_items WHERE invoice_id = %s"
    before = conn.execute(count, (inv_id,)).fetchone()
    # re-inserting an existing line with ON CONFLICT DO NOTHING adds nothing, so it is not refused
    conn.execute(
        "INSERT INTO billing.invoice_items (id, invoice_id, account_id, item_type, description, amount) "
        "VALUES (%s, %s, %s, 'OTHER', 'same id', 1) ON CONFLICT (id) DO NOTHING",
        (item[0], inv_id, acct),
    )
    with pytest.raises(psycopg.errors.CheckViolation, match="items are immutable"):
        conn.execute(
            "INSERT INTO billing.invoice_items (invoice_id, account_id, item_type, description, amount) "
            "SELECT %s, %s, 'OTHER', 'bulk ' || g, 1 FROM generate_series(1, 3) g",
            (inv_id, acct),
        )
    assert conn.execute(count, (inv_id,)).fetchone() == before


def test_a_rerun_writes_only_the_lines_that_change(conn: psycopg.Connection[Any]) -> None:
    acct = account(conn, "DIFF", state="CO")
    cdrs(conn, acct, n=2, charge=Decimal("1"), jurisdiction="INTERSTATE")  # voice + USF + FCC fee
    mdrs(conn, acct, n=3, charge=Decimal("0.01"))
    did(conn, acct, "+13035550177", activated="2026-10-01 00:00+00")
    run(conn)
    lines = "SELECT id, item_type, amount FROM billing.invoice_items ORDER BY item_type, category"
    first = conn.execute(lines).fetchall()
    writes = "SELECT count(*) FROM audit.audit_log WHERE table_name = 'invoice_items'"
    before = conn.execute(writes).fetchone()

    again = run(conn)  # same usage: the same lines stay (same ids), nothing written
    assert again.regenerated == 1
    assert conn.execute(lines).fetchall() == first
    assert conn.execute(writes).fetchone() == before

    cdrs(conn, acct, n=1, charge=Decimal("1"), jurisdiction="INTERSTATE", day="2026-11-20")
    run(conn)
    after = {r[1]: r for r in conn.execute(lines).fetchall()}
    kept = {r[1]: r for r in first}
    assert after["MESSAGING"] == kept["MESSAGING"] and after["DID_MONTHLY"] == kept["DID_MONTHLY"]
    assert after["VOICE"][0] != kept["VOICE"][0] and after["VOICE"][2] == Decimal("3.00")
    # the interstate voice line and the taxes on it changed; the total is still the sum of the lines
    total = conn.execute("SELECT total FROM billing.invoices WHERE account_id = %s", (acct,)).fetchone()
    assert total == conn.execute("SELECT sum(amount) FROM billing.invoice_items").fetchone()


def test_invoice_lines_are_audited_once_per_invoice_and_statement(conn: psycopg.Connection[Any]) -> None:
    acct = account(conn, "AUDITED", state=None)
    cdrs(conn, acct, n=2, charge=Decimal("1"), jurisdiction="INTRASTATE")
    mdrs(conn, acct, n=2, charge=Decimal("0.01"))
    run(conn)
    inv_id = invoice(conn, acct)[0]
    trail = (
        "SELECT action, old_row, new_row, account_id, actor_type FROM audit.audit_log "
        "WHERE table_name = 'invoice_items' AND record_id = %s ORDER BY created_at, action"
    )
    rows = conn.execute(trail, (str(inv_id),)).fetchall()
    assert [(r[0], r[3], r[4]) for r in rows] == [("INSERT", acct, "STAFF")]
    lines = rows[0][2]["lines"]
    assert sorted((line["item_type"], line["amount"]) for line in lines) == [
        ("MESSAGING", 0.02),
        ("VOICE", 2.0),
    ]

    cdrs(conn, acct, n=1, charge=Decimal("1"), jurisdiction="INTRASTATE", day="2026-11-21")
    run(conn)  # the voice line changes: its old version deleted, the new one inserted, both recorded whole
    rows = conn.execute(trail, (str(inv_id),)).fetchall()
    assert [r[0] for r in rows] == ["INSERT", "DELETE", "INSERT"]
    assert [line["amount"] for line in rows[1][1]["lines"]] == [2.0]
    assert [line["amount"] for line in rows[2][2]["lines"]] == [3.0]
    conn.execute("UPDATE billing.invoice_items SET description = 'renamed' WHERE invoice_id = %s", (inv_id,))
    update = conn.execute(
        "SELECT action, old_row, new_row FROM audit.audit_log WHERE table_name = 'invoice_items' "
        "AND record_id = %s ORDER BY created_at DESC LIMIT 1",
        (str(inv_id),),
    ).fetchone()
    assert update is not None and update[0] == "UPDATE"
    assert {line["description"] for line in update[2]["lines"]} == {"renamed"}
    assert len(update[1]["lines"]) == 2
