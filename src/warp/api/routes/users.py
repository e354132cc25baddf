"""Portal users of an account: invite/create, change role, deactivate."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from warp.api.deps import Tx, require, state_of
from warp.api.pagination import DEFAULT_LIMIT, CursorParam, LimitParam, Page, decode_cursor, page
from warp.api.routes._target import target_account
from warp.auth import users
from warp.auth.users import User

router = APIRouter(prefix="/v1/users", tags=["users"])


@router.get("")
def list_users(
    account_id: UUID | None = Query(default=None, description="Staff: whose users (default: your account)."),
    limit: LimitParam = DEFAULT_LIMIT,
    cursor: CursorParam = None,
    tx: Tx = require("users:read"),
) -> Page[User]:
    """Users of the account."""
    target = target_account(tx, account_id)
    rows = users.list_users(tx.conn, account_id=target, limit=limit + 1, after=decode_cursor(cursor))
    return page(rows, limit, lambda r: r)


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=3, max_length=320, pattern=r"^[^@\s\x00]+@[^@\s\x00]+$")
    role: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_]+$")
    display_name: str | None = Field(default=None, max_length=200, pattern=r"^[^\x00-\x1f]*$")
    password: str | None = Field(default=None, min_length=12, max_length=1024)
    account_id: UUID | None = None


@router.post("", status_code=201)
def create_user(body: UserIn, request: Request, tx: Tx = require("users:write")) -> User:
    """Create a user with a password (ACTIVE), or invite one without (INVITED)."""
    return users.create_user(
        tx.conn,
        email=body.email,
        role=body.role,
        account_id=target_account(tx, body.account_id),
        display_name=body.display_name,
        password=body.password,
        bcrypt_rounds=state_of(request).policy.bcrypt_rounds,
    )


@router.get("/{user_id}")
def get_user(user_id: UUID, tx: Tx = require("users:read")) -> User:
    """One user (404 for a user of another account)."""
    return users.get_user(tx.conn, user_id)


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_]+$")


@router.patch("/{user_id}")
def change_role(user_id: UUID, body: UserPatch, tx: Tx = require("users:write")) -> User:
    """Replace the user's role."""
    return users.set_role(tx.conn, user_id, body.role)


@router.post("/{user_id}/deactivate")
def deactivate(user_id: UUID, tx: Tx = require("users:write")) -> User:
    """Disable the user and end their sessions."""
    return users.deactivate_user(tx.conn, user_id)
