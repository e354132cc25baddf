"""SMS vendor callbacks: delivery receipts and inbound messages, signed by the vendor.

Not customer credentials: the vendor signs ``"{timestamp}.{raw body}"`` with the secret behind its
provider's ``config.callback_secret_ref`` (headers X-Warp-Timestamp / X-Warp-Signature, five-minute
window). The work runs in one staff transaction because a vendor's traffic spans tenants.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from warp.api.deps import WarpRoute, request_id_of, state_of
from warp.db import tenant
from warp.messaging import errors, service
from warp.messaging.secrets import resolve_secret
from warp.messaging.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature

router = APIRouter(prefix="/v1/vendor-callbacks", tags=["vendor callbacks"], route_class=WarpRoute)
E164 = r"^\+[1-9][0-9]{1,14}$"
ProviderName = Path(pattern=r"^[A-Za-z0-9_.-]{1,100}$")


@dataclass(frozen=True)
class VendorRequest:
    provider: str
    raw: bytes
    timestamp: str | None
    signature: str | None
    request_id: str


async def _vendor_request(request: Request, provider: str = ProviderName) -> VendorRequest:
    return VendorRequest(
        provider=provider,
        raw=await request.body(),
        timestamp=request.headers.get(TIMESTAMP_HEADER),
        signature=request.headers.get(SIGNATURE_HEADER),
        request_id=request_id_of(request),
    )


_vendor_request.warp_permission = "vendor:callback"  # type: ignore[attr-defined]


class DlrIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    vendor_message_id: str | None = Field(default=None, max_length=128)
    message_id: UUID | None = None
    status: str = Field(pattern=r"^(?i:sending|sent|delivered|undelivered|failed)$")
    error_code: str | None = Field(default=None, max_length=32)
    error_message: str | None = Field(default=None, max_length=500)


class InboundIn(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    from_: str = Field(alias="from", pattern=E164)
    to: str = Field(pattern=E164)
    body: str | None = Field(default=None, max_length=1600)
    media_urls: list[str] = Field(default_factory=list, max_length=10)
    vendor_message_id: str | None = Field(default=None, max_length=128)


def _parse(model: type[Any], raw: bytes) -> Any:
    try:
        return model.model_validate(json.loads(raw or b"null"))
    except (ValueError, ValidationError) as exc:
        raise errors.InvalidMessage(f"body: not a valid callback ({str(exc).splitlines()[0]})") from exc


def _authenticated(conn: Any, request: Request, vendor: VendorRequest) -> dict[str, Any]:
    try:
        row = service.provider_row(conn, vendor.provider)
    except errors.ProviderNotFound as exc:
        raise errors.CallbackUnauthenticated("provider: unknown or not signed") from exc
    ref = (row["config"] or {}).get("callback_secret_ref")
    if not ref:
        raise errors.CallbackUnauthenticated("provider: callbacks are not configured (callback_secret_ref)")
    secret = resolve_secret(state_of(request).policy, ref)
    verify_signature(secret, vendor.timestamp, vendor.signature, vendor.raw)
    return row


CALLBACK = tenant.Context(staff=True, actor_type="SYSTEM")


@router.post("/{provider}/dlr")
def delivery_receipt(request: Request, vendor: VendorRequest = Depends(_vendor_request)) -> dict[str, Any]:
    """A delivery receipt; statuses only move forward, so duplicates and late receipts change nothing."""
    state = state_of(request)
    with state.pool.connection() as conn, tenant.transaction(conn, CALLBACK):
        row = _authenticated(conn, request, vendor)
        dlr: DlrIn = _parse(DlrIn, vendor.raw)
        change = service.apply_dlr(
            conn,
            provider_id=row["id"],
            status=dlr.status,
            vendor_message_id=dlr.vendor_message_id,
            message_id=dlr.message_id,
            error_code=dlr.error_code,
            error_message=dlr.error_message,
        )
    return {"message_id": str(change.message_id), "status": change.status, "changed": change.changed}


@router.post("/{provider}/inbound")
def inbound_message(request: Request, vendor: VendorRequest = Depends(_vendor_request)) -> dict[str, Any]:
    """An inbound message for one of our numbers: stored, keyword-handled and routed."""
    state = state_of(request)
    with state.pool.connection() as conn, tenant.transaction(conn, CALLBACK):
        row = _authenticated(conn, request, vendor)
        msg: InboundIn = _parse(InboundIn, vendor.raw)
        result = service.receive_inbound(
            conn,
            provider_id=row["id"],
            from_number=msg.from_,
            to_number=msg.to,
            body=msg.body,
            media_urls=msg.media_urls,
            vendor_message_id=msg.vendor_message_id,
        )
    return {
        "message_id": str(result.message_id),
        "duplicate": result.duplicate,
        "keyword": result.keyword,
        "reply_id": None if result.reply_id is None else str(result.reply_id),
        "route": result.route,
    }
