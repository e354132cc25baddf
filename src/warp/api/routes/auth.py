"""Login and logout of portal sessions."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from warp.api.deps import AUTHENTICATED, Tx, WarpRoute, client_ip_of, public, require, state_of
from warp.auth import sessions
from warp.auth.errors import InvalidAuthInput

router = APIRouter(prefix="/v1/auth", tags=["auth"], route_class=WarpRoute)


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=1024)
    totp_code: str | None = Field(default=None, min_length=1, max_length=64)


class LoginResponse(BaseModel):
    token: str
    token_type: str = "Bearer"  # noqa: S105 - the scheme name, not a secret
    session_id: UUID
    user_id: UUID
    account_id: UUID | None
    expires_at: datetime
    idle_expires_at: datetime


@router.post(
    "/login", responses={401: {"description": "Invalid credentials"}, 429: {"description": "Too many"}}
)
def login(body: LoginRequest, request: Request, response: Response, _: None = public()) -> LoginResponse:
    """Open a session; the token is returned once (send it as `Authorization: Bearer <token>`)."""
    state = state_of(request)
    client_ip = client_ip_of(request)
    quota = state.limiter.hit_login(client_ip or "unknown")
    for name, value in quota.headers().items():
        response.headers[name] = value
    with state.pool.connection() as conn:
        new = sessions.login(
            conn,
            email=body.email,
            password=body.password,
            totp_code=body.totp_code,
            policy=state.policy,
            client_ip=client_ip,
            user_agent=request.headers.get("user-agent"),
        )
    return LoginResponse(
        token=new.token,
        session_id=new.session_id,
        user_id=new.user_id,
        account_id=new.account_id,
        expires_at=new.expires_at,
        idle_expires_at=new.idle_expires_at,
    )


@router.post("/logout", status_code=204)
def logout(tx: Tx = require(AUTHENTICATED)) -> Response:
    """Revoke the session that made this request."""
    if tx.principal.session_id is None:
        raise InvalidAuthInput("credentials: only a session token can log out (revoke an API key instead)")
    sessions.logout(tx.conn, tx.principal.session_id)
    return Response(status_code=204)
