"""Payments (recorded and applied FIFO to the oldest open invoices), refunds and credits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row

from warp.billing.errors import DuplicatePayment, InvalidBilling, PaymentNotFound

METHODS = ("ACH", "WIRE", "CARD", "CHECK", "CREDIT", "OTHER")
CREDIT_TYPES = ("SERVICE_CREDIT", "CREDIT_NOTE", "PROMOTIONAL")


@dataclass(frozen=True)
class Application:
    """Part of a payment applied to an invoice (invoice_id None: the remainder became account credit)."""

    invoice_id: UUID | None
    amount: Decimal


def record_payment(
    conn: psycopg.Connection[Any],
    *,
    account_id: UUID,
    amount: Decimal,
    method: str,
    processor: str = "manual",
    external_reference: str | None = None,
    received_at: datetime | None = None,
    notes: str | None = None,
) -> tuple[UUID, list[Application]]:
    """Record a received payment and apply it (FIFO); returns its id and the applications."""
    if amount <= 0:
        raise InvalidBilling("amount: must be positive")
    if method not in METHODS:
        raise InvalidBilling(f"method: one of {', '.join(METHODS)}")
    try:
        with conn.transaction():
            row = conn.execute(
                "INSERT INTO billing.payments (account_id, amount, method, processor, external_reference, "
                "received_at, notes) VALUES (%s, %s, %s, %s, %s, coalesce(%s, now()), %s) RETURNING id",
                (account_id, amount, method, processor, external_reference, received_at, notes),
            ).fetchone()
    except psycopg.errors.UniqueViolation as exc:
        if exc.diag.constraint_name == "payments_processor_external_reference_key":
            raise DuplicatePayment(
                f"external_reference: {external_reference!r} of {processor} is already recorded"
            ) from exc
        raise
    except psycopg.errors.ForeignKeyViolation as exc:
        raise InvalidBilling(f"account_id: no account {account_id}") from exc
    payment_id = UUID(str(_v(row)))
    return payment_id, apply_payment(conn, payment_id)


def apply_payment(conn: psycopg.Connection[Any], payment_id: UUID) -> list[Application]:
    """billing.apply_payment: what this call applied (nothing on a second call)."""
    rows = conn.execute("SELECT * FROM billing.apply_payment(%s)", (payment_id,)).fetchall()
    return [Application(None if _v(r, 0) is None else UUID(str(_v(r, 0))), Decimal(_v(r, 1))) for r in rows]


def refund_payment(conn: psycopg.Connection[Any], payment_id: UUID, amount: Decimal, reason: str) -> Decimal:
    """Refund part or all of a payment; returns the balance after."""
    try:
        with conn.transaction():
            row = conn.execute(
                "SELECT billing.refund_payment(%s, %s, %s)", (payment_id, amount, reason)
            ).fetchone()
    except psycopg.errors.NoDataFound as exc:
        raise PaymentNotFound(f"payment: {payment_id} not found") from exc
    except psycopg.errors.CheckViolation as exc:
        message = exc.diag.message_primary or "refused"
        raise InvalidBilling(message if message.startswith("amount:") else f"amount: {message}") from exc
    return Decimal(_v(row))


def grant_credit(
    conn: psycopg.Connection[Any],
    *,
    account_id: UUID,
    amount: Decimal,
    reason: str,
    credit_type: str = "SERVICE_CREDIT",
    invoice_id: UUID | None = None,
    expires_at: datetime | None = None,
) -> UUID:
    """A service credit or a credit note (against ``invoice_id``): on the balance now, on the next invoice."""
    if amount <= 0:
        raise InvalidBilling("amount: must be positive")
    if credit_type not in CREDIT_TYPES:
        raise InvalidBilling(f"credit_type: one of {', '.join(CREDIT_TYPES)}")
    if not reason.strip():
        raise InvalidBilling("reason: required")
    row = conn.execute(
        "SELECT billing.grant_credit(%s, %s, %s, %s, %s, %s)",
        (account_id, amount, credit_type, reason, invoice_id, expires_at),
    ).fetchone()
    return UUID(str(_v(row)))


def get_payment(conn: psycopg.Connection[Any], payment_id: UUID) -> dict[str, Any]:
    """A payment with its applications (another tenant's is not found)."""
    cur = conn.cursor(row_factory=dict_row)
    row = cur.execute(
        "SELECT id, account_id, amount, refunded_amount, currency, method, processor, external_reference, status, "
        "received_at, created_at FROM billing.payments WHERE id = %s",
        (payment_id,),
    ).fetchone()
    if row is None:
        raise PaymentNotFound(f"payment: {payment_id} not found")
    row["applications"] = cur.execute(
        "SELECT a.invoice_id, i.invoice_number, a.amount, a.refunded_amount, i.status AS invoice_status, "
        "i.paid_amount AS invoice_paid_amount, i.total AS invoice_total "
        "FROM billing.payment_applications a JOIN billing.invoices i ON i.id = a.invoice_id "
        "WHERE a.payment_id = %s ORDER BY a.applied_at, i.issue_date, i.invoice_number",
        (payment_id,),
    ).fetchall()
    return row


def list_payments(
    conn: psycopg.Connection[Any], *, account_id: UUID | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """Payments visible to the caller (RLS), newest first, with the account's BAN and the net amount applied."""
    cur = conn.cursor(row_factory=dict_row)
    return cur.execute(
        "SELECT p.id, p.account_id, a.ban, p.amount, p.refunded_amount, p.currency, p.method, p.processor, "
        "p.external_reference, p.status, p.received_at, "
        "coalesce((SELECT sum(x.amount - x.refunded_amount) FROM billing.payment_applications x "
        "WHERE x.payment_id = p.id), 0) AS applied "
        "FROM billing.payments p JOIN accounts.accounts a ON a.id = p.account_id "
        "WHERE (%(acct)s::uuid IS NULL OR p.account_id = %(acct)s::uuid) "
        "ORDER BY p.received_at DESC, p.id DESC LIMIT %(limit)s",
        {"acct": account_id, "limit": limit},
    ).fetchall()


def _v(row: Any, index: int = 0) -> Any:
    if row is None:
        return None
    if isinstance(row, dict):
        return list(row.values())[index]
    return row[index]
