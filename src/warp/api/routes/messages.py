"""Messages: send (202 + id), read one, list."""

from __future__ import annotations

import os
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from warp.api.deps import Admitted, Tx, WarpRoute, admit, require, run_in_transaction, state_of
from warp.api.errors import MEDIA_TYPE, problem_type
from warp.api.idempotency import IdempotencyKey, Outcome, idempotent
from warp.api.pagination import DEFAULT_LIMIT, CursorParam, LimitParam, Page, decode_cursor, page
from warp.messaging import service
from warp.messaging.coalesce import SendCoalescer
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


def _coalescer(request: Request) -> SendCoalescer:
    coalescer: SendCoalescer | None = getattr(request.app.state, "messaging_coalescer", None)
    if coalescer is None:
        state = state_of(request)
        coalescer = SendCoalescer(state.pool, state.db_slots, _limiter(request))
        request.app.state.messaging_coalescer = coalescer
    return coalescer


def _answer(sent: service.Submitted, to: str) -> Any:
    """The response content of a send: MessageAccepted's JSON, or the opt-out refusal (committed)."""
    if sent.result == "recipient-opted-out":
        return Outcome(
            422,
            {
                "type": problem_type(RecipientOptedOut.code),
                "title": "Unprocessable Content",
                "status": 422,
                "detail": f"to: {to} opted out (STOP) of messages from this sender",
                "message_id": str(sent.id),
            },
            MEDIA_TYPE,
        )
    # Built directly (the hot path: no model + jsonable_encoder walk).
    return {
        "id": str(sent.id),
        "status": sent.status,
        "encoding": sent.encoding,
        "segments": sent.segments,
        "rate": None if sent.rate is None else str(sent.rate),
        "charge": None if sent.charge is None else str(sent.charge),
    }


@router.post("", status_code=202, response_model=MessageAccepted)
async def send_message(
    body: MessageIn,
    request: Request,
    idempotency_key: IdempotencyKey = None,
    who: Admitted = admit("messaging:send"),
) -> JSONResponse:
    """Queue a message: 202 with its id. An opted-out recipient is refused (422 recipient-opted-out),
    and the refusal is kept as a REJECTED message (its id is in the problem).

    Without an Idempotency-Key the send joins its key's group (``warp.messaging.coalesce``: the
    sends waiting for the db slot go in one transaction); a keyed send has a transaction of its own."""
    principal = who.principal
    account = principal.account_id
    if account is None:
        raise InvalidMessage("account: staff cannot send; use a customer API key")
    if idempotency_key is None:
        message = service.Outbound(body.from_, body.to, body.body, body.media_urls)
        touch = principal.api_key_id if principal.needs_touch else None
        sent = await _coalescer(request).send(principal.context(), who.request_id, message, touch=touch)
        answer = _answer(sent, body.to)
        if isinstance(answer, Outcome):
            return JSONResponse(answer.content, status_code=answer.status_code, media_type=answer.media_type)
        return JSONResponse(answer, status_code=202)
    limiter, key = _limiter(request), idempotency_key

    def respond(tx: Tx) -> JSONResponse:
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
            return _answer(sent, body.to)

        fingerprinted = body.model_dump(mode="json", by_alias=True)
        return idempotent(tx, key, account, "POST", request.url.path, fingerprinted, 202, create)

    return await run_in_transaction(who, respond)


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
