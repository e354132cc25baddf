"""API keys of an account: create (shown once), list, revoke."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from warp.api.deps import Tx, WarpRoute, require
from warp.api.pagination import DEFAULT_LIMIT, CursorParam, LimitParam, Page, decode_cursor, page
from warp.api.routes._target import target_account
from warp.auth import api_keys
from warp.auth.api_keys import ApiKey
from warp.auth.rbac import customer_scopes

router = APIRouter(prefix="/v1/api-keys", tags=["api keys"], route_class=WarpRoute)


@router.get("")
def list_keys(
    account_id: UUID | None = Query(default=None, description="Staff: whose keys (default: your account)."),
    limit: LimitParam = DEFAULT_LIMIT,
    cursor: CursorParam = None,
    tx: Tx = require("api_keys:read"),
) -> Page[ApiKey]:
    """Keys of the account (never the keys themselves)."""
    target = target_account(tx, account_id)
    rows = api_keys.list_api_keys(tx.conn, account_id=target, limit=limit + 1, after=decode_cursor(cursor))
    return page(rows, limit, lambda r: r)


class ApiKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="default", min_length=1, max_length=100, pattern=r"^[^\x00-\x1f]+$")
    scopes: list[str] | None = Field(default=None, max_length=50)
    allowed_ips: list[str] | None = Field(default=None, max_length=100)
    expires_at: datetime | None = None
    rate_limit_per_second: int | None = Field(default=None, ge=1, le=1_000_000)
    rate_limit_per_minute: int | None = Field(default=None, ge=1, le=100_000_000)
    rate_limit_per_hour: int | None = Field(default=None, ge=1, le=1_000_000_000)
    account_id: UUID | None = None


class NewApiKey(BaseModel):
    key: str = Field(description="The API key. Shown once: store it now.")
    api_key: ApiKey


@router.post("", status_code=201)
def create_key(body: ApiKeyIn, tx: Tx = require("api_keys:write")) -> NewApiKey:
    """Create a key; its scopes cannot exceed the caller's."""
    p = tx.principal
    grantable = None if p.is_staff else {s for s in customer_scopes(tx.conn) if p.allows(s)}
    key, clear = api_keys.create_api_key(
        tx.conn,
        account_id=target_account(tx, body.account_id),
        name=body.name,
        scopes=body.scopes,
        allowed_ips=body.allowed_ips,
        expires_at=body.expires_at,
        rate_limits=(body.rate_limit_per_second, body.rate_limit_per_minute, body.rate_limit_per_hour),
        created_by_user_id=p.user_id,
        grantable=grantable,
    )
    return NewApiKey(key=clear, api_key=key)


@router.delete("/{key_id}")
def revoke_key(key_id: UUID, tx: Tx = require("api_keys:write")) -> ApiKey:
    """Revoke a key (it stops working at once); another tenant's key is not found."""
    return api_keys.revoke_api_key(tx.conn, str(key_id))
