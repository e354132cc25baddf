"""Billing API: the customer's rate plan and balance, invoices (JSON, PDF, CSV), payments, refunds, credits."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from warp.api.deps import Tx, WarpRoute, require
from warp.api.idempotency import IdempotencyKey, idempotent
from warp.api.pagination import DEFAULT_LIMIT, CursorParam, LimitParam, Page, decode_cursor, page
from warp.billing import invoices, ledger, payments, rate_plans
from warp.billing.documents import render_csv, render_pdf
from warp.billing.errors import InvalidBilling

router = APIRouter(tags=["billing"], route_class=WarpRoute)


class InvoiceItem(BaseModel):
    item_type: str
    category: str | None
    description: str
    quantity: Decimal
    unit: str | None
    unit_rate: Decimal | None
    amount: Decimal


class Invoice(BaseModel):
    id: UUID
    account_id: UUID
    invoice_number: str | None
    status: str
    period_start: date
    period_end: date
    currency: str
    subtotal: Decimal
    tax_total: Decimal
    total: Decimal
    paid_amount: Decimal
    issue_date: date | None
    due_date: date | None
    created_at: datetime


class InvoiceDetail(Invoice):
    items: list[InvoiceItem]


class PaymentIn(BaseModel):
    account_id: UUID
    amount: Decimal = Field(gt=0, max_digits=12, decimal_places=2)
    method: Literal["ACH", "WIRE", "CARD", "CHECK", "OTHER"]
    processor: str = Field(default="manual", min_length=1, max_length=32)
    external_reference: str | None = Field(default=None, max_length=128)
    received_at: datetime | None = None
    notes: str | None = Field(default=None, max_length=2000)


class RefundIn(BaseModel):
    amount: Decimal = Field(gt=0, max_digits=12, decimal_places=2)
    reason: str = Field(min_length=1, max_length=500)


class CreditIn(BaseModel):
    account_id: UUID
    amount: Decimal = Field(gt=0, max_digits=12, decimal_places=2)
    reason: str = Field(min_length=1, max_length=500)
    credit_type: Literal["SERVICE_CREDIT", "CREDIT_NOTE", "PROMOTIONAL"] = "SERVICE_CREDIT"
    invoice_id: UUID | None = None


def _account(tx: Tx, account_id: UUID | None) -> UUID:
    """The caller's own account, or (staff only) the one asked for."""
    own = tx.principal.account_id
    if own is not None:
        return own
    if account_id is None:
        raise InvalidBilling("account_id: staff must name the account")
    return account_id


@router.get("/v1/rate-plans/current")
def current_rate_plan(
    tx: Tx = require("billing:read"),
    account_id: UUID | None = Query(None, description="Staff only: the account to show."),
    prefix: str | None = Query(
        None, pattern=r"^[0-9]{1,16}$", description="Only voice prefixes starting so."
    ),
) -> dict[str, Any]:
    """The rate plan in force for the caller's account, with today's voice, messaging and number prices."""
    return rate_plans.current_plan(tx.conn, _account(tx, account_id), prefix=prefix)


@router.get("/v1/balance")
def get_balance(
    tx: Tx = require("billing:read"), account_id: UUID | None = Query(None, description="Staff only.")
) -> dict[str, Any]:
    """Balance, credit limit, currency, billing cycle and low-balance threshold of the account."""
    row = ledger.balance(tx.conn, _account(tx, account_id))
    if row is None:
        return {"balance": "0", "credit_limit": "0", "currency": "USD", "billing_cycle": "POSTPAID"}
    return row


@router.get("/v1/invoices")
def list_invoices(
    limit: LimitParam = DEFAULT_LIMIT, cursor: CursorParam = None, tx: Tx = require("billing:read")
) -> Page[Invoice]:
    """Invoices of the account (and a reseller's customers), newest first."""
    rows = invoices.list_invoices(tx.conn, limit=limit + 1, after=decode_cursor(cursor))
    return page(rows, limit, lambda r: Invoice(**r), key=lambda r: (r["created_at"], r["id"]))


@router.get("/v1/invoices/{invoice_id}.pdf", response_class=Response)
def invoice_pdf(invoice_id: UUID, tx: Tx = require("billing:read")) -> Response:
    """The invoice as a PDF document."""
    invoice = invoices.get_invoice(tx.conn, invoice_id)
    name = invoice["invoice_number"] or f"draft-{invoice_id}"
    return Response(
        render_pdf(invoice),
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="invoice-{name}.pdf"'},
    )


@router.get("/v1/invoices/{invoice_id}.csv", response_class=Response)
def invoice_csv(invoice_id: UUID, tx: Tx = require("billing:read")) -> Response:
    """The invoice lines as CSV."""
    invoice = invoices.get_invoice(tx.conn, invoice_id)
    return Response(render_csv(invoice), media_type="text/csv; charset=utf-8")


@router.get("/v1/invoices/{invoice_id}")
def get_invoice(invoice_id: UUID, tx: Tx = require("billing:read")) -> InvoiceDetail:
    """One invoice with its lines (another tenant's is not found)."""
    invoice = invoices.get_invoice(tx.conn, invoice_id)
    return InvoiceDetail(**{k: v for k, v in invoice.items() if k != "account"})


@router.post("/v1/payments", status_code=201)
def create_payment(
    body: PaymentIn,
    request: Request,
    idempotency_key: IdempotencyKey = None,
    tx: Tx = require("staff:write"),
) -> JSONResponse:
    """Record a received payment (staff) and apply it to the account's oldest open invoices."""

    def create() -> Any:
        payment_id, applied = payments.record_payment(
            tx.conn,
            account_id=body.account_id,
            amount=body.amount,
            method=body.method,
            processor=body.processor,
            external_reference=body.external_reference,
            received_at=body.received_at,
            notes=body.notes,
        )
        return {
            "id": str(payment_id),
            "account_id": str(body.account_id),
            "amount": str(body.amount),
            "applied": [
                {"invoice_id": None if a.invoice_id is None else str(a.invoice_id), "amount": str(a.amount)}
                for a in applied
            ],
        }

    return idempotent(
        tx,
        idempotency_key,
        body.account_id,
        "POST",
        request.url.path,
        body.model_dump(mode="json"),
        201,
        create,
    )


@router.get("/v1/payments/{payment_id}")
def get_payment(payment_id: UUID, tx: Tx = require("billing:read")) -> dict[str, Any]:
    """A payment with its applications (another tenant's is not found)."""
    return payments.get_payment(tx.conn, payment_id)


@router.post("/v1/payments/{payment_id}/refunds", status_code=201)
def refund_payment(payment_id: UUID, body: RefundIn, tx: Tx = require("staff:write")) -> dict[str, Any]:
    """Refund part or all of a payment (staff)."""
    after = payments.refund_payment(tx.conn, payment_id, body.amount, body.reason)
    return {"payment_id": str(payment_id), "refunded": str(body.amount), "balance": str(after)}


@router.post("/v1/credits", status_code=201)
def create_credit(body: CreditIn, tx: Tx = require("staff:write")) -> dict[str, Any]:
    """A service credit or credit note (staff): on the balance now, on the next invoice."""
    credit_id = payments.grant_credit(
        tx.conn,
        account_id=body.account_id,
        amount=body.amount,
        reason=body.reason,
        credit_type=body.credit_type,
        invoice_id=body.invoice_id,
    )
    return {"id": str(credit_id), "account_id": str(body.account_id), "amount": str(body.amount)}
