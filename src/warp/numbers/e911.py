"""E911 addresses: validation behind a provider interface, storage, and the compliance check."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

import psycopg
from psycopg.rows import dict_row
from pydantic import BaseModel

from warp.numbers.errors import AddressNotFound, InvalidAddress

US_STATES = frozenset(
    [
        "AL",
        "AK",
        "AZ",
        "AR",
        "CA",
        "CO",
        "CT",
        "DE",
        "DC",
        "FL",
        "GA",
        "HI",
        "ID",
        "IL",
        "IN",
        "IA",
        "KS",
        "KY",
        "LA",
        "ME",
        "MD",
        "MA",
        "MI",
        "MN",
        "MS",
        "MO",
        "MT",
        "NE",
        "NV",
        "NH",
        "NJ",
        "NM",
        "NY",
        "NC",
        "ND",
        "OH",
        "OK",
        "OR",
        "PA",
        "RI",
        "SC",
        "SD",
        "TN",
        "TX",
        "UT",
        "VT",
        "VA",
        "WA",
        "WV",
        "WI",
        "WY",
        "PR",
        "VI",
        "GU",
        "AS",
        "MP",
    ]
)
ZIP_RE = re.compile(r"^[0-9]{5}(-[0-9]{4})?$")


class AddressIn(BaseModel):
    caller_name: str
    street: str
    unit: str | None = None
    city: str
    state_code: str
    postal_code: str
    country: str = "US"


@dataclass(frozen=True)
class Validation:
    """A provider's verdict: the normalised address, or the field errors."""

    address: AddressIn
    errors: dict[str, str] = field(default_factory=dict)
    provider_ref: str | None = None


class AddressValidator(Protocol):
    """An E911 address validation provider (a vendor API later; the local rules now)."""

    name: str

    def validate(self, address: AddressIn) -> Validation: ...


class LocalValidator:
    """Structural US address rules: required fields, state code, ZIP/ZIP+4, a house number."""

    name = "local"

    def validate(self, address: AddressIn) -> Validation:
        a = AddressIn(
            caller_name=" ".join(address.caller_name.split()).upper(),
            street=" ".join(address.street.split()),
            unit=" ".join(address.unit.split()) or None if address.unit else None,
            city=" ".join(address.city.split()),
            state_code=address.state_code.strip().upper(),
            postal_code=address.postal_code.strip(),
            country=address.country.strip().upper(),
        )
        errors: dict[str, str] = {}
        if not a.caller_name:
            errors["caller_name"] = "required"
        elif len(a.caller_name) > 64:
            errors["caller_name"] = "at most 64 characters"
        if not a.street:
            errors["street"] = "required"
        elif not re.match(r"^[0-9]+[A-Z]?(-[0-9]+)? \S", a.street, re.IGNORECASE):
            errors["street"] = "must start with a house number followed by the street name"
        elif len(a.street) > 200:
            errors["street"] = "at most 200 characters"
        if a.unit is not None and len(a.unit) > 50:
            errors["unit"] = "at most 50 characters"
        if not a.city:
            errors["city"] = "required"
        elif len(a.city) > 100 or not re.fullmatch(r"[A-Za-z .'-]+", a.city):
            errors["city"] = "letters, spaces, . ' - only (at most 100)"
        if a.country != "US":
            errors["country"] = "only US addresses are supported"
        if a.state_code not in US_STATES:
            errors["state_code"] = f"{a.state_code!r} is not a US state or territory code"
        if not ZIP_RE.fullmatch(a.postal_code):
            errors["postal_code"] = "must be a ZIP (12345) or ZIP+4 (12345-6789)"
        elif a.postal_code.startswith("00000"):
            errors["postal_code"] = "00000 is not a ZIP code"
        return Validation(address=a, errors=errors, provider_ref=None if errors else f"local:{a.postal_code}")


class E911Address(BaseModel):
    id: UUID
    account_id: UUID
    caller_name: str
    street: str
    unit: str | None
    city: str
    state_code: str
    postal_code: str
    country: str
    validation_status: str
    validated_at: datetime | None
    created_at: datetime


COLUMNS = (
    "id, account_id, caller_name, street, unit, city, state_code, postal_code, country, validation_status, "
    "validated_at, created_at"
)


def create_address(
    conn: psycopg.Connection[Any],
    account_id: UUID,
    address: AddressIn,
    validator: AddressValidator | None = None,
) -> E911Address:
    """Validate and store an address for the account; InvalidAddress carries the field errors."""
    result = (validator or LocalValidator()).validate(address)
    if result.errors:
        raise InvalidAddress(result.errors)
    a = result.address
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            f"INSERT INTO numbers.e911_addresses (account_id, caller_name, street, unit, city, state_code, "
            f"postal_code, country, validation_status, validated_at, provider_ref) "
            f"VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'VALID', now(), %s) RETURNING {COLUMNS}",
            (
                account_id,
                a.caller_name,
                a.street,
                a.unit,
                a.city,
                a.state_code,
                a.postal_code,
                a.country,
                result.provider_ref,
            ),
        )
        row = cur.fetchone()
    if row is None:
        raise AddressNotFound("account_id: not visible")
    return E911Address(**row)


def get_address(conn: psycopg.Connection[Any], address_id: UUID) -> E911Address:
    """One address the caller can see (AddressNotFound otherwise, another tenant's included)."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(f"SELECT {COLUMNS} FROM numbers.e911_addresses WHERE id = %s", (address_id,))
        row = cur.fetchone()
    if row is None:
        raise AddressNotFound(f"e911 address {address_id}: not found")
    return E911Address(**row)


def list_addresses(
    conn: psycopg.Connection[Any], *, limit: int, after: tuple[datetime, UUID] | None = None
) -> list[E911Address]:
    """Addresses the caller can see, oldest first, keyset-paginated on (created_at, id)."""
    with conn.cursor(row_factory=dict_row) as cur:
        if after is None:
            cur.execute(
                f"SELECT {COLUMNS} FROM numbers.e911_addresses ORDER BY created_at, id LIMIT %s", (limit,)
            )
        else:
            cur.execute(
                f"SELECT {COLUMNS} FROM numbers.e911_addresses WHERE (created_at, id) > (%s, %s) "
                "ORDER BY created_at, id LIMIT %s",
                (*after, limit),
            )
        return [E911Address(**r) for r in cur.fetchall()]


class ComplianceIssue(BaseModel):
    account_id: UUID
    ban: str | None
    number: str
    did_id: UUID
    reason: str


def check_compliance(conn: psycopg.Connection[Any], account_id: UUID | None = None) -> list[ComplianceIssue]:
    """Voice-enabled DIDs without a valid E911 address or exemption (of one account, or all visible)."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT c.account_id, a.ban, c.number, c.did_id, c.reason "
            "FROM audit.check_e911_compliance(%s) AS c "
            "LEFT JOIN accounts.accounts a ON a.id = c.account_id ORDER BY a.ban, c.number",
            (account_id,),
        )
        return [ComplianceIssue(**r) for r in cur.fetchall()]
