"""The balance ledger: atomic debits and the balance = sum(ledger) check.

Every balance change is a ledger row written together with the balance update by SQL
(``billing.post_entry`` / ``billing.debit``; the CDR rating statement does the same set-based).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg

from warp.billing.errors import InsufficientFunds, InvalidBilling

SOURCE_TYPES = ("CDR", "MDR", "DID", "INVOICE", "PAYMENT", "CREDIT", "MANUAL")


@dataclass(frozen=True)
class LedgerMismatch:
    """An account whose balance differs from its ledger's sum."""

    account_id: UUID
    balance: Decimal
    ledger_sum: Decimal
    difference: Decimal


def debit(
    conn: psycopg.Connection[Any],
    account_id: UUID,
    amount: Decimal,
    *,
    source_type: str = "MANUAL",
    source_id: UUID | None = None,
    description: str | None = None,
) -> Decimal:
    """Charge ``amount`` to the account through the ledger; returns the balance after.

    A prepaid account never goes below -credit_limit: the debit that would cross it raises
    InsufficientFunds and changes nothing.
    """
    if amount < 0:
        raise InvalidBilling("amount: a debit must not be negative")
    if source_type not in SOURCE_TYPES:
        raise InvalidBilling(f"source_type: one of {', '.join(SOURCE_TYPES)}")
    try:
        with conn.transaction():
            row = conn.execute(
                "SELECT billing.debit(%s, %s, %s, %s, %s)",
                (account_id, amount, source_type, source_id, description),
            ).fetchone()
    except psycopg.errors.CheckViolation as exc:
        if exc.diag.constraint_name == "account_balance_funds_check":
            raise InsufficientFunds(
                f"balance: prepaid funds of account {account_id} do not cover {amount}"
            ) from exc
        raise
    return Decimal(_first(row))


def adjust(conn: psycopg.Connection[Any], account_id: UUID, amount: Decimal, description: str) -> Decimal:
    """A signed manual ADJUSTMENT (staff); returns the balance after."""
    row = conn.execute(
        "SELECT billing.post_entry(%s, 'ADJUSTMENT', %s, 'MANUAL', NULL, %s)",
        (account_id, amount, description),
    ).fetchone()
    return Decimal(_first(row))


def check_ledger(conn: psycopg.Connection[Any], account_id: UUID | None = None) -> list[LedgerMismatch]:
    """Accounts whose balance is not the sum of their ledger (empty: the invariant holds)."""
    rows = conn.execute("SELECT * FROM billing.check_ledger(%s)", (account_id,)).fetchall()
    return [LedgerMismatch(*_tuple(r)) for r in rows]


def balance(conn: psycopg.Connection[Any], account_id: UUID) -> dict[str, Any] | None:
    """The account's balance row (balance, credit limit, cycle, threshold) or None."""
    row = conn.execute(
        "SELECT balance, credit_limit, currency, billing_cycle, low_balance_threshold "
        "FROM billing.account_balance WHERE account_id = %s",
        (account_id,),
    ).fetchone()
    if row is None:
        return None
    keys = ("balance", "credit_limit", "currency", "billing_cycle", "low_balance_threshold")
    return dict(zip(keys, _tuple(row), strict=True))


def _tuple(row: Any) -> tuple[Any, ...]:
    return tuple(row.values()) if isinstance(row, dict) else tuple(row)


def _first(row: Any) -> Any:
    if row is None:
        return None
    return _tuple(row)[0]
