"""Portal users of an account: invite/create, change role, deactivate; accepting an invitation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from warp.api.deps import Tx, WarpRoute, client_ip_of, public, require, state_of
from warp.api.pagination import DEFAULT_LIMIT, CursorParam, LimitParam, Page, decode_cursor, page
from warp.api.routes._target import target_account
from warp.auth import users
from warp.auth.users import User

# No prefix: the users routes live under /v1/users, accepting an invitation under /v1/auth.
router = APIRouter(tags=["users"], route_class=WarpRoute)


@router.get("/v1/users")
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


@dataclass(frozen=True)
class CreatedUser(User):
    """The new user; when invited (no password), the one-time invite token, shown only here."""

    invite_token: str | None = None
    invite_expires_at: datetime | None = None


@router.post("/v1/users", status_code=201)
def create_user(body: UserIn, request: Request, tx: Tx = require("users:write")) -> CreatedUser:
    """Create a user with a password (ACTIVE), or invite one without (INVITED).

    An invited user gets `invite_token` (returned once, stored only hashed, valid 72 hours): pass it
    on to them; `POST /v1/auth/invite/accept` with it and a password activates the user.
    """
    account_id = target_account(tx, body.account_id)
    if body.password is None:
        user, invite = users.invite_user(
            tx.conn, email=body.email, role=body.role, account_id=account_id, display_name=body.display_name
        )
        return CreatedUser(**vars(user), invite_token=invite.token, invite_expires_at=invite.expires_at)
    user = users.create_user(
        tx.conn,
        email=body.email,
        role=body.role,
        account_id=account_id,
        display_name=body.display_name,
        password=body.password,
        bcrypt_rounds=state_of(request).policy.bcrypt_rounds,
    )
    return CreatedUser(**vars(user))


@router.get("/v1/users/{user_id}")
def get_user(user_id: UUID, tx: Tx = require("users:read")) -> User:
    """One user (404 for a user of another account)."""
    return users.get_user(tx.conn, user_id)


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_]+$")


@router.patch("/v1/users/{user_id}")
def change_role(user_id: UUID, body: UserPatch, tx: Tx = require("users:write")) -> User:
    """Replace the user's role."""
    return users.set_role(tx.conn, user_id, body.role)


@router.post("/v1/users/{user_id}/deactivate")
def deactivate(user_id: UUID, tx: Tx = require("users:write")) -> User:
    """Disable the user and end their sessions."""
    return users.deactivate_user(tx.conn, user_id)


class InviteOut(BaseModel):
    user_id: UUID
    invite_token: str
    invite_expires_at: datetime


@router.post("/v1/users/{user_id}/invite", status_code=201)
def reissue_invite(user_id: UUID, tx: Tx = require("users:write")) -> InviteOut:
    """A new invite token for a user who has not accepted yet (the previous token stops working)."""
    invite = users.reissue_invite(tx.conn, user_id)
    return InviteOut(user_id=invite.user_id, invite_token=invite.token, invite_expires_at=invite.expires_at)


class InviteAccept(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=256)
    password: str = Field(min_length=12, max_length=1024)


@router.post(
    "/v1/auth/invite/accept",
    tags=["auth"],
    responses={
        400: {"description": "Unknown or invalid invitation token"},
        410: {"description": "Invitation expired or already used"},
        429: {"description": "Too many attempts from this address"},
    },
)
def accept_invite(body: InviteAccept, request: Request, response: Response, _: None = public()) -> User:
    """Accept an invitation: set the password and activate the user (the token works once).

    Then log in with `POST /v1/auth/login`. Attempts count against the per-address login limit.
    """
    state = state_of(request)
    quota = state.limiter.hit_login(client_ip_of(request) or "unknown")
    for name, value in quota.headers().items():
        response.headers[name] = value
    with state.pool.connection() as conn:
        return users.accept_invite(conn, body.token, body.password, bcrypt_rounds=state.policy.bcrypt_rounds)
