"""Reading CDRs for customers: filtered, keyset-paginated lists and a streaming CSV export.

Tenant scoping is row-level security: these functions add no account filter of their own, so a
customer's transaction sees its own CDRs (and its reseller descendants'), staff see everything.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import class_row

from warp.cdr.errors import InvalidCdrInput

STATUSES = ("ANSWERED", "FAILED", "RATED", "UNRATED", "PENDING")


@dataclass(frozen=True)
class CdrRow:
    """One CDR as a customer sees it (raw facts plus enrichment and the customer charge)."""

    id: UUID
    start_time: datetime
    call_id: str
    account_id: UUID | None
    trunk_id: UUID | None
    ani: str | None
    dnis: str | None
    duration: Decimal
    sip_code: int | None
    sip_reason: str | None
    answered: bool
    jurisdiction: str | None
    lrn: str | None
    billable_seconds: int | None
    customer_rate: Decimal | None
    customer_charge: Decimal | None
    rating_status: str


@dataclass(frozen=True)
class CdrFilter:
    start: datetime | None = None
    end: datetime | None = None
    number: str | None = None
    trunk_id: UUID | None = None
    status: str | None = None


_SELECT = """
SELECT r.id, r.start_time, r.call_id, r.account_id, r.trunk_id, r.ani, r.dnis, r.duration, r.sip_code,
       r.sip_reason, cdr.is_answered(r.sip_code, r.duration) AS answered, e.jurisdiction, e.lrn,
       e.billable_seconds, e.customer_rate, e.customer_charge, coalesce(e.rating_status, 'PENDING') AS rating_status
FROM cdr.raw_cdr r
LEFT JOIN cdr.enriched_cdr e ON e.raw_cdr_id = r.id AND e.start_time = r.start_time
WHERE (%(start)s::timestamptz IS NULL OR r.start_time >= %(start)s)
  AND (%(end)s::timestamptz IS NULL OR r.start_time < %(end)s)
  AND (%(number)s::text IS NULL OR r.ani = %(number)s OR r.dnis = %(number)s)
  AND (%(trunk)s::uuid IS NULL OR r.trunk_id = %(trunk)s)
  AND CASE %(status)s::text
        WHEN 'ANSWERED' THEN cdr.is_answered(r.sip_code, r.duration)
        WHEN 'FAILED' THEN NOT cdr.is_answered(r.sip_code, r.duration)
        WHEN 'RATED' THEN e.rating_status = 'RATED'
        WHEN 'UNRATED' THEN e.rating_status = 'UNRATED'
        WHEN 'PENDING' THEN e.id IS NULL
        ELSE true END
  AND (%(after_t)s::timestamptz IS NULL OR (r.start_time, r.id) < (%(after_t)s, %(after_id)s::uuid))
ORDER BY r.start_time DESC, r.id DESC
"""


def _params(flt: CdrFilter, after: tuple[datetime, UUID] | None) -> dict[str, Any]:
    if flt.status is not None and flt.status not in STATUSES:
        raise InvalidCdrInput(f"status: must be one of {', '.join(STATUSES)}")
    if flt.start and flt.end and flt.end <= flt.start:
        raise InvalidCdrInput("to: must be after from")
    number = flt.number
    if number is not None:
        row_number = number.strip()
        if not row_number.startswith("+") or not row_number[1:].isdigit():
            raise InvalidCdrInput("number: must be E.164, e.g. +12125550100")
        number = row_number
    return {
        "start": flt.start,
        "end": flt.end,
        "number": number,
        "trunk": flt.trunk_id,
        "status": flt.status,
        "after_t": after[0] if after else None,
        "after_id": after[1] if after else None,
    }


def list_cdrs(
    conn: psycopg.Connection[Any], flt: CdrFilter, *, limit: int, after: tuple[datetime, UUID] | None = None
) -> list[CdrRow]:
    """CDRs visible to the transaction, newest first, after the ``(start_time, id)`` cursor."""
    cur = conn.cursor(row_factory=class_row(CdrRow))
    return cur.execute(_SELECT + " LIMIT %(limit)s", {**_params(flt, after), "limit": limit}).fetchall()


CSV_COLUMNS = [f for f in CdrRow.__dataclass_fields__]


def export_csv(conn: psycopg.Connection[Any], flt: CdrFilter, *, batch: int = 5000) -> Iterator[str]:
    """The filtered CDRs as CSV text chunks (header first), read with a server-side cursor."""
    params = _params(flt, None)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    yield out.getvalue()
    with conn.cursor(name="cdr_export", row_factory=class_row(CdrRow)) as cur:
        cur.itersize = batch
        cur.execute(_SELECT, params)
        while rows := cur.fetchmany(batch):
            out.seek(0)
            out.truncate()
            for r in rows:
                writer.writerow(["" if v is None else v for v in (getattr(r, c) for c in CSV_COLUMNS)])
            yield out.getvalue()
