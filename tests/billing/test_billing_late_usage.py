"""Late usage: CDRs/MDRs of a period rated or charged after that period's invoice was built are billed once,
on the account's next invoice, as their own lines (with the period they belong to), taxed like normal usage."""

from __future__ import annotations

import calendar
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from uuid import UUID

import psycopg
import pytest
from billing_helpers import STAFF, account, assert_ledger_ok, balance, cdrs, mdrs

from warp.billing import invoices
from warp.db import tenant

CENT = Decimal("0.01")


def month(text: str) -> tuple[date, date]:
    year, mon = (int(x) for x in text.split("-"))
    return date(year, mon, 1), date(year, mon, calendar.monthrange(year, mon)[1])


def run(
    conn: psycopg.Connection[Any], period: str, acct: UUID | None = None, *, issue: bool = True
) -> invoices.RunResult:
    start, end = month(period)
    issue_day = date(end.year + end.month // 12, end.month % 12 + 1, 1)
    with tenant.transaction(conn, STAFF):
        return invoices.run(
            conn, period_start=start, period_end=end, account_id=acct, issue=issue, issue_date=issue_day
        )


def lines(conn: psycopg.Connection[Any], acct: UUID, period: str) -> dict[str, tuple[Any, ...]]:
    """'TYPE:category@line period' -> (quantity, amount, description) of the account's invoice of ``period``."""
    rows = conn.execute(
        "SELECT it.item_type || ':' || it.category || '@' || to_char(it.period_start, 'YYYY-MM'), it.quantity, "
        "it.amount, it.description FROM billing.invoice_items it JOIN billing.invoices i ON i.id = it.invoice_id "
        "WHERE i.account_id = %s AND i.period_start = %s",
        (acct, month(period)[0]),
    ).fetchall()
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def late_lines(conn: psycopg.Connection[Any], acct: UUID, period: str) -> dict[str, tuple[Any, ...]]:
    start = month(period)[0].strftime("%Y-%m")
    return {k: v for k, v in lines(conn, acct, period).items() if not k.endswith("@" + start)}


def invoice(conn: psycopg.Connection[Any], acct: UUID, period: str) -> tuple[Any, ...] | None:
    row = conn.execute(
        "SELECT status, subtotal, tax_total, total FROM billing.invoices WHERE account_id = %s AND period_start = %s",
        (acct, month(period)[0]),
    ).fetchone()
    return None if row is None else tuple(row)


def invoice_id(conn: psycopg.Connection[Any], acct: UUID, period: str) -> UUID:
    row = conn.execute(
        "SELECT id FROM billing.invoices WHERE account_id = %s AND period_start = %s",
        (acct, month(period)[0]),
    ).fetchone()
    assert row is not None
    return UUID(str(row[0]))


def october_draft(conn: psycopg.Connection[Any], ban: str) -> UUID:
    """An account with a 1.00 call in October, whose October invoice is a DRAFT."""
    acct = account(conn, ban, state="CO")
    cdrs(conn, acct, n=1, charge=Decimal("1.00"), day="2026-10-05")
    run(conn, "2026-10", issue=False)
    return acct


def tax_rate(conn: psycopg.Connection[Any], category: str, code: str = "US") -> Decimal:
    row = conn.execute(
        "SELECT rate FROM billing.tax_rates WHERE tax_category = %s AND jurisdiction_code = %s",
        (category, code),
    ).fetchone()
    assert row is not None
    return Decimal(row[0])


def tax(base: Decimal, rate: Decimal) -> Decimal:
    return (base * rate).quantize(CENT, rounding=ROUND_HALF_UP)


def test_late_cdr_and_mdr_are_billed_once_on_the_next_invoice(conn: psycopg.Connection[Any]) -> None:
    acct = account(conn, "LATE1", state="CO")
    cdrs(conn, acct, n=2, charge=Decimal("0.50"), day="2026-10-10")
    run(conn, "2026-10")
    october = invoice(conn, acct, "2026-10")
    assert october is not None and october[0] == "ISSUED" and october[1] == Decimal("1.00")

    # Rated / charged after October's invoice was issued.
    cdrs(conn, acct, n=3, charge=Decimal("0.40"), day="2026-10-20")  # 1.20 interstate
    mdrs(conn, acct, n=5, charge=Decimal("0.01"), day="2026-10-21")  # 0.05
    cdrs(conn, acct, n=1, charge=Decimal("0.25"), day="2026-11-10")
    run(conn, "2026-11")

    assert invoice(conn, acct, "2026-10") == october  # the issued invoice is untouched
    got = lines(conn, acct, "2026-11")
    assert got["VOICE:VOICE_INTERSTATE@2026-11"][:2] == (Decimal("1.000000"), Decimal("0.25"))
    late_voice = got["VOICE:VOICE_INTERSTATE@2026-10"]
    assert late_voice[:2] == (Decimal("3.000000"), Decimal("1.20"))
    assert late_voice[2] == "Late usage of 2026-10: Interstate voice (3 calls)"
    late_sms = got["MESSAGING:SMS_OUTBOUND@2026-10"]
    assert late_sms[:2] == (Decimal("5.000000"), Decimal("0.05"))
    assert late_sms[2] == "Late usage of 2026-10: SMS outbound (5 messages)"
    # Taxed like normal usage: USF and the regulatory fee on interstate voice, this and last month's.
    assert got["TAX:USF@2026-11"][1] == tax(Decimal("1.45"), tax_rate(conn, "USF"))
    assert got["TAX:REGULATORY@2026-11"][1] == tax(Decimal("1.45"), tax_rate(conn, "REGULATORY"))
    status, subtotal, tax_total, total = invoice(conn, acct, "2026-11") or ()
    assert status == "ISSUED" and subtotal == Decimal("1.50") and total == subtotal + tax_total

    # December: nothing late any more, so no late line (billed exactly once).
    cdrs(conn, acct, n=1, charge=Decimal("0.10"), day="2026-12-03")
    run(conn, "2026-12")
    assert late_lines(conn, acct, "2026-12") == {}
    billed = conn.execute(
        "SELECT sum(total), sum(subtotal) FROM billing.invoices WHERE account_id = %s", (acct,)
    ).fetchone()
    assert billed is not None and billed[1] == Decimal("1.00") + Decimal("1.50") + Decimal("0.10")
    # The postpaid ledger charged each invoice once.
    assert balance(conn, acct) == -billed[0]
    assert_ledger_ok(conn)


def test_late_usage_alone_makes_an_invoice_and_one_account_runs(conn: psycopg.Connection[Any]) -> None:
    acct = account(conn, "LATE2", state="CO")
    other = account(conn, "LATE3", state="CO")
    cdrs(conn, acct, n=1, charge=Decimal("1.00"), day="2026-10-10")
    cdrs(conn, other, n=1, charge=Decimal("1.00"), day="2026-10-10")
    run(conn, "2026-10")
    cdrs(conn, acct, n=2, charge=Decimal("0.30"), jurisdiction="INTRASTATE", day="2026-10-31")
    cdrs(conn, other, n=1, charge=Decimal("0.70"), day="2026-10-31")
    result = run(conn, "2026-11", acct)  # --account: only this one
    assert result.invoices == 1
    got = lines(conn, acct, "2026-11")
    assert got["VOICE:VOICE_INTRASTATE@2026-10"][:2] == (Decimal("2.000000"), Decimal("0.60"))
    # Colorado sales tax applies to intrastate voice, late or not.
    assert got["TAX:SALES@2026-11"][1] == tax(Decimal("0.60"), tax_rate(conn, "SALES", "US-CO"))
    assert invoice(conn, other, "2026-11") is None
    run(conn, "2026-11")  # the whole run then bills the other account's late call, and acct's not again
    assert late_lines(conn, other, "2026-11")["VOICE:VOICE_INTERSTATE@2026-10"][1] == Decimal("0.70")
    assert late_lines(conn, acct, "2026-11") == {
        "VOICE:VOICE_INTRASTATE@2026-10": got["VOICE:VOICE_INTRASTATE@2026-10"]
    }
    assert_ledger_ok(conn)


def late_call_after_october(conn: psycopg.Connection[Any], ban: str) -> UUID:
    """An account whose October (1.00) is invoiced, then a late October call of 0.30 and November usage of 2.00."""
    acct = account(conn, ban, state="CO")
    cdrs(conn, acct, n=1, charge=Decimal("1.00"), day="2026-10-05")
    run(conn, "2026-10")
    cdrs(conn, acct, n=1, charge=Decimal("0.30"), day="2026-10-06")
    cdrs(conn, acct, n=1, charge=Decimal("2.00"), day="2026-11-06")
    return acct


def test_regenerated_drafts_neither_double_count_nor_lose_late_usage(conn: psycopg.Connection[Any]) -> None:
    acct = late_call_after_october(conn, "LATE4")
    run(conn, "2026-11", issue=False)
    assert late_lines(conn, acct, "2026-11")["VOICE:VOICE_INTERSTATE@2026-10"][1] == Decimal("0.30")
    run(conn, "2026-11", issue=False)  # regenerated: the same late line, once
    assert late_lines(conn, acct, "2026-11")["VOICE:VOICE_INTERSTATE@2026-10"][1] == Decimal("0.30")
    cdrs(conn, acct, n=1, charge=Decimal("0.20"), day="2026-10-07")  # arrives between two runs of the draft
    run(conn, "2026-11")  # regenerated again and issued: picks the new one up
    assert late_lines(conn, acct, "2026-11") == {
        "VOICE:VOICE_INTERSTATE@2026-10": (
            Decimal("2.000000"),
            Decimal("0.50"),
            "Late usage of 2026-10: Interstate voice (2 calls)",
        )
    }
    status, subtotal, _, _ = invoice(conn, acct, "2026-11") or ()
    assert (status, subtotal) == ("ISSUED", Decimal("2.50"))
    cdrs(conn, acct, n=1, charge=Decimal("0.10"), day="2026-12-06")
    run(conn, "2026-12")
    assert late_lines(conn, acct, "2026-12") == {}
    assert_ledger_ok(conn)


def test_usage_of_a_draft_period_is_picked_up_by_regenerating_that_draft(
    conn: psycopg.Connection[Any],
) -> None:
    acct = october_draft(conn, "LATE5")
    cdrs(conn, acct, n=1, charge=Decimal("0.40"), day="2026-10-25")  # October is still a draft
    cdrs(conn, acct, n=1, charge=Decimal("2.00"), day="2026-11-06")
    run(conn, "2026-11")
    assert late_lines(conn, acct, "2026-11") == {}  # not late: its own draft bills it
    run(conn, "2026-10")
    assert lines(conn, acct, "2026-10")["VOICE:VOICE_INTERSTATE@2026-10"][:2] == (
        Decimal("2.000000"),
        Decimal("1.40"),
    )
    cdrs(conn, acct, n=1, charge=Decimal("0.05"), day="2026-10-28")  # October is issued now: late
    cdrs(conn, acct, n=1, charge=Decimal("0.10"), day="2026-12-06")
    run(conn, "2026-12")
    # Only the call rated after October was issued; the one its regenerated draft billed is not billed again.
    assert late_lines(conn, acct, "2026-12") == {
        "VOICE:VOICE_INTERSTATE@2026-10": (
            Decimal("1.000000"),
            Decimal("0.05"),
            "Late usage of 2026-10: Interstate voice (1 calls)",
        )
    }
    assert_ledger_ok(conn)


def test_prepaid_late_usage_is_shown_but_not_charged_twice(conn: psycopg.Connection[Any]) -> None:
    acct = account(conn, "LATE6", cycle="PREPAID", balance=Decimal("100"), state="CO")

    def rated(n: int, charge: Decimal, day: str) -> None:
        # As rating does: the CDRs and, in the same transaction, the prepaid debit.
        with conn.transaction():
            cdrs(conn, acct, n=n, charge=charge, day=day)
            conn.execute("SELECT billing.debit(%s, %s, 'CDR', NULL, 'call')", (acct, charge * n))

    rated(1, Decimal("1.00"), "2026-10-05")
    run(conn, "2026-10")
    october = invoice(conn, acct, "2026-10")
    assert october is not None and october[0] == "PAID"
    rated(2, Decimal("0.50"), "2026-10-20")
    rated(1, Decimal("2.00"), "2026-11-05")
    run(conn, "2026-11")
    status, subtotal, tax_total, _ = invoice(conn, acct, "2026-11") or ()
    assert status == "PAID" and subtotal == Decimal("3.00")
    assert late_lines(conn, acct, "2026-11")["VOICE:VOICE_INTERSTATE@2026-10"][1] == Decimal("1.00")
    # Usage was debited once when rated; the invoices charged only their taxes.
    assert balance(conn, acct) == Decimal("100") - Decimal("4.00") - october[2] - tax_total
    invoice_charges = conn.execute(
        "SELECT -sum(amount) FROM billing.balance_ledger WHERE account_id = %s AND source_type = 'INVOICE'",
        (acct,),
    ).fetchone()
    assert invoice_charges == (october[2] + tax_total,)
    assert_ledger_ok(conn)


def test_usage_rated_during_a_run_is_on_that_invoice_or_the_next_never_lost(
    conn: psycopg.Connection[Any], seeded_url: str
) -> None:
    acct = account(conn, "LATE7", state="CO")
    cdrs(conn, acct, n=1, charge=Decimal("1.00"), day="2026-10-05")
    with psycopg.connect(seeded_url) as rater:
        # A rating transaction that started (rated_at = now()) before the run and commits after it.
        cdrs(rater, acct, n=1, charge=Decimal("0.70"), day="2026-10-30")
        run(conn, "2026-10")
        rater.commit()
    october = lines(conn, acct, "2026-10")
    assert october["VOICE:VOICE_INTERSTATE@2026-10"][1] == Decimal("1.00")
    cdrs(conn, acct, n=1, charge=Decimal("2.00"), day="2026-11-05")
    run(conn, "2026-11")
    assert late_lines(conn, acct, "2026-11")["VOICE:VOICE_INTERSTATE@2026-10"][1] == Decimal("0.70")
    total_billed = conn.execute(
        "SELECT sum(it.amount) FROM billing.invoice_items it WHERE it.account_id = %s AND it.item_type = 'VOICE'",
        (acct,),
    ).fetchone()
    assert total_billed == (Decimal("3.70"),)
    assert_ledger_ok(conn)


def test_mdr_charged_after_the_invoice_is_late_usage(conn: psycopg.Connection[Any]) -> None:
    acct = account(conn, "LATE8", state="CO")
    mdrs(conn, acct, n=2, charge=Decimal("0.01"), day="2026-10-05")
    conn.execute(
        "INSERT INTO messaging.mdr (created_at, account_id, direction, message_type, from_number, to_number, "
        "segments, status) VALUES ('2026-10-06 10:00:00+00', %s, 'OUTBOUND', 'MMS', '+13035550100', "
        "'+12125550100', 1, 'SENT')",
        (acct,),
    )
    run(conn, "2026-10")
    assert set(lines(conn, acct, "2026-10")) >= {"MESSAGING:SMS_OUTBOUND@2026-10"}
    assert "MESSAGING:MMS_OUTBOUND@2026-10" not in lines(conn, acct, "2026-10")
    conn.execute(
        "UPDATE messaging.mdr SET charge = 0.025 WHERE account_id = %s AND message_type = 'MMS'", (acct,)
    )
    mdrs(conn, acct, n=1, charge=Decimal("0.01"), day="2026-11-05")
    run(conn, "2026-11")
    late = late_lines(conn, acct, "2026-11")
    assert late["MESSAGING:MMS_OUTBOUND@2026-10"][:2] == (Decimal("1.000000"), Decimal("0.03"))
    assert "MESSAGING:SMS_OUTBOUND@2026-10" not in late
    assert_ledger_ok(conn)


def test_billed_usage_cannot_be_rerated_unbilled_late_usage_can(conn: psycopg.Connection[Any]) -> None:
    """Decision: a CDR/MDR an issued invoice billed keeps its charge (refused; corrected by a credit note);
    late usage not yet on an issued invoice may be re-rated and is billed at its new charge."""
    acct = account(conn, "LATE9", state="CO")
    cdrs(conn, acct, n=1, charge=Decimal("1.00"), day="2026-10-05")
    mdrs(conn, acct, n=1, charge=Decimal("0.01"), day="2026-10-05")
    run(conn, "2026-10")
    with pytest.raises(psycopg.errors.CheckViolation, match="billed on an issued invoice"):
        conn.execute("UPDATE cdr.enriched_cdr SET customer_charge = 0.5 WHERE account_id = %s", (acct,))
    with pytest.raises(psycopg.errors.CheckViolation, match="billed on an issued invoice"):
        conn.execute("UPDATE messaging.mdr SET charge = 0.5 WHERE account_id = %s", (acct,))
    # Columns that do not change what is billed may still change.
    conn.execute("UPDATE cdr.enriched_cdr SET lrn = '+13035550199' WHERE account_id = %s", (acct,))

    cdrs(conn, acct, n=1, charge=Decimal("0.30"), day="2026-10-20")  # late
    conn.execute(
        "UPDATE cdr.enriched_cdr SET customer_charge = 0.35 WHERE account_id = %s AND customer_charge = 0.30",
        (acct,),
    )
    run(conn, "2026-11")
    assert late_lines(conn, acct, "2026-11")["VOICE:VOICE_INTERSTATE@2026-10"][1] == Decimal("0.35")
    with pytest.raises(psycopg.errors.CheckViolation, match="billed on an issued invoice"):
        conn.execute(
            "UPDATE cdr.enriched_cdr SET customer_charge = 0.40 WHERE account_id = %s AND customer_charge = 0.35",
            (acct,),
        )
    assert_ledger_ok(conn)


def test_a_draft_whose_late_usage_another_invoice_billed_is_not_issued(conn: psycopg.Connection[Any]) -> None:
    acct = late_call_after_october(conn, "LATE10")
    cdrs(conn, acct, n=1, charge=Decimal("3.00"), day="2026-12-06")
    run(conn, "2026-11", issue=False)
    run(conn, "2026-12")  # bills the late call first
    assert late_lines(conn, acct, "2026-12")["VOICE:VOICE_INTERSTATE@2026-10"][1] == Decimal("0.30")
    with (
        pytest.raises(psycopg.errors.CheckViolation, match="run the invoices again"),
        tenant.transaction(conn, STAFF),
    ):
        invoices.issue_invoices(conn, [invoice_id(conn, acct, "2026-11")], issue_date=date(2026, 12, 2))
    run(conn, "2026-11")  # regenerated: the late call is no longer on it
    assert late_lines(conn, acct, "2026-11") == {}
    assert (invoice(conn, acct, "2026-11") or ())[:2] == ("ISSUED", Decimal("2.00"))
    assert_ledger_ok(conn)


def test_usage_rated_after_a_draft_was_built_and_before_its_issue_is_late(
    conn: psycopg.Connection[Any],
) -> None:
    acct = october_draft(conn, "LATE11")
    run(conn, "2026-10", issue=False)  # re-run over unchanged usage: the draft keeps what it bills
    cdrs(conn, acct, n=1, charge=Decimal("0.60"), day="2026-10-07")  # after the last build
    with tenant.transaction(conn, STAFF):
        invoices.issue_invoices(
            conn, [invoice_id(conn, acct, "2026-10")], issue_date=date(2026, 11, 1)
        )  # issued as built
    assert (invoice(conn, acct, "2026-10") or ())[:2] == ("ISSUED", Decimal("1.00"))
    run(conn, "2026-11")
    assert late_lines(conn, acct, "2026-11")["VOICE:VOICE_INTERSTATE@2026-10"][1] == Decimal("0.60")
    assert_ledger_ok(conn)


def test_a_rerating_does_not_overlap_an_invoice_run(conn: psycopg.Connection[Any], seeded_url: str) -> None:
    """Otherwise the run could bill a CDR's old version and the re-rated one would be billed again as late."""
    acct = account(conn, "LATE12", state="CO")
    cdrs(conn, acct, n=1, charge=Decimal("1.00"), day="2026-10-05")
    with psycopg.connect(seeded_url) as runner:
        runner.execute("SELECT billing.usage_lock()")  # what an invoice run (or issue) holds until it commits
        with pytest.raises(psycopg.errors.LockNotAvailable, match="invoice run or issue is in progress"):
            conn.execute("UPDATE cdr.enriched_cdr SET customer_charge = 0.90 WHERE account_id = %s", (acct,))
        runner.rollback()
    conn.execute("UPDATE cdr.enriched_cdr SET customer_charge = 0.90 WHERE account_id = %s", (acct,))
    run(conn, "2026-10")
    assert lines(conn, acct, "2026-10")["VOICE:VOICE_INTERSTATE@2026-10"][1] == Decimal("0.90")


@pytest.mark.parametrize("stored", ["usage row", "invoice snapshot"])
def test_a_logical_copy_with_transaction_ids_ahead_of_the_server_is_refused(
    conn: psycopg.Connection[Any], stored: str
) -> None:
    """Billed and late usage are told apart by this server's transaction ids; a logical copy (pg_restore)
    restarts the counter below the stored ids. Simulated by moving a stored id 2^32 ahead: the run and the
    issue refuse, naming the fix, and bill nothing."""
    acct = late_call_after_october(conn, "LC-COPY")
    future = "pg_current_xact_id()::text::numeric + 4294967296"
    if stored == "usage row":
        target = conn.execute(
            "SELECT id FROM cdr.enriched_cdr WHERE account_id = %s LIMIT 1", (acct,)
        ).fetchone()
        assert target is not None
        conn.execute(
            f"UPDATE cdr.enriched_cdr SET billing_xid = ({future})::text::xid8 WHERE id = %s", target
        )
    else:
        conn.execute("ALTER TABLE billing.invoices DISABLE TRIGGER USER")  # issued invoices are immutable
        conn.execute(
            f"UPDATE billing.invoices SET usage_snapshot = (({future})::text || ':' || ({future})::text || ':')"
            "::pg_snapshot WHERE account_id = %s",
            (acct,),
        )
        conn.execute("ALTER TABLE billing.invoices ENABLE TRIGGER USER")
    for issue in (False, True):
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState, match="logical") as refused:
            run(conn, "2026-11", issue=issue)
        assert "pg_resetwal -e" in (refused.value.diag.message_hint or "")
    assert invoice(conn, acct, "2026-11") is None
