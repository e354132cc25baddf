"""10DLC: brands and campaigns with their status lifecycles, and number <-> campaign assignment.

Registration goes through a :class:`Registrar` (the campaign registry / a vendor's 10DLC API);
WARP ships :class:`LocalRegistrar`, which makes no external call and leaves everything PENDING
until a status update arrives (``set_brand_status`` / ``set_campaign_status``, e.g. from a vendor
callback or staff).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from warp.messaging import errors

Conn = psycopg.Connection[Any]

BRAND_TRANSITIONS = {
    "PENDING": {"VERIFIED", "UNVERIFIED", "VETTED_VERIFIED"},
    "UNVERIFIED": {"VERIFIED", "VETTED_VERIFIED"},
    "VERIFIED": {"VETTED_VERIFIED", "UNVERIFIED"},
    "VETTED_VERIFIED": {"UNVERIFIED"},
}
CAMPAIGN_TRANSITIONS = {
    "PENDING": {"APPROVED", "REJECTED", "SUSPENDED"},
    "APPROVED": {"SUSPENDED"},
    "SUSPENDED": {"APPROVED"},
    "REJECTED": set(),
}
USABLE_BRAND = {"VERIFIED", "VETTED_VERIFIED"}


@dataclass(frozen=True)
class Brand:
    id: UUID
    account_id: UUID
    legal_name: str
    dba_name: str | None
    entity_type: str
    tax_id: str | None
    vertical: str | None
    website: str | None
    country: str
    status: str
    external_ref: str | None
    submitted_at: datetime | None
    verified_at: datetime | None
    created_at: datetime


@dataclass(frozen=True)
class Campaign:
    id: UUID
    account_id: UUID
    brand_id: UUID
    name: str
    use_case: str
    description: str
    sample_messages: list[str]
    message_flow: str | None
    opt_in_message: str | None
    opt_out_message: str | None
    help_message: str | None
    status: str
    throughput_mps: int | None
    external_ref: str | None
    rejection_reason: str | None
    submitted_at: datetime | None
    approved_at: datetime | None
    created_at: datetime


BRAND_COLUMNS = (
    "id, account_id, legal_name, dba_name, entity_type, tax_id, vertical, website, country, status, external_ref, "
    "submitted_at, verified_at, created_at"
)
CAMPAIGN_COLUMNS = (
    "id, account_id, brand_id, name, use_case, description, sample_messages, message_flow, opt_in_message, "
    "opt_out_message, help_message, status, throughput_mps, external_ref, rejection_reason, submitted_at, "
    "approved_at, created_at"
)


class Registrar(Protocol):
    """Submits brands and campaigns to the registry; returns the registry's reference."""

    def register_brand(self, brand: Brand) -> str: ...

    def register_campaign(self, campaign: Campaign, brand: Brand) -> str: ...


class LocalRegistrar:
    """No external call: a local reference, status stays PENDING."""

    def register_brand(self, brand: Brand) -> str:
        return f"B{uuid.uuid4().hex[:6].upper()}"

    def register_campaign(self, campaign: Campaign, brand: Brand) -> str:
        return f"C{uuid.uuid4().hex[:6].upper()}"


def create_brand(conn: Conn, registrar: Registrar, *, account_id: UUID, **fields: Any) -> Brand:
    """Create and submit a brand (PENDING)."""
    cur = conn.cursor(row_factory=dict_row)
    names = ["account_id", *fields]
    row = cur.execute(
        f"INSERT INTO messaging.brands_10dlc ({', '.join(names)}, submitted_at) "
        f"VALUES ({', '.join(['%s'] * len(names))}, now()) RETURNING {BRAND_COLUMNS}",
        [account_id, *fields.values()],
    ).fetchone()
    assert row is not None
    brand = Brand(**row)
    ref = registrar.register_brand(brand)
    row = cur.execute(
        f"UPDATE messaging.brands_10dlc SET external_ref = %s WHERE id = %s RETURNING {BRAND_COLUMNS}",
        (ref, brand.id),
    ).fetchone()
    assert row is not None
    return Brand(**row)


def get_brand(conn: Conn, brand_id: UUID) -> Brand:
    row = (
        conn.cursor(row_factory=dict_row)
        .execute(f"SELECT {BRAND_COLUMNS} FROM messaging.brands_10dlc WHERE id = %s", (brand_id,))
        .fetchone()
    )
    if row is None:
        raise errors.BrandNotFound(f"brand {brand_id}: not found")
    return Brand(**row)


def list_brands(conn: Conn, *, limit: int, after: tuple[datetime, UUID] | None = None) -> list[Brand]:
    cur = conn.cursor(row_factory=dict_row)
    where, params = ("WHERE (created_at, id) > (%s, %s)", [after[0], after[1]]) if after else ("", [])
    rows = cur.execute(
        f"SELECT {BRAND_COLUMNS} FROM messaging.brands_10dlc {where} ORDER BY created_at, id LIMIT %s",
        [*params, limit],
    ).fetchall()
    return [Brand(**r) for r in rows]


def set_brand_status(conn: Conn, brand_id: UUID, status: str) -> Brand:
    """Move a brand along its lifecycle (PENDING -> VERIFIED | UNVERIFIED | VETTED_VERIFIED ...)."""
    brand = get_brand(conn, brand_id)
    if status not in BRAND_TRANSITIONS.get(brand.status, set()):
        raise errors.InvalidTransition(f"status: brand cannot go from {brand.status} to {status}")
    row = (
        conn.cursor(row_factory=dict_row)
        .execute(
            "UPDATE messaging.brands_10dlc SET status = %s, verified_at = CASE WHEN %s IN "
            f"('VERIFIED', 'VETTED_VERIFIED') THEN now() ELSE verified_at END WHERE id = %s RETURNING {BRAND_COLUMNS}",
            (status, status, brand_id),
        )
        .fetchone()
    )
    assert row is not None
    return Brand(**row)


def create_campaign(
    conn: Conn, registrar: Registrar, *, account_id: UUID, brand_id: UUID, **fields: Any
) -> Campaign:
    """Create and submit a campaign (PENDING) of a VERIFIED or VETTED_VERIFIED brand of the account."""
    brand = get_brand(conn, brand_id)
    if brand.account_id != account_id:
        raise errors.BrandNotFound(f"brand {brand_id}: not found")
    if brand.status not in USABLE_BRAND:
        raise errors.Invalid10dlc(f"brand_id: brand is {brand.status}; campaigns need a verified brand")
    if not fields.get("sample_messages"):
        raise errors.Invalid10dlc("sample_messages: at least one sample message is required")
    if "metadata" in fields:
        fields["metadata"] = Jsonb(fields["metadata"])
    names = ["account_id", "brand_id", *fields]
    cur = conn.cursor(row_factory=dict_row)
    row = cur.execute(
        f"INSERT INTO messaging.campaigns_10dlc ({', '.join(names)}, submitted_at) "
        f"VALUES ({', '.join(['%s'] * len(names))}, now()) RETURNING {CAMPAIGN_COLUMNS}",
        [account_id, brand_id, *fields.values()],
    ).fetchone()
    assert row is not None
    campaign = Campaign(**row)
    ref = registrar.register_campaign(campaign, brand)
    row = cur.execute(
        f"UPDATE messaging.campaigns_10dlc SET external_ref = %s WHERE id = %s RETURNING {CAMPAIGN_COLUMNS}",
        (ref, campaign.id),
    ).fetchone()
    assert row is not None
    return Campaign(**row)


def get_campaign(conn: Conn, campaign_id: UUID) -> Campaign:
    row = (
        conn.cursor(row_factory=dict_row)
        .execute(f"SELECT {CAMPAIGN_COLUMNS} FROM messaging.campaigns_10dlc WHERE id = %s", (campaign_id,))
        .fetchone()
    )
    if row is None:
        raise errors.CampaignNotFound(f"campaign {campaign_id}: not found")
    return Campaign(**row)


def list_campaigns(conn: Conn, *, limit: int, after: tuple[datetime, UUID] | None = None) -> list[Campaign]:
    cur = conn.cursor(row_factory=dict_row)
    where, params = ("WHERE (created_at, id) > (%s, %s)", [after[0], after[1]]) if after else ("", [])
    rows = cur.execute(
        f"SELECT {CAMPAIGN_COLUMNS} FROM messaging.campaigns_10dlc {where} ORDER BY created_at, id LIMIT %s",
        [*params, limit],
    ).fetchall()
    return [Campaign(**r) for r in rows]


def set_campaign_status(conn: Conn, campaign_id: UUID, status: str, reason: str | None = None) -> Campaign:
    """Move a campaign along its lifecycle (PENDING -> APPROVED | REJECTED | SUSPENDED ...)."""
    campaign = get_campaign(conn, campaign_id)
    if status not in CAMPAIGN_TRANSITIONS.get(campaign.status, set()):
        raise errors.InvalidTransition(f"status: campaign cannot go from {campaign.status} to {status}")
    row = (
        conn.cursor(row_factory=dict_row)
        .execute(
            "UPDATE messaging.campaigns_10dlc SET status = %s, rejection_reason = coalesce(%s, rejection_reason), "
            "approved_at = CASE WHEN %s = 'APPROVED' THEN now() ELSE approved_at END "
            f"WHERE id = %s RETURNING {CAMPAIGN_COLUMNS}",
            (status, reason, status, campaign_id),
        )
        .fetchone()
    )
    assert row is not None
    return Campaign(**row)


def assign_numbers(conn: Conn, campaign_id: UUID, numbers: list[str]) -> list[str]:
    """Assign local messaging numbers of the campaign's account to the campaign; every bad number is named."""
    campaign = get_campaign(conn, campaign_id)
    if campaign.status == "REJECTED":
        raise errors.Invalid10dlc(f"campaign {campaign_id}: REJECTED campaigns take no numbers")
    rows = (
        conn.cursor(row_factory=dict_row)
        .execute(
            "SELECT d.id, d.number, d.status, d.messaging_enabled, i.number_type FROM numbers.dids d "
            "JOIN numbers.inventory i ON i.id = d.inventory_id WHERE d.account_id = %s AND d.number = ANY(%s)",
            (campaign.account_id, numbers),
        )
        .fetchall()
    )
    found = {r["number"]: r for r in rows}
    problems = []
    for n in numbers:
        r = found.get(n)
        if r is None:
            problems.append(f"{n}: not a number of this account")
        elif r["number_type"] != "DID":
            problems.append(f"{n}: {r['number_type']} numbers are not 10DLC")
        elif not r["messaging_enabled"]:
            problems.append(f"{n}: messaging is not enabled")
    if problems:
        raise errors.Invalid10dlc("numbers: " + "; ".join(problems))
    conn.execute(
        "UPDATE numbers.dids SET campaign_id = %s WHERE account_id = %s AND number = ANY(%s)",
        (campaign_id, campaign.account_id, numbers),
    )
    return sorted(set(numbers))
