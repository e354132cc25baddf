"""SLA targets of vendors (and their carriers/contracts) and the workflow of vendor incidents.

SLAs are evaluated by vendor_mgmt.check_sla_breaches (see :mod:`warp.vendors.metrics`): ASR, ACD, PDD
and NER per carrier; UPTIME per carrier (hourly metrics) or per vendor (its providers' health checks);
DELIVERY_RATE per vendor (its providers' messages).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg
from psycopg import errors, sql
from psycopg.rows import class_row

from warp.vendors.contracts import get_vendor
from warp.vendors.errors import IncidentNotFound, InvalidIncidentStatus, InvalidSla, SlaNotFound

METRICS = ("ASR", "ACD", "PDD", "NER", "UPTIME", "DELIVERY_RATE")
PERCENT_METRICS = ("ASR", "NER", "UPTIME", "DELIVERY_RATE")
CARRIER_METRICS = ("ASR", "ACD", "PDD", "NER")  # measured on a carrier's CDRs only
WINDOWS = ("HOUR", "DAY", "MONTH")
INCIDENT_STATUSES = ("OPEN", "ACKNOWLEDGED", "RESOLVED", "CLOSED")
# Vendor incident workflow: acknowledge, resolve, close; a resolved incident may reopen; CLOSED is final.
TRANSITIONS = {
    "OPEN": ("ACKNOWLEDGED", "RESOLVED"),
    "ACKNOWLEDGED": ("RESOLVED",),
    "RESOLVED": ("CLOSED", "OPEN"),
    "CLOSED": (),
}


@dataclass(frozen=True)
class Sla:
    """A row of vendor_mgmt.slas."""

    id: UUID
    vendor_id: UUID
    contract_id: UUID | None
    carrier_id: UUID | None
    metric: str
    comparator: str
    target_value: Decimal
    measurement_window: str
    description: str | None
    enabled: bool
    effective_date: date
    expires_date: date | None
    created_at: datetime


@dataclass(frozen=True)
class Incident:
    """A row of vendor_mgmt.incidents."""

    id: UUID
    vendor_id: UUID
    carrier_id: UUID | None
    sla_id: UUID | None
    title: str
    description: str | None
    severity: str
    status: str
    observed_value: Decimal | None
    target_value: Decimal | None
    window_start_at: datetime | None
    external_ticket_ref: str | None
    opened_at: datetime
    resolved_at: datetime | None
    closed_at: datetime | None
    created_at: datetime


_SLA_COLUMNS = (
    "id, vendor_id, contract_id, carrier_id, metric, comparator, target_value, measurement_window, description, "
    "enabled, effective_date, expires_date, created_at"
)
_INCIDENT_COLUMNS = (
    "id, vendor_id, carrier_id, sla_id, title, description, severity, status, observed_value, target_value, "
    "window_start_at, external_ticket_ref, opened_at, resolved_at, closed_at, created_at"
)


def add_sla(
    conn: psycopg.Connection[Any],
    vendor_id: UUID,
    *,
    metric: str,
    target_value: Decimal,
    comparator: str | None = None,
    measurement_window: str = "DAY",
    carrier_id: UUID | None = None,
    contract_id: UUID | None = None,
    description: str | None = None,
    effective_date: date | None = None,
    expires_date: date | None = None,
) -> Sla:
    """Add an SLA target; the comparator defaults to LTE for PDD (a delay) and GTE for the others."""
    get_vendor(conn, vendor_id)
    metric = metric.upper()
    if metric not in METRICS:
        raise InvalidSla(f"metric: {metric!r} is not one of {', '.join(METRICS)}")
    comparator = (comparator or ("LTE" if metric == "PDD" else "GTE")).upper()
    if comparator not in ("GTE", "LTE"):
        raise InvalidSla(f"comparator: {comparator!r} is not GTE or LTE")
    window = measurement_window.upper()
    if window not in WINDOWS:
        raise InvalidSla(f"measurement_window: {measurement_window!r} is not one of {', '.join(WINDOWS)}")
    target = Decimal(str(target_value))
    if target < 0 or (metric in PERCENT_METRICS and target > 100):
        raise InvalidSla(
            f"target_value: {target} is out of range for {metric} ("
            + ("a percentage 0-100)" if metric in PERCENT_METRICS else ">= 0)")
        )
    if metric in CARRIER_METRICS and carrier_id is None:
        raise InvalidSla(f"carrier_id: {metric} is measured on a carrier's calls; name the carrier")
    if metric == "DELIVERY_RATE" and carrier_id is not None:
        raise InvalidSla(
            "carrier_id: DELIVERY_RATE is measured on the vendor's messaging providers, not a carrier"
        )
    if carrier_id is not None:
        row = conn.execute(
            "SELECT vendor_id FROM vendor_mgmt.carriers WHERE carrier_id = %s", (carrier_id,)
        ).fetchone()
        owner = None if row is None else (row["vendor_id"] if isinstance(row, dict) else row[0])
        if owner != vendor_id:
            raise InvalidSla(f"carrier_id: carrier {carrier_id} is not a carrier of vendor {vendor_id}")
    if contract_id is not None:
        row = conn.execute(
            "SELECT 1 FROM vendor_mgmt.contracts WHERE id = %s AND vendor_id = %s", (contract_id, vendor_id)
        ).fetchone()
        if row is None:
            raise InvalidSla(f"contract_id: contract {contract_id} is not a contract of vendor {vendor_id}")
    effective = effective_date or datetime.now(UTC).date()
    if expires_date is not None and expires_date <= effective:
        raise InvalidSla(f"expires_date: {expires_date} must be after effective_date {effective}")
    try:
        with conn.transaction():
            row = (
                conn.cursor(row_factory=class_row(Sla))
                .execute(
                    "INSERT INTO vendor_mgmt.slas (vendor_id, contract_id, carrier_id, metric, comparator, "
                    "target_value, measurement_window, description, effective_date, expires_date) "
                    f"VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING {_SLA_COLUMNS}",
                    (
                        vendor_id,
                        contract_id,
                        carrier_id,
                        metric,
                        comparator,
                        target,
                        window,
                        description,
                        effective,
                        expires_date,
                    ),
                )
                .fetchone()
            )
    except (errors.CheckViolation, errors.NumericValueOutOfRange) as exc:
        name = getattr(exc.diag, "constraint_name", None) or "target_value"
        raise InvalidSla(f"{name}: refused ({exc.diag.message_primary})") from exc
    assert row is not None
    return row


def list_slas(
    conn: psycopg.Connection[Any], vendor_id: UUID | None = None, *, enabled_only: bool = False
) -> list[Sla]:
    """SLAs (of one vendor), by vendor, metric and creation."""
    return (
        conn.cursor(row_factory=class_row(Sla))
        .execute(
            f"SELECT {_SLA_COLUMNS} FROM vendor_mgmt.slas WHERE (%(v)s::uuid IS NULL OR vendor_id = %(v)s) "
            "AND (NOT %(e)s OR enabled) ORDER BY vendor_id, metric, created_at, id",
            {"v": vendor_id, "e": enabled_only},
        )
        .fetchall()
    )


def set_sla_enabled(
    conn: psycopg.Connection[Any], sla_id: UUID, enabled: bool, *, vendor_id: UUID | None = None
) -> Sla:
    """Enable or disable an SLA (a disabled one is not evaluated)."""
    row = (
        conn.cursor(row_factory=class_row(Sla))
        .execute(
            f"UPDATE vendor_mgmt.slas SET enabled = %s WHERE id = %s AND (%s::uuid IS NULL OR vendor_id = %s) "
            f"RETURNING {_SLA_COLUMNS}",
            (enabled, sla_id, vendor_id, vendor_id),
        )
        .fetchone()
    )
    if row is None:
        raise SlaNotFound(f"SLA {sla_id}: not found")
    return row


def list_incidents(
    conn: psycopg.Connection[Any],
    *,
    vendor_id: UUID | None = None,
    status: str | None = None,
    open_only: bool = False,
    limit: int = 1000,
    after: tuple[datetime, UUID] | None = None,
) -> list[Incident]:
    """Vendor incidents, oldest first after the (created_at, id) key; by vendor, status, or only OPEN/ACKNOWLEDGED."""
    where = [sql.SQL("true")]
    params: list[Any] = []
    if vendor_id is not None:
        where.append(sql.SQL("vendor_id = %s"))
        params.append(vendor_id)
    if status is not None:
        where.append(sql.SQL("status = %s"))
        params.append(status.upper())
    if open_only:
        where.append(sql.SQL("status IN ('OPEN', 'ACKNOWLEDGED')"))
    if after is not None:
        where.append(sql.SQL("(created_at, id) > (%s, %s)"))
        params.extend(after)
    stmt = sql.SQL(
        "SELECT "
        + _INCIDENT_COLUMNS
        + " FROM vendor_mgmt.incidents WHERE {} ORDER BY created_at, id LIMIT %s"
    ).format(sql.SQL(" AND ").join(where))
    return conn.cursor(row_factory=class_row(Incident)).execute(stmt, [*params, limit]).fetchall()


def set_incident_status(
    conn: psycopg.Connection[Any],
    incident_id: UUID,
    status: str,
    *,
    external_ticket_ref: str | None = None,
) -> Incident:
    """Move a vendor incident along OPEN -> ACKNOWLEDGED -> RESOLVED -> CLOSED (RESOLVED may reopen)."""
    status = status.upper()
    if status not in INCIDENT_STATUSES:
        raise InvalidIncidentStatus(f"status: {status!r} is not one of {', '.join(INCIDENT_STATUSES)}")
    row = conn.execute(
        "SELECT status FROM vendor_mgmt.incidents WHERE id = %s FOR UPDATE", (incident_id,)
    ).fetchone()
    if row is None:
        raise IncidentNotFound(f"vendor incident {incident_id}: not found")
    current = row["status"] if isinstance(row, dict) else row[0]
    if status != current and status not in TRANSITIONS[current]:
        allowed = ", ".join(TRANSITIONS[current]) or "none (CLOSED is final)"
        raise InvalidIncidentStatus(f"status: {current} cannot become {status} (allowed: {allowed})")
    updated = (
        conn.cursor(row_factory=class_row(Incident))
        .execute(
            "UPDATE vendor_mgmt.incidents SET status = %(s)s::text, "
            "external_ticket_ref = coalesce(%(t)s, external_ticket_ref), "
            "resolved_at = CASE WHEN %(s)s::text = 'OPEN' THEN NULL "
            "                   WHEN %(s)s::text IN ('RESOLVED', 'CLOSED') THEN coalesce(resolved_at, now()) "
            "                   ELSE resolved_at END, "
            "closed_at = CASE WHEN %(s)s::text = 'CLOSED' THEN coalesce(closed_at, now()) ELSE closed_at END "
            f"WHERE id = %(i)s RETURNING {_INCIDENT_COLUMNS}",
            {"s": status, "t": external_ticket_ref, "i": incident_id},
        )
        .fetchone()
    )
    assert updated is not None
    return updated
