"""Vendor management for staff: vendors, contracts and commitments, service providers, carrier metrics."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from warp.api.deps import Tx, WarpRoute, require
from warp.api.pagination import DEFAULT_LIMIT, CursorParam, LimitParam, Page, decode_cursor, page
from warp.vendors import contracts as svc
from warp.vendors import metrics, service, slas
from warp.vendors.contracts import Contract, Vendor
from warp.vendors.errors import InvalidPeriod, InvalidVendor
from warp.vendors.slas import Incident, Sla

router = APIRouter(tags=["vendors"], route_class=WarpRoute)

VendorType = Annotated[
    str, Field(pattern=r"^(CARRIER|MESSAGING|NUMBERING|LRN|E911|CNAM|TAX|PAYMENTS|OTHER)$")
]
VendorStatus = Annotated[str, Field(pattern=r"^(ACTIVE|INACTIVE|TERMINATED)$")]
ContractStatus = Annotated[str, Field(pattern=r"^(DRAFT|ACTIVE|EXPIRED|TERMINATED)$")]
Period = Annotated[str, Field(pattern=r"^(MONTHLY|QUARTERLY|ANNUAL)$")]
Phone = Annotated[str, Field(pattern=r"^\+[1-9][0-9]{1,14}$", description="E.164.")]
Email = Annotated[str, Field(max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
Money = Annotated[Decimal, Field(ge=0, lt=Decimal("1e10"), decimal_places=2)]
MAX_METRICS_SPAN = timedelta(days=93)


class VendorIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    vendor_type: VendorType
    status: VendorStatus = "ACTIVE"
    website: str | None = Field(default=None, max_length=2000)
    support_email: Email | None = None
    support_phone: Phone | None = None
    notes: str | None = Field(default=None, max_length=10_000)


class VendorPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    vendor_type: VendorType | None = None
    status: VendorStatus | None = None
    website: str | None = Field(default=None, max_length=2000)
    support_email: Email | None = None
    support_phone: Phone | None = None
    notes: str | None = Field(default=None, max_length=10_000)


class ContractIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    start_date: date
    end_date: date | None = Field(default=None, description="Last day, inclusive; none: open-ended.")
    status: ContractStatus = "ACTIVE"
    auto_renew: bool = False
    renewal_notice_days: int | None = Field(default=None, ge=0, le=3650)
    commitment_amount: Money | None = Field(default=None, description="Minimum spend per commitment period.")
    commitment_minutes: int | None = Field(default=None, ge=0, le=10**12)
    commitment_period: Period | None = None
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    payment_terms_days: int | None = Field(default=None, ge=0, le=3650)
    terms: str | None = Field(default=None, max_length=10_000)
    document_ref: str | None = Field(default=None, max_length=2000)


class ContractEnd(BaseModel):
    model_config = ConfigDict(extra="forbid")

    end_date: date | None = Field(default=None, description="Last day (default: today, UTC).")


class ProviderOut(BaseModel):
    id: UUID
    vendor_id: UUID | None
    name: str
    provider_type: str
    capabilities: list[str]
    config: dict[str, Any] = Field(description="Plugin configuration; credentials appear only as references.")
    priority: int
    enabled: bool
    health_status: str
    last_health_check_at: datetime | None
    last_health_error: str | None


_NULLABLE_VENDOR = {"website", "support_email", "support_phone", "notes"}


def _period(start: datetime | None, end: datetime | None, default: timedelta) -> tuple[datetime, datetime]:
    end = end or datetime.now(UTC)
    start = start or end - default
    start = start if start.tzinfo else start.replace(tzinfo=UTC)
    end = end if end.tzinfo else end.replace(tzinfo=UTC)
    if end <= start:
        raise InvalidPeriod(f"to: {end.isoformat()} must be after from {start.isoformat()}")
    if end - start > MAX_METRICS_SPAN:
        raise InvalidPeriod(f"from: the period may span at most {MAX_METRICS_SPAN.days} days")
    return start, end


# --- vendors ---------------------------------------------------------------------------------


@router.get("/v1/vendors")
def list_vendors(
    vendor_type: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_]{1,16}$")] = None,
    status: Annotated[str | None, Query(pattern=r"^[A-Za-z]{1,16}$")] = None,
    limit: LimitParam = DEFAULT_LIMIT,
    cursor: CursorParam = None,
    tx: Tx = require("staff:read"),
) -> Page[Vendor]:
    """Vendors, oldest first (staff)."""
    rows = svc.list_vendors(
        tx.conn, limit=limit + 1, after=decode_cursor(cursor), vendor_type=vendor_type, status=status
    )
    return page(rows, limit, lambda r: r)


@router.post("/v1/vendors", status_code=201)
def create_vendor(body: VendorIn, tx: Tx = require("staff:write")) -> Vendor:
    """Create a vendor (409 when the name is taken)."""
    return svc.create_vendor(tx.conn, **body.model_dump())


@router.get("/v1/vendors/commitments")
def commitments(
    start: date | None = Query(None, alias="from", description="First day (default: first of this month)."),
    end: date | None = Query(None, alias="to", description="Day after the last (default: a month later)."),
    vendor_id: UUID | None = Query(None, description="Only this vendor."),
    tx: Tx = require("staff:read"),
) -> dict[str, Any]:
    """Committed spend and minutes per contract period against actual vendor cost and minutes (staff)."""
    first = datetime.now(UTC).date().replace(day=1)
    t0 = start or first
    t1 = end or (t0 + timedelta(days=32)).replace(day=1)
    if t1 <= t0:
        raise InvalidPeriod(f"to: {t1} must be after from {t0}")
    if (t1 - t0).days > 3 * 366 + 1:
        raise InvalidPeriod("from: the period may span at most 3 years")
    return {"data": svc.commitments(tx.conn, t0, t1, vendor_id=vendor_id), "from": t0, "to": t1}


@router.get("/v1/vendors/contracts-due")
def contracts_due(tx: Tx = require("staff:read")) -> dict[str, Any]:
    """ACTIVE contracts ending within their renewal notice (default 30 days) or already past their end date."""
    return {"data": svc.contracts_due(tx.conn)}


@router.get("/v1/vendors/{vendor_id}")
def get_vendor(vendor_id: UUID, tx: Tx = require("staff:read")) -> Vendor:
    """One vendor."""
    return svc.get_vendor(tx.conn, vendor_id)


@router.patch("/v1/vendors/{vendor_id}")
def update_vendor(vendor_id: UUID, body: VendorPatch, tx: Tx = require("staff:write")) -> Vendor:
    """Change a vendor (optional fields may be set to null)."""
    changes = body.model_dump(exclude_unset=True)
    nulls = sorted(k for k, v in changes.items() if v is None and k not in _NULLABLE_VENDOR)
    if nulls:
        raise InvalidVendor(f"{', '.join(nulls)}: must not be null")
    return svc.update_vendor(tx.conn, vendor_id, **changes)


# --- contracts -------------------------------------------------------------------------------


@router.get("/v1/vendors/{vendor_id}/contracts")
def list_contracts(
    vendor_id: UUID,
    status: Annotated[str | None, Query(pattern=r"^[A-Za-z]{1,16}$")] = None,
    limit: LimitParam = DEFAULT_LIMIT,
    cursor: CursorParam = None,
    tx: Tx = require("staff:read"),
) -> Page[Contract]:
    """A vendor's contracts, oldest first."""
    svc.get_vendor(tx.conn, vendor_id)
    rows = svc.list_contracts(tx.conn, vendor_id, limit=limit + 1, after=decode_cursor(cursor), status=status)
    return page(rows, limit, lambda r: r)


@router.post("/v1/vendors/{vendor_id}/contracts", status_code=201)
def add_contract(vendor_id: UUID, body: ContractIn, tx: Tx = require("staff:write")) -> Contract:
    """Add a contract: end_date on or after start_date; a commitment needs its commitment_period."""
    return svc.add_contract(tx.conn, vendor_id, **body.model_dump())


@router.get("/v1/vendors/{vendor_id}/contracts/{contract_id}")
def get_contract(vendor_id: UUID, contract_id: UUID, tx: Tx = require("staff:read")) -> Contract:
    """One contract of the vendor."""
    return svc.get_contract(tx.conn, contract_id, vendor_id)


@router.post("/v1/vendors/{vendor_id}/contracts/{contract_id}/end")
def end_contract(
    vendor_id: UUID, contract_id: UUID, body: ContractEnd, tx: Tx = require("staff:write")
) -> Contract:
    """Terminate the contract on end_date (default today): 422 if before its start or already ended."""
    return svc.end_contract(tx.conn, contract_id, end_date=body.end_date, vendor_id=vendor_id)


# --- service providers and carrier metrics ---------------------------------------------------


@router.get("/v1/providers")
def list_providers(
    capability: Annotated[str | None, Query(pattern=r"^[a-z0-9_]{1,32}$")] = None,
    tx: Tx = require("staff:read"),
) -> Page[ProviderOut]:
    """Service providers in failover order (priority, name) with their last health state; one page."""
    rows = service.list_providers(tx.conn, capability)
    return Page[ProviderOut](data=[ProviderOut.model_validate(r) for r in rows], next_cursor=None)


class HealthCheckOut(BaseModel):
    id: UUID
    status: str
    latency_ms: Decimal | None
    error: str | None
    checked_at: datetime


ProviderName = Annotated[str, Path(min_length=1, max_length=100)]


@router.get("/v1/providers/{name}/health-checks")
def provider_health_checks(
    name: ProviderName,
    limit: LimitParam = DEFAULT_LIMIT,
    cursor: CursorParam = None,
    tx: Tx = require("staff:read"),
) -> Page[HealthCheckOut]:
    """A provider's health-check history (explicit checks and failures seen by failover), newest first."""
    rows = service.health_history(tx.conn, name, limit=limit + 1, before=decode_cursor(cursor))
    return page(rows, limit, HealthCheckOut.model_validate, key=lambda r: (r["checked_at"], r["id"]))


@router.get("/v1/carriers/{carrier_id}/metrics")
def carrier_metrics(
    carrier_id: UUID,
    start: datetime | None = Query(None, alias="from", description="Start (default: 24 hours ago)."),
    end: datetime | None = Query(
        None, alias="to", description="End, exclusive (default: now); at most 93 days."
    ),
    tx: Tx = require("staff:read"),
) -> dict[str, Any]:
    """Hourly carrier quality from CDRs (attempts, ASR %, ACD s, PDD ms, NER %) and its totals over the period."""
    s, e = _period(start, end, timedelta(hours=24))
    return {**metrics.carrier_hourly(tx.conn, carrier_id, s, e), "from": s, "to": e}


# --- SLAs and vendor incidents ---------------------------------------------------------------

Metric = Annotated[str, Field(pattern=r"^(ASR|ACD|PDD|NER|UPTIME|DELIVERY_RATE)$")]
Window = Annotated[str, Field(pattern=r"^(HOUR|DAY|MONTH)$")]
IncidentStatus = Annotated[str, Field(pattern=r"^(OPEN|ACKNOWLEDGED|RESOLVED|CLOSED)$")]


class SlaIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    metric: Metric
    target_value: Annotated[Decimal, Field(ge=0, lt=Decimal("1e8"), decimal_places=4)]
    comparator: Annotated[str, Field(pattern=r"^(GTE|LTE)$")] | None = Field(
        default=None, description="Default: LTE for PDD, GTE otherwise."
    )
    measurement_window: Window = "DAY"
    carrier_id: UUID | None = Field(default=None, description="Required for ASR, ACD, PDD, NER.")
    contract_id: UUID | None = None
    description: str | None = Field(default=None, max_length=2000)
    effective_date: date | None = Field(default=None, description="Default: today (UTC).")
    expires_date: date | None = None


class SlaPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool


class IncidentStatusIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: IncidentStatus
    external_ticket_ref: str | None = Field(default=None, min_length=1, max_length=128)


@router.get("/v1/vendors/{vendor_id}/slas")
def list_slas(vendor_id: UUID, tx: Tx = require("staff:read")) -> Page[Sla]:
    """The vendor's SLA targets (one page)."""
    svc.get_vendor(tx.conn, vendor_id)
    return Page[Sla](data=slas.list_slas(tx.conn, vendor_id), next_cursor=None)


@router.post("/v1/vendors/{vendor_id}/slas", status_code=201)
def add_sla(vendor_id: UUID, body: SlaIn, tx: Tx = require("staff:write")) -> Sla:
    """Add an SLA target (carrier metrics need a carrier of this vendor; DELIVERY_RATE is per vendor)."""
    return slas.add_sla(tx.conn, vendor_id, **body.model_dump())


@router.patch("/v1/vendors/{vendor_id}/slas/{sla_id}")
def update_sla(vendor_id: UUID, sla_id: UUID, body: SlaPatch, tx: Tx = require("staff:write")) -> Sla:
    """Enable or disable an SLA."""
    return slas.set_sla_enabled(tx.conn, sla_id, body.enabled, vendor_id=vendor_id)


@router.get("/v1/vendor-incidents")
def list_incidents(
    vendor_id: UUID | None = None,
    status: Annotated[str | None, Query(pattern=r"^[A-Za-z]{1,16}$")] = None,
    open_only: bool = Query(False, alias="open", description="Only OPEN and ACKNOWLEDGED incidents."),
    limit: LimitParam = DEFAULT_LIMIT,
    cursor: CursorParam = None,
    tx: Tx = require("staff:read"),
) -> Page[Incident]:
    """Vendor incidents (SLA breaches and others), oldest first."""
    rows = slas.list_incidents(
        tx.conn,
        vendor_id=vendor_id,
        status=status,
        open_only=open_only,
        limit=limit + 1,
        after=decode_cursor(cursor),
    )
    return page(rows, limit, lambda r: r)


@router.post("/v1/vendor-incidents/{incident_id}/status")
def set_incident_status(
    incident_id: UUID, body: IncidentStatusIn, tx: Tx = require("staff:write")
) -> Incident:
    """Acknowledge, resolve, close (or reopen a resolved) vendor incident; 422 for a step not allowed."""
    return slas.set_incident_status(
        tx.conn, incident_id, body.status, external_ticket_ref=body.external_ticket_ref
    )
