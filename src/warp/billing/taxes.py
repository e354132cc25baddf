"""Tax engines: who writes the TAX lines of draft invoices.

The invoice run calls ``engine.apply(conn, invoice_ids)`` between building the usage lines and the
credits/totals. ``LocalTaxEngine`` uses billing.tax_rates (set-based, one statement); a vendor engine
(Avalara, CCH...) would implement the same Protocol, reading each draft's lines and writing TAX lines.
"""

from __future__ import annotations

from typing import Any, Protocol
from uuid import UUID

import psycopg


class TaxEngine(Protocol):
    """Writes the TAX lines (item_type TAX, with tax_rate_id) of the given DRAFT invoices."""

    name: str

    def apply(self, conn: psycopg.Connection[Any], invoice_ids: list[UUID]) -> int:
        """Replace the TAX lines of the drafts; returns how many lines were written."""
        ...


class LocalTaxEngine:
    """billing.tax_rates: federal USF % of interstate + international voice, state sales tax, per-DID E911."""

    name = "local"

    def apply(self, conn: psycopg.Connection[Any], invoice_ids: list[UUID]) -> int:
        row = conn.execute("SELECT billing.apply_local_taxes(%s::uuid[])", (invoice_ids,)).fetchone()
        if row is None:
            return 0
        value = next(iter(row.values())) if isinstance(row, dict) else row[0]
        return int(value)


def engine(name: str = "local") -> TaxEngine:
    """The tax engine configured by name (only the local one exists today)."""
    if name != "local":
        raise ValueError(f"tax engine: unknown {name!r} (known: local)")
    return LocalTaxEngine()
