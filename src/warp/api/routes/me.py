"""The calling principal: who it is, its account and scopes; TOTP enrollment for users."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from warp.accounts.profile import AccountProfile, get_account
from warp.api.deps import AUTHENTICATED, Tx, WarpRoute, require, state_of
from warp.auth import totp
from warp.auth.errors import InvalidAuthInput

router = APIRouter(prefix="/v1/me", tags=["me"], route_class=WarpRoute)


class Me(BaseModel):
    kind: str
    id: UUID
    name: str
    account_id: UUID | None
    account: AccountProfile | None
    scopes: list[str]
    staff: bool


@router.get("")
def me(tx: Tx = require(AUTHENTICATED)) -> Me:
    """The principal of this request, its account and scopes."""
    p = tx.principal
    return Me(
        kind=p.kind,
        id=p.actor_id,
        name=p.name,
        account_id=p.account_id,
        account=None if p.account_id is None else get_account(tx.conn, p.account_id),
        scopes=sorted(p.permissions),
        staff=p.is_staff,
    )


class TotpEnrollment(BaseModel):
    secret: str
    provisioning_uri: str


class TotpConfirm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=6, max_length=10, pattern=r"^[0-9]+$")


class BackupCodes(BaseModel):
    backup_codes: list[str]


def _user_id(tx: Tx) -> UUID:
    if tx.principal.user_id is None:
        raise InvalidAuthInput("credentials: a second factor belongs to a user: log in with a session")
    return tx.principal.user_id


@router.post("/totp", status_code=201)
def enroll_totp(request: Request, tx: Tx = require(AUTHENTICATED)) -> TotpEnrollment:
    """Start TOTP enrollment: the seed is shown once; confirm with a code to enable it."""
    enrollment = totp.begin_enrollment(tx.conn, _user_id(tx), state_of(request).policy)
    return TotpEnrollment(secret=enrollment.secret, provisioning_uri=enrollment.provisioning_uri)


@router.post("/totp/confirm")
def confirm_totp(body: TotpConfirm, request: Request, tx: Tx = require(AUTHENTICATED)) -> BackupCodes:
    """Enable TOTP with a current code; returns one-time backup codes (shown once, stored hashed)."""
    codes = totp.confirm(tx.conn, _user_id(tx), body.code, state_of(request).policy)
    return BackupCodes(backup_codes=codes)
