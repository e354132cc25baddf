"""Vendors and their contracts: create, list, change, end; commitments against actual spend and minutes.

Plain functions taking a psycopg connection (the caller owns the transaction; staff only: the vendor
tables are STAFF_ONLY under row-level security).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg
from psycopg import errors, sql
from psycopg.rows import class_row, dict_row

from warp.reporting.service import refresh as refresh_view
from warp.vendors.errors import (
    ContractNotFound,
    DuplicateVendor,
    InvalidContract,
    InvalidPeriod,
    InvalidVendor,
    VendorNotFound,
)

VENDOR_TYPES = ("CARRIER", "MESSAGING", "NUMBERING", "LRN", "E911", "CNAM", "TAX", "PAYMENTS", "OTHER")
VENDOR_STATUSES = ("ACTIVE", "INACTIVE", "TERMINATED")
CONTRACT_STATUSES = ("DRAFT", "ACTIVE", "EXPIRED", "TERMINATED")
COMMITMENT_PERIODS = ("MONTHLY", "QUARTERLY", "ANNUAL")
E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
CURRENCY = re.compile(r"^[A-Z]{3}$")

# Which field a refused constraint is about (error messages name the field).
_CONSTRAINT_FIELDS = {
    "vendors_vendor_type_check": "vendor_type",
    "vendors_status_check": "status",
    "vendors_support_phone_check": "support_phone",
    "contracts_status_check": "status",
    "contracts_end_date_check": "end_date",
    "contracts_commitment_amount_check": "commitment_amount",
    "contracts_commitment_period_check": "commitment_period",
    "contracts_commitment_minutes_check": "commitment_minutes",
    "contracts_commitment_check": "commitment_period",
    "contracts_payment_terms_days_check": "payment_terms_days",
    "contracts_renewal_notice_days_check": "renewal_notice_days",
}


@dataclass(frozen=True)
class Vendor:
    """A row of vendor_mgmt.vendors."""

    id: UUID
    name: str
    vendor_type: str
    status: str
    website: str | None
    support_email: str | None
    support_phone: str | None
    notes: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Contract:
    """A row of vendor_mgmt.contracts."""

    id: UUID
    vendor_id: UUID
    name: str
    status: str
    start_date: date
    end_date: date | None
    auto_renew: bool
    renewal_notice_days: int | None
    commitment_amount: Decimal | None
    commitment_period: str | None
    commitment_minutes: int | None
    currency: str
    payment_terms_days: int | None
    terms: str | None
    document_ref: str | None
    created_at: datetime
    updated_at: datetime


_VENDOR_COLUMNS = (
    "id, name, vendor_type, status, website, support_email, support_phone, notes, created_at, updated_at"
)
_CONTRACT_COLUMNS = (
    "id, vendor_id, name, status, start_date, end_date, auto_renew, renewal_notice_days, commitment_amount, "
    "commitment_period, commitment_minutes, currency, payment_terms_days, terms, document_ref, created_at, "
    "updated_at"
)


@contextmanager
def _mapped(kind: type[InvalidVendor] | type[InvalidContract], what: str) -> Iterator[None]:
    """Map constraint violations to domain errors naming the field."""
    try:
        yield
    except errors.UniqueViolation as exc:
        if exc.diag.constraint_name == "vendors_name_key":
            raise DuplicateVendor(f"name: a vendor called {what!r} exists already") from exc
        raise
    except errors.CheckViolation as exc:
        name = exc.diag.constraint_name or ""
        field = _CONSTRAINT_FIELDS.get(name, name or "row")
        raise kind(f"{field}: refused by {name or 'a check'} ({what})") from exc
    except errors.ForeignKeyViolation as exc:
        if exc.diag.constraint_name == "contracts_vendor_id_fkey":
            raise VendorNotFound(f"vendor_id: no vendor {what}") from exc
        raise


# --- vendors ----------------------------------------------------------------------------------


def _check_vendor(fields: dict[str, Any]) -> dict[str, Any]:
    out = dict(fields)
    if "name" in out:
        name = (out["name"] or "").strip()
        if not name or len(name) > 200:
            raise InvalidVendor("name: must be 1-200 characters")
        out["name"] = name
    if "vendor_type" in out:
        value = str(out["vendor_type"] or "").upper()
        if value not in VENDOR_TYPES:
            raise InvalidVendor(
                f"vendor_type: {out['vendor_type']!r} is not one of {', '.join(VENDOR_TYPES)}"
            )
        out["vendor_type"] = value
    if "status" in out:
        value = str(out["status"] or "").upper()
        if value not in VENDOR_STATUSES:
            raise InvalidVendor(f"status: {out['status']!r} is not one of {', '.join(VENDOR_STATUSES)}")
        out["status"] = value
    phone = out.get("support_phone")
    if phone is not None and not E164.match(phone):
        raise InvalidVendor(f"support_phone: {phone!r} is not E.164 (+15551234567)")
    email = out.get("support_email")
    if email is not None and (len(email) > 320 or not EMAIL.match(email)):
        raise InvalidVendor(f"support_email: {email!r} is not an e-mail address")
    return out


def create_vendor(
    conn: psycopg.Connection[Any],
    *,
    name: str,
    vendor_type: str,
    status: str = "ACTIVE",
    website: str | None = None,
    support_email: str | None = None,
    support_phone: str | None = None,
    notes: str | None = None,
) -> Vendor:
    """Create a vendor; DuplicateVendor when the name is taken."""
    f = _check_vendor(
        {
            "name": name,
            "vendor_type": vendor_type,
            "status": status,
            "website": website,
            "support_email": support_email,
            "support_phone": support_phone,
            "notes": notes,
        }
    )
    with _mapped(InvalidVendor, f["name"]), conn.transaction():
        row = (
            conn.cursor(row_factory=class_row(Vendor))
            .execute(
                f"INSERT INTO vendor_mgmt.vendors (name, vendor_type, status, website, support_email, "
                f"support_phone, notes) VALUES (%(name)s, %(vendor_type)s, %(status)s, %(website)s, "
                f"%(support_email)s, %(support_phone)s, %(notes)s) RETURNING {_VENDOR_COLUMNS}",
                f,
            )
            .fetchone()
        )
    assert row is not None
    return row


def get_vendor(conn: psycopg.Connection[Any], vendor_id: UUID) -> Vendor:
    """One vendor by id; VendorNotFound otherwise."""
    row = (
        conn.cursor(row_factory=class_row(Vendor))
        .execute(f"SELECT {_VENDOR_COLUMNS} FROM vendor_mgmt.vendors WHERE id = %s", (vendor_id,))
        .fetchone()
    )
    if row is None:
        raise VendorNotFound(f"vendor {vendor_id}: not found")
    return row


def find_vendor(conn: psycopg.Connection[Any], ref: str) -> Vendor:
    """A vendor by id or exact name (the CLI's way to name one)."""
    try:
        return get_vendor(conn, UUID(ref))
    except ValueError:
        pass
    row = (
        conn.cursor(row_factory=class_row(Vendor))
        .execute(f"SELECT {_VENDOR_COLUMNS} FROM vendor_mgmt.vendors WHERE name = %s", (ref,))
        .fetchone()
    )
    if row is None:
        raise VendorNotFound(f"vendor {ref!r}: not found (give its name or id)")
    return row


def list_vendors(
    conn: psycopg.Connection[Any],
    *,
    limit: int = 1000,
    after: tuple[datetime, UUID] | None = None,
    vendor_type: str | None = None,
    status: str | None = None,
) -> list[Vendor]:
    """Up to ``limit`` vendors, oldest first, after the (created_at, id) key; optionally of one type/status."""
    where = [sql.SQL("true")]
    params: list[Any] = []
    if vendor_type is not None:
        where.append(sql.SQL("vendor_type = %s"))
        params.append(vendor_type.upper())
    if status is not None:
        where.append(sql.SQL("status = %s"))
        params.append(status.upper())
    if after is not None:
        where.append(sql.SQL("(created_at, id) > (%s, %s)"))
        params.extend(after)
    stmt = sql.SQL(
        "SELECT " + _VENDOR_COLUMNS + " FROM vendor_mgmt.vendors WHERE {} ORDER BY created_at, id LIMIT %s"
    ).format(sql.SQL(" AND ").join(where))
    return conn.cursor(row_factory=class_row(Vendor)).execute(stmt, [*params, limit]).fetchall()


_VENDOR_UPDATABLE = ("name", "vendor_type", "status", "website", "support_email", "support_phone", "notes")


def update_vendor(conn: psycopg.Connection[Any], vendor_id: UUID, **changes: Any) -> Vendor:
    """Change some of a vendor's fields (``None`` clears an optional one)."""
    unknown = sorted(set(changes) - set(_VENDOR_UPDATABLE))
    if unknown:
        raise InvalidVendor(f"{', '.join(unknown)}: cannot be changed")
    for required in ("name", "vendor_type", "status"):
        if required in changes and changes[required] is None:
            raise InvalidVendor(f"{required}: must not be null")
    if not changes:
        return get_vendor(conn, vendor_id)
    f = _check_vendor(changes)
    assignments = sql.SQL(", ").join(
        sql.SQL("{} = {}").format(sql.Identifier(k), sql.Placeholder(k)) for k in f
    )
    stmt = sql.SQL("UPDATE vendor_mgmt.vendors SET {} WHERE id = {} RETURNING " + _VENDOR_COLUMNS).format(
        assignments, sql.Placeholder("_id")
    )
    with _mapped(InvalidVendor, str(f.get("name", vendor_id))), conn.transaction():
        row = conn.cursor(row_factory=class_row(Vendor)).execute(stmt, {**f, "_id": vendor_id}).fetchone()
    if row is None:
        raise VendorNotFound(f"vendor {vendor_id}: not found")
    return row


def vendor_overview(conn: psycopg.Connection[Any], vendor_id: UUID) -> dict[str, Any]:
    """A vendor with its contracts, SLAs, carriers, service providers and open incidents (``warp vendors show``)."""
    vendor = get_vendor(conn, vendor_id)
    cur = conn.cursor(row_factory=dict_row)
    carriers = cur.execute(
        "SELECT c.id, c.name, c.enabled, vc.contract_id FROM vendor_mgmt.carriers vc "
        "JOIN routing.carriers c ON c.id = vc.carrier_id WHERE vc.vendor_id = %s ORDER BY c.name",
        (vendor_id,),
    ).fetchall()
    providers = cur.execute(
        "SELECT id, name, provider_type, capabilities, enabled, health_status FROM vendor_mgmt.service_providers "
        "WHERE vendor_id = %s ORDER BY priority, name",
        (vendor_id,),
    ).fetchall()
    incidents = cur.execute(
        "SELECT id, title, severity, status, observed_value, target_value, window_start_at, opened_at "
        "FROM vendor_mgmt.incidents WHERE vendor_id = %s AND status IN ('OPEN', 'ACKNOWLEDGED') "
        "ORDER BY opened_at DESC, id LIMIT 100",
        (vendor_id,),
    ).fetchall()
    slas = cur.execute(
        "SELECT id, carrier_id, metric, comparator, target_value, measurement_window, enabled FROM vendor_mgmt.slas "
        "WHERE vendor_id = %s ORDER BY metric, created_at, id",
        (vendor_id,),
    ).fetchall()
    return {
        "vendor": vendor,
        "contracts": list_contracts(conn, vendor_id),
        "slas": slas,
        "carriers": carriers,
        "providers": providers,
        "open_incidents": incidents,
    }


# --- contracts --------------------------------------------------------------------------------


def _check_contract(f: dict[str, Any]) -> dict[str, Any]:
    out = dict(f)
    name = (out.get("name") or "").strip()
    if not name or len(name) > 200:
        raise InvalidContract("name: must be 1-200 characters")
    out["name"] = name
    status = str(out.get("status") or "").upper()
    if status not in CONTRACT_STATUSES:
        raise InvalidContract(f"status: {out.get('status')!r} is not one of {', '.join(CONTRACT_STATUSES)}")
    out["status"] = status
    start, end = out.get("start_date"), out.get("end_date")
    if not isinstance(start, date):
        raise InvalidContract("start_date: required (YYYY-MM-DD)")
    if end is not None and end < start:
        raise InvalidContract(f"end_date: {end} is before start_date {start}")
    period = out.get("commitment_period")
    if period is not None:
        period = str(period).upper()
        if period not in COMMITMENT_PERIODS:
            raise InvalidContract(
                f"commitment_period: {out['commitment_period']!r} is not one of {', '.join(COMMITMENT_PERIODS)}"
            )
        out["commitment_period"] = period
    amount, minutes = out.get("commitment_amount"), out.get("commitment_minutes")
    if amount is not None:
        amount = Decimal(str(amount))
        if amount < 0 or amount != amount.quantize(Decimal("0.01")) or amount >= Decimal("1e10"):
            raise InvalidContract(f"commitment_amount: {amount} must be >= 0 with at most 2 decimals")
        out["commitment_amount"] = amount
    if minutes is not None and minutes < 0:
        raise InvalidContract(f"commitment_minutes: {minutes} must be >= 0")
    if (amount is not None or minutes is not None) and period is None:
        raise InvalidContract("commitment_period: required with a commitment (MONTHLY, QUARTERLY or ANNUAL)")
    if period is not None and amount is None and minutes is None:
        raise InvalidContract("commitment_period: given without commitment_amount or commitment_minutes")
    currency = str(out.get("currency") or "").upper()
    if not CURRENCY.match(currency):
        raise InvalidContract(f"currency: {out.get('currency')!r} is not an ISO 4217 code (USD)")
    out["currency"] = currency
    for field in ("payment_terms_days", "renewal_notice_days"):
        if out.get(field) is not None and out[field] < 0:
            raise InvalidContract(f"{field}: {out[field]} must be >= 0")
    return out


def add_contract(
    conn: psycopg.Connection[Any],
    vendor_id: UUID,
    *,
    name: str,
    start_date: date,
    end_date: date | None = None,
    status: str = "ACTIVE",
    auto_renew: bool = False,
    renewal_notice_days: int | None = None,
    commitment_amount: Decimal | None = None,
    commitment_period: str | None = None,
    commitment_minutes: int | None = None,
    currency: str = "USD",
    payment_terms_days: int | None = None,
    terms: str | None = None,
    document_ref: str | None = None,
) -> Contract:
    """Add a contract to a vendor: end_date on or after start_date, a commitment needs its period."""
    get_vendor(conn, vendor_id)
    f = _check_contract(
        {
            "vendor_id": vendor_id,
            "name": name,
            "status": status,
            "start_date": start_date,
            "end_date": end_date,
            "auto_renew": auto_renew,
            "renewal_notice_days": renewal_notice_days,
            "commitment_amount": commitment_amount,
            "commitment_period": commitment_period,
            "commitment_minutes": commitment_minutes,
            "currency": currency,
            "payment_terms_days": payment_terms_days,
            "terms": terms,
            "document_ref": document_ref,
        }
    )
    cols = list(f)
    stmt = sql.SQL(
        "INSERT INTO vendor_mgmt.contracts ({}) VALUES ({}) RETURNING " + _CONTRACT_COLUMNS
    ).format(sql.SQL(", ").join(map(sql.Identifier, cols)), sql.SQL(", ").join(map(sql.Placeholder, cols)))
    with _mapped(InvalidContract, f"contract {f['name']!r}"), conn.transaction():
        row = conn.cursor(row_factory=class_row(Contract)).execute(stmt, f).fetchone()
    assert row is not None
    return row


def get_contract(conn: psycopg.Connection[Any], contract_id: UUID, vendor_id: UUID | None = None) -> Contract:
    """One contract (of ``vendor_id`` when given); ContractNotFound otherwise."""
    row = (
        conn.cursor(row_factory=class_row(Contract))
        .execute(
            f"SELECT {_CONTRACT_COLUMNS} FROM vendor_mgmt.contracts "
            "WHERE id = %s AND (%s::uuid IS NULL OR vendor_id = %s)",
            (contract_id, vendor_id, vendor_id),
        )
        .fetchone()
    )
    if row is None:
        raise ContractNotFound(
            f"contract {contract_id}: not found" + (f" for vendor {vendor_id}" if vendor_id else "")
        )
    return row


def list_contracts(
    conn: psycopg.Connection[Any],
    vendor_id: UUID,
    *,
    limit: int = 1000,
    after: tuple[datetime, UUID] | None = None,
    status: str | None = None,
) -> list[Contract]:
    """A vendor's contracts, oldest first, after the (created_at, id) key; optionally of one status."""
    return (
        conn.cursor(row_factory=class_row(Contract))
        .execute(
            f"SELECT {_CONTRACT_COLUMNS} FROM vendor_mgmt.contracts WHERE vendor_id = %(v)s "
            "AND (%(s)s::text IS NULL OR status = %(s)s) "
            "AND (%(t)s::timestamptz IS NULL OR (created_at, id) > (%(t)s, %(i)s)) "
            "ORDER BY created_at, id LIMIT %(n)s",
            {
                "v": vendor_id,
                "s": status.upper() if status else None,
                "t": after[0] if after else None,
                "i": after[1] if after else None,
                "n": limit,
            },
        )
        .fetchall()
    )


def end_contract(
    conn: psycopg.Connection[Any],
    contract_id: UUID,
    *,
    end_date: date | None = None,
    vendor_id: UUID | None = None,
) -> Contract:
    """Terminate a contract on ``end_date`` (default today, UTC): status TERMINATED, end_date set.

    The end date must not be before the start date; an ended (TERMINATED/EXPIRED) contract cannot end again.
    """
    current = get_contract(conn, contract_id, vendor_id)
    if current.status in ("TERMINATED", "EXPIRED"):
        raise InvalidContract(f"status: contract {current.name!r} is already {current.status}")
    when = end_date or datetime.now(UTC).date()
    if when < current.start_date:
        raise InvalidContract(f"end_date: {when} is before start_date {current.start_date}")
    with _mapped(InvalidContract, f"contract {current.name!r}"), conn.transaction():
        row = (
            conn.cursor(row_factory=class_row(Contract))
            .execute(
                f"UPDATE vendor_mgmt.contracts SET status = 'TERMINATED', end_date = %s WHERE id = %s "
                f"RETURNING {_CONTRACT_COLUMNS}",
                (when, contract_id),
            )
            .fetchone()
        )
    assert row is not None
    return row


def commitments(
    conn: psycopg.Connection[Any],
    start: date,
    end: date,
    *,
    vendor_id: UUID | None = None,
    contract_id: UUID | None = None,
    refresh: bool = False,
) -> list[dict[str, Any]]:
    """Per contract with a commitment and per commitment period overlapping [start, end): committed vs actual.

    Call traffic comes from reporting.carrier_performance as of its last refresh (maintenance refreshes
    it every few minutes); ``refresh`` refreshes it first (concurrently: readers are not blocked).

    Columns: contract_id, vendor_id, vendor_name, contract_name, currency, commitment_period, period_start,
    period_end (exclusive), in_progress, committed_amount, actual_spend, spend_shortfall, committed_minutes,
    actual_minutes, minutes_shortfall, met (see vendor_mgmt.contract_commitments).
    """
    if end <= start:
        raise InvalidPeriod(f"to: {end} must be after from {start}")
    if refresh:
        refresh_view(conn, "carrier_performance")
    return (
        conn.cursor(row_factory=dict_row)
        .execute(
            "SELECT * FROM vendor_mgmt.contract_commitments(%(f)s, %(t)s) "
            "WHERE (%(v)s::uuid IS NULL OR vendor_id = %(v)s) AND (%(c)s::uuid IS NULL OR contract_id = %(c)s)",
            {"f": start, "t": end, "v": vendor_id, "c": contract_id},
        )
        .fetchall()
    )


DEFAULT_NOTICE_DAYS = 30


def contracts_due(conn: psycopg.Connection[Any], today: date | None = None) -> list[dict[str, Any]]:
    """ACTIVE contracts needing a decision: ending within their renewal notice (default 30 days), or
    already past their end date while still ACTIVE. Each row says which (``reason``), days left, auto_renew."""
    day = today or datetime.now(UTC).date()
    return (
        conn.cursor(row_factory=dict_row)
        .execute(
            "SELECT k.id AS contract_id, k.vendor_id, v.name AS vendor_name, k.name AS contract_name, k.end_date, "
            "k.auto_renew, coalesce(k.renewal_notice_days, %(d)s) AS notice_days, k.end_date - %(t)s AS days_left, "
            "CASE WHEN k.end_date < %(t)s THEN 'ENDED_STILL_ACTIVE' "
            "     WHEN k.auto_renew THEN 'AUTO_RENEWS_SOON' ELSE 'ENDS_SOON' END AS reason "
            "FROM vendor_mgmt.contracts k JOIN vendor_mgmt.vendors v ON v.id = k.vendor_id "
            "WHERE k.status = 'ACTIVE' AND k.end_date IS NOT NULL "
            "AND k.end_date - %(t)s <= coalesce(k.renewal_notice_days, %(d)s) "
            "ORDER BY k.end_date, v.name, k.name",
            {"t": day, "d": DEFAULT_NOTICE_DAYS},
        )
        .fetchall()
    )
