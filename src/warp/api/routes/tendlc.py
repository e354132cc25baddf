"""10DLC: brands, campaigns and number assignment (registration through the configured registrar)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from warp.api.deps import Tx, WarpRoute, require
from warp.api.pagination import DEFAULT_LIMIT, CursorParam, LimitParam, Page, decode_cursor, page
from warp.api.routes._target import target_account
from warp.messaging import tendlc
from warp.messaging.tendlc import Brand, Campaign, LocalRegistrar, Registrar

router = APIRouter(prefix="/v1/10dlc", tags=["10dlc"], route_class=WarpRoute)
Text = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f]*$"
E164 = r"^\+[1-9][0-9]{1,14}$"


def registrar_of(request: Request) -> Registrar:
    """The app's registrar (``app.state.tendlc_registrar``), the local one by default."""
    found: Registrar | None = getattr(request.app.state, "tendlc_registrar", None)
    return found or LocalRegistrar()


class BrandIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    legal_name: str = Field(min_length=1, max_length=255, pattern=Text)
    dba_name: str | None = Field(default=None, max_length=255, pattern=Text)
    entity_type: str = Field(
        pattern=r"^(PRIVATE_PROFIT|PUBLIC_PROFIT|NON_PROFIT|GOVERNMENT|SOLE_PROPRIETOR)$"
    )
    tax_id: str | None = Field(default=None, max_length=32, pattern=r"^[A-Za-z0-9-]*$")
    vertical: str | None = Field(default=None, max_length=64, pattern=Text)
    website: str | None = Field(default=None, max_length=500, pattern=r"^https?://\S+$")
    country: str = Field(default="US", pattern=r"^[A-Z]{2}$")
    account_id: UUID | None = None


@router.get("/brands")
def list_brands(
    limit: LimitParam = DEFAULT_LIMIT, cursor: CursorParam = None, tx: Tx = require("messaging:read")
) -> Page[Brand]:
    """Brands of the account."""
    return page(tendlc.list_brands(tx.conn, limit=limit + 1, after=decode_cursor(cursor)), limit, lambda r: r)


@router.post("/brands", status_code=201)
def create_brand(body: BrandIn, request: Request, tx: Tx = require("messaging:write")) -> Brand:
    """Register a brand (PENDING until the registry verifies it)."""
    fields = body.model_dump(exclude={"account_id"}, exclude_none=True)
    return tendlc.create_brand(
        tx.conn, registrar_of(request), account_id=target_account(tx, body.account_id), **fields
    )


class CampaignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    brand_id: UUID
    name: str = Field(min_length=1, max_length=200, pattern=Text)
    use_case: str = Field(pattern=r"^[A-Z_]{2,32}$")
    description: str = Field(min_length=1, max_length=4000, pattern=Text)
    sample_messages: list[Annotated[str, Field(min_length=1, max_length=1600)]] = Field(
        min_length=1, max_length=5
    )
    message_flow: str | None = Field(default=None, max_length=4000, pattern=Text)
    opt_in_message: str | None = Field(default=None, max_length=320)
    opt_out_message: str | None = Field(default=None, max_length=320)
    help_message: str | None = Field(default=None, max_length=320)
    throughput_mps: int | None = Field(default=None, ge=1, le=10000)
    account_id: UUID | None = None


@router.get("/campaigns")
def list_campaigns(
    limit: LimitParam = DEFAULT_LIMIT, cursor: CursorParam = None, tx: Tx = require("messaging:read")
) -> Page[Campaign]:
    """Campaigns of the account."""
    return page(
        tendlc.list_campaigns(tx.conn, limit=limit + 1, after=decode_cursor(cursor)), limit, lambda r: r
    )


@router.post("/campaigns", status_code=201)
def create_campaign(body: CampaignIn, request: Request, tx: Tx = require("messaging:write")) -> Campaign:
    """Register a campaign of a verified brand (PENDING until the registry approves it)."""
    fields = body.model_dump(exclude={"account_id", "brand_id"}, exclude_none=True)
    return tendlc.create_campaign(
        tx.conn,
        registrar_of(request),
        account_id=target_account(tx, body.account_id),
        brand_id=body.brand_id,
        **fields,
    )


class NumbersIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    numbers: list[Annotated[str, Field(pattern=E164)]] = Field(min_length=1, max_length=1000)


class NumbersAssigned(BaseModel):
    campaign_id: UUID
    numbers: list[str]


@router.post("/campaigns/{campaign_id}/numbers")
def assign_numbers(
    campaign_id: UUID, body: NumbersIn, tx: Tx = require("messaging:write")
) -> NumbersAssigned:
    """Assign local messaging numbers of the account to the campaign."""
    return NumbersAssigned(
        campaign_id=campaign_id, numbers=tendlc.assign_numbers(tx.conn, campaign_id, body.numbers)
    )
