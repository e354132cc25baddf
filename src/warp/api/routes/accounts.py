"""Accounts: profile, contacts and feature flags."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from warp.accounts import contacts, flags, profile
from warp.accounts.contacts import Contact
from warp.accounts.flags import FeatureFlag, FlagEvaluation
from warp.accounts.profile import AccountProfile
from warp.api.deps import Tx, WarpRoute, require
from warp.api.idempotency import IdempotencyKey, idempotent
from warp.api.pagination import DEFAULT_LIMIT, CursorParam, LimitParam, Page, decode_cursor, page

router = APIRouter(prefix="/v1/accounts", tags=["accounts"], route_class=WarpRoute)

FlagKey = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_.:-]{0,99}$")]
E164 = r"^\+[1-9][0-9]{1,14}$"
ContactType = Annotated[str, Field(pattern=r"^(PRIMARY|BILLING|TECHNICAL|NOC|EMERGENCY|SALES|LEGAL)$")]
PlainText = r"^[^\x00-\x1f]*$"


@router.get("")
def list_accounts(
    limit: LimitParam = DEFAULT_LIMIT, cursor: CursorParam = None, tx: Tx = require("accounts:read")
) -> Page[AccountProfile]:
    """Accounts the caller can see (its own and, for a reseller, its descendants)."""
    rows = profile.list_accounts(tx.conn, limit=limit + 1, after=decode_cursor(cursor))
    return page(rows, limit, lambda r: r)


@router.get("/{account_id}")
def get_account(account_id: UUID, tx: Tx = require("accounts:read")) -> AccountProfile:
    """One account (404 for an account the caller cannot see)."""
    return profile.get_account(tx.conn, account_id)


class AccountPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(
        default=None, min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]*\S[^\x00-\x1f]*$"
    )
    legal_name: str | None = Field(default=None, max_length=200, pattern=PlainText)
    timezone: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_+/-]+$")
    tax_id: str | None = Field(default=None, max_length=32, pattern=PlainText)
    billing_country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    billing_state: str | None = Field(default=None, max_length=8, pattern=r"^[A-Za-z0-9-]*$")
    metadata: dict[str, Any] | None = None
    status: str | None = Field(default=None, pattern=r"^(PENDING|ACTIVE|SUSPENDED|CLOSED)$")


@router.patch("/{account_id}")
def update_account(
    account_id: UUID, body: AccountPatch, tx: Tx = require("accounts:write")
) -> AccountProfile:
    """Change editable fields (status only by staff)."""
    changes = body.model_dump(exclude_unset=True)
    if changes.get("name") is None:
        changes.pop("name", None)
    return profile.update_account(tx.conn, account_id, changes, staff=tx.principal.is_staff)


@router.get("/{account_id}/contacts")
def list_contacts(
    account_id: UUID,
    limit: LimitParam = DEFAULT_LIMIT,
    cursor: CursorParam = None,
    tx: Tx = require("accounts:read"),
) -> Page[Contact]:
    """Contacts of an account."""
    profile.get_account(tx.conn, account_id)
    rows = contacts.list_contacts(tx.conn, account_id, limit=limit + 1, after=decode_cursor(cursor))
    return page(rows, limit, lambda r: r)


class ContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, pattern=PlainText)
    contact_type: ContactType = "PRIMARY"
    title: str | None = Field(default=None, max_length=100, pattern=PlainText)
    email: str | None = Field(default=None, max_length=320, pattern=r"^[^@\s\x00]+@[^@\s\x00]+$")
    phone: str | None = Field(default=None, pattern=E164)
    mobile_phone: str | None = Field(default=None, pattern=E164)
    is_primary: bool = False


@router.post("/{account_id}/contacts", status_code=201, response_model=Contact)
def create_contact(
    account_id: UUID,
    body: ContactIn,
    request: Request,
    idempotency_key: IdempotencyKey = None,
    tx: Tx = require("accounts:write"),
) -> JSONResponse:
    """Add a contact (honours `Idempotency-Key`)."""
    profile.get_account(tx.conn, account_id)
    fields = body.model_dump(exclude_unset=True)
    return idempotent(
        tx,
        idempotency_key,
        account_id,
        "POST",
        request.url.path,
        fields,
        201,
        lambda: contacts.create_contact(tx.conn, account_id, fields),
    )


@router.delete("/{account_id}/contacts/{contact_id}", status_code=204)
def delete_contact(account_id: UUID, contact_id: UUID, tx: Tx = require("accounts:write")) -> Response:
    """Remove a contact."""
    contacts.delete_contact(tx.conn, account_id, contact_id)
    return Response(status_code=204)


@router.get("/{account_id}/feature-flags")
def list_flags(
    account_id: UUID,
    limit: LimitParam = DEFAULT_LIMIT,
    cursor: CursorParam = None,
    tx: Tx = require("accounts:read"),
) -> Page[FeatureFlag]:
    """Feature flags set on an account."""
    profile.get_account(tx.conn, account_id)
    rows = flags.list_flags(tx.conn, account_id, limit=limit + 1, after=decode_cursor(cursor))
    return page(rows, limit, lambda r: r)


@router.get("/{account_id}/feature-flags/{flag_key}")
def evaluate_flag(account_id: UUID, flag_key: FlagKey, tx: Tx = require("accounts:read")) -> FlagEvaluation:
    """Whether a flag is on for the account now (off when unset or expired)."""
    profile.get_account(tx.conn, account_id)
    return flags.evaluate_flag(tx.conn, account_id, flag_key)


class FlagIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool
    value: dict[str, Any] = Field(default_factory=dict)
    description: str | None = Field(default=None, max_length=500, pattern=PlainText)
    expires_at: datetime | None = None


@router.put("/{account_id}/feature-flags/{flag_key}")
def set_flag(
    account_id: UUID, flag_key: FlagKey, body: FlagIn, tx: Tx = require("staff:write")
) -> FeatureFlag:
    """Set a flag for an account (platform staff)."""
    profile.get_account(tx.conn, account_id)
    return flags.set_flag(
        tx.conn,
        account_id,
        flag_key,
        enabled=body.enabled,
        value=body.value,
        description=body.description,
        expires_at=body.expires_at,
    )
