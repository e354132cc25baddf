"""Messages: send (202 + id), read one, list."""

from __future__ import annotations

import os
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from warp.api.deps import Tx, WarpRoute, require, state_of
from warp.api.errors import MEDIA_TYPE, problem_type
from warp.api.idempotency import IdempotencyKey, Outcome, idempotent
from warp.api.pagination import DEFAULT_LIMIT, CursorParam, LimitParam, Page, decode_cursor, page
from warp.messaging import service
from warp.messaging.errors import InvalidMessage, RecipientOptedOut
from warp.messaging.service import Message, ThroughputLimiter

router = APIRouter(prefix="/v1/messages", tags=["messaging"], route_class=WarpRoute)

E164 = r"^\+[1-9][0-9]{1,14}$"
MediaUrl = Annotated[str, Field(pattern=r"^https?://\S+$", max_length=2000)]


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: str = Field(alias="from", pattern=E164, description="An ACTIVE messaging-enabled number of yours.")
    to: str = Field(pattern=E164)
    body: str | None = Field(default=None, max_length=1600)
    media_urls: list[MediaUrl] = Field(default_factory=list, max_length=10, description="Makes it an MMS.")

    @model_validator(mode="after")
    def _content(self) -> MessageIn:
        if not self.body and not self.media_urls:
            raise ValueError("body or media_urls is required")
        return self


class MessageAccepted(BaseModel):
    id: UUID
    status: str
    encoding: str
    segments: int
    rate: str | None
    charge: str | None


def _limiter(request: Request) -> ThroughputLimiter:
    limiter: ThroughputLimiter | None = getattr(request.app.state, "messaging_limiter", None)
    if limiter is None:
        limiter = ThroughputLimiter(
            state_of(request).limiter.storage,
            default_account_mps=int(os.environ.get("WARP_MESSAGING_ACCOUNT_MPS", "100")),
        )
        request.app.state.messaging_limiter = limiter
    return limiter


@router.post("", status_code=202, response_model=MessageAccepted)
def send_message(
    body: MessageIn,
    request: Request,
    idempotency_key: IdempotencyKey = None,
    tx: Tx = require("messaging:send"),
) -> JSONResponse:
    """Queue a message: 202 with its id. An opted-out recipient is refused (422 recipient-opted-out),
    and the refusal is kept as a REJECTED message (its id is in the problem)."""
    account = tx.principal.account_id
    if account is None:
        raise InvalidMessage("account: staff cannot send; use a customer API key")
    limiter = _limiter(request)

    def create() -> Any:
        sent = service.send_message(
            tx.conn,
            account_id=account,
            from_number=body.from_,
            to_number=body.to,
            body=body.body,
            media_urls=body.media_urls,
            limiter=limiter,
        )
        if sent.result == "recipient-opted-out":
            return Outcome(
                422,
                {
                    "type": problem_type(RecipientOptedOut.code),
                    "title": "Unprocessable Content",
                    "status": 422,
                    "detail": f"to: {body.to} opted out (STOP) of messages from this sender",
                    "message_id": str(sent.id),
                },
                MEDIA_TYPE,
            )
        # MessageAccepted's JSON, built directly (the hot path: no model + jsonable_encoder walk).
        return {
            "id": str(sent.id),
            "status": sent.status,
            "encoding": sent.encoding,
            "segments": sent.segments,
            "rate": None if sent.rate is None else str(sent.rate),
            "charge": None if sent.charge is None else str(sent.charge),
        }

    return idempotent(
        tx,
        idempotency_key,
        account,
        "POST",
        request.url.path,
        # Only a keyed request is fingerprinted: no dump of the body otherwise.
        body.model_dump(mode="json", by_alias=True) if idempotency_key is not None else None,
        202,
        create,
    )


@router.get("/{message_id}")
def get_message(message_id: UUID, tx: Tx = require("messaging:read")) -> Message:
    """One message (another tenant's is not found)."""
    return service.get_message(tx.conn, message_id)


@router.get("")
def list_messages(
    limit: LimitParam = DEFAULT_LIMIT, cursor: CursorParam = None, tx: Tx = require("messaging:read")
) -> Page[Message]:
    """Messages of the account (and, for a reseller, its descendants), newest first."""
    rows = service.list_messages(tx.conn, limit=limit + 1, after=decode_cursor(cursor))
    return page(rows, limit, lambda r: r)
