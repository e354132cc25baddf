"""Invoice runs, issue, and reading invoices.

A run for a period is three set-based SQL steps (0017_billing_functions.sql) with the tax engine in
the middle: ``billing.build_invoices`` (usage summaries, one DRAFT per account and period, usage / DID /
fee lines; issued invoices are never touched), ``TaxEngine.apply`` (TAX lines), ``billing.finish_invoices``
(credit lines, totals). ``issue`` then gives gapless numbers and charges the ledger.

A draft also bills the account's late usage: CDRs/MDRs of earlier, already issued periods that were rated or
charged after those invoices were built, as their own lines (``billing.late_usage``; each invoice bills the
usage rows visible in its build snapshot, ``billing.invoices.usage_snapshot``; docs/operations.md).
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row

from warp.billing.errors import AccountNotFound, InvalidBilling, InvoiceImmutable, InvoiceNotFound
from warp.billing.taxes import LocalTaxEngine, TaxEngine

Progress = Callable[[str, int, int], None]
"""Called with (step, done, total)."""

BATCH = 2000
ANALYZE_FROM = 200
"""Runs with at least this many invoices refresh the statistics of the tables they wrote (small runs need not)."""

INVOICE_COLUMNS = (
    "id, account_id, invoice_number, status, period_start, period_end, currency, subtotal, tax_total, total, "
    "paid_amount, issue_date, due_date, issued_at, paid_at, created_at"
)
ITEM_COLUMNS = "id, item_type, category, description, quantity, unit, unit_rate, amount, tax_rate_id, credit_id, sort_order"


def parse_period(text: str) -> tuple[date, date]:
    """'2026-11' -> (2026-11-01, 2026-11-30)."""
    match = re.fullmatch(r"(\d{4})-(\d{2})", text.strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise InvalidBilling(f"period: {text!r} is not a month (YYYY-MM)")
    year, month = int(match.group(1)), int(match.group(2))
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


@dataclass
class RunResult:
    """What an invoice run did."""

    period_start: date
    period_end: date
    invoices: int = 0
    created: int = 0
    regenerated: int = 0
    issued: int = 0
    skipped_issued: int = 0
    tax_lines: int = 0
    total: Decimal = Decimal(0)
    seconds: float = 0.0
    steps: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(),
            "invoices": self.invoices,
            "created": self.created,
            "regenerated": self.regenerated,
            "issued": self.issued,
            "skipped_issued": self.skipped_issued,
            "tax_lines": self.tax_lines,
            "total": str(self.total),
            "seconds": round(self.seconds, 3),
            "steps": {k: round(v, 3) for k, v in self.steps.items()},
        }


def account_id_for(conn: psycopg.Connection[Any], ban: str) -> UUID:
    """The id of the account with this BAN."""
    row = conn.execute("SELECT id FROM accounts.accounts WHERE ban = %s", (ban,)).fetchone()
    if row is None:
        raise AccountNotFound(f"account: no account with BAN {ban!r}")
    return UUID(str(_v(row)))


def run(
    conn: psycopg.Connection[Any],
    *,
    period_start: date,
    period_end: date,
    account_id: UUID | None = None,
    issue: bool = False,
    issue_date: date | None = None,
    tax_engine: TaxEngine | None = None,
    progress: Progress | None = None,
) -> RunResult:
    """Build (or regenerate) the DRAFT invoice of every account with usage in the period; optionally issue them.

    Idempotent: one invoice per account and period; a re-run rebuilds drafts and leaves issued invoices alone.
    """
    started = time.monotonic()
    engine = tax_engine or LocalTaxEngine()
    result = RunResult(period_start=period_start, period_end=period_end)
    conn.execute("SET LOCAL work_mem = '256MB'")

    def step(name: str, t0: float) -> float:
        now = time.monotonic()
        result.steps[name] = result.steps.get(name, 0.0) + now - t0
        return now

    t = time.monotonic()
    rows = conn.execute(
        "SELECT invoice_id, created FROM billing.build_invoices(%s, %s, %s)",
        (period_start, period_end, account_id),
    ).fetchall()
    ids = [UUID(str(_v(r, 0))) for r in rows]
    result.created = sum(1 for r in rows if _v(r, 1))
    result.regenerated = len(ids) - result.created
    t = step("usage + lines", t)
    if len(ids) >= ANALYZE_FROM:
        # The run just wrote most of these tables: refresh their statistics before joining them again.
        conn.execute("SELECT billing.analyze_run_tables()")
        t = step("analyze", t)
    skipped = conn.execute(
        "SELECT count(*) FROM billing.invoices WHERE period_start = %s AND period_end = %s AND status <> 'DRAFT' "
        "AND (%s::uuid IS NULL OR account_id = %s::uuid)",
        (period_start, period_end, account_id, account_id),
    ).fetchone()
    result.skipped_issued = int(_v(skipped))
    total = len(ids)
    for i in range(0, total, BATCH):
        chunk = ids[i : i + BATCH]
        result.tax_lines += engine.apply(conn, chunk)
        if progress:
            progress("taxes", min(i + BATCH, total), total)
    t = step("taxes", t)
    for i in range(0, total, BATCH):
        conn.execute("SELECT billing.finish_invoices(%s::uuid[])", (ids[i : i + BATCH],))
        if progress:
            progress("totals", min(i + BATCH, total), total)
    t = step("credits + totals", t)
    if issue and ids:
        result.issued = len(issue_invoices(conn, ids, issue_date=issue_date))
        if progress:
            progress("issue", total, total)
        t = step("issue", t)
    summary = conn.execute(
        "SELECT count(*), coalesce(sum(total), 0) FROM billing.invoices WHERE id = ANY(%s::uuid[])", (ids,)
    ).fetchone()
    result.invoices = int(_v(summary, 0))
    result.total = Decimal(_v(summary, 1))
    result.seconds = time.monotonic() - started
    return result


def issue_invoices(
    conn: psycopg.Connection[Any], invoice_ids: list[UUID], *, issue_date: date | None = None
) -> list[tuple[UUID, str, Decimal]]:
    """Issue DRAFT invoices (gapless numbers per year, ledger charged); returns (id, number, total)."""
    rows = conn.execute(
        "SELECT * FROM billing.issue_invoices(%s::uuid[], %s)", (invoice_ids, issue_date)
    ).fetchall()
    return [(UUID(str(_v(r, 0))), str(_v(r, 1)), Decimal(_v(r, 2))) for r in rows]


def calculate_total(conn: psycopg.Connection[Any], invoice_id: UUID) -> tuple[Decimal, Decimal, Decimal]:
    """billing.calculate_invoice_total: (subtotal, tax, total)."""
    row = conn.execute("SELECT * FROM billing.calculate_invoice_total(%s)", (invoice_id,)).fetchone()
    if row is None:
        raise InvoiceNotFound(f"invoice: {invoice_id} not found")
    return Decimal(_v(row, 0)), Decimal(_v(row, 1)), Decimal(_v(row, 2))


def void_invoice(conn: psycopg.Connection[Any], invoice_id: UUID) -> None:
    """Delete a DRAFT (issued invoices are immutable; they are corrected with credit notes)."""
    try:
        with conn.transaction():
            cur = conn.execute("DELETE FROM billing.invoices WHERE id = %s", (invoice_id,))
    except psycopg.errors.CheckViolation as exc:
        raise InvoiceImmutable(f"invoice {invoice_id}: issued invoices cannot be deleted") from exc
    if cur.rowcount == 0:
        raise InvoiceNotFound(f"invoice: {invoice_id} not found")


def list_invoices(
    conn: psycopg.Connection[Any], *, limit: int, after: tuple[datetime, UUID] | None = None
) -> list[dict[str, Any]]:
    """Invoices visible to the caller (RLS), newest first, after the cursor (created_at, id)."""
    cur = conn.cursor(row_factory=dict_row)
    where = "WHERE (created_at, id) < (%s, %s)" if after else ""
    params: tuple[Any, ...] = (*after, limit) if after else (limit,)
    return cur.execute(
        f"SELECT {INVOICE_COLUMNS} FROM billing.invoices {where} ORDER BY created_at DESC, id DESC LIMIT %s",
        params,
    ).fetchall()


def get_invoice(conn: psycopg.Connection[Any], invoice_id: UUID) -> dict[str, Any]:
    """One invoice with its lines and account (another tenant's is not found)."""
    cur = conn.cursor(row_factory=dict_row)
    invoice = cur.execute(
        f"SELECT {INVOICE_COLUMNS} FROM billing.invoices WHERE id = %s", (invoice_id,)
    ).fetchone()
    if invoice is None:
        raise InvoiceNotFound(f"invoice: {invoice_id} not found")
    invoice["items"] = cur.execute(
        f"SELECT {ITEM_COLUMNS} FROM billing.invoice_items WHERE invoice_id = %s ORDER BY sort_order, category, id",
        (invoice_id,),
    ).fetchall()
    invoice["account"] = cur.execute(
        "SELECT a.ban, a.name, a.legal_name, a.billing_state, a.billing_country, a.tax_id "
        "FROM accounts.accounts a WHERE a.id = %s",
        (invoice["account_id"],),
    ).fetchone() or {"ban": "", "name": ""}
    return invoice


def _v(row: Any, index: int = 0) -> Any:
    if row is None:
        return None
    if isinstance(row, dict):
        return list(row.values())[index]
    return row[index]
