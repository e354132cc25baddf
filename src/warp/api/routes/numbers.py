"""Numbers: available-number search, reservations, orders, DIDs and port requests."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from warp.api.deps import Tx, WarpRoute, require
from warp.api.idempotency import IdempotencyKey, idempotent
from warp.api.pagination import DEFAULT_LIMIT, CursorParam, LimitParam, Page, decode_cursor, page
from warp.numbers import e911, porting, service, toll_free
from warp.numbers.errors import InvalidNumber, NumbersForbidden
from warp.numbers.service import AvailableNumber, Did, HeldReservation, Reservation, SearchFilter

router = APIRouter(tags=["numbers"], route_class=WarpRoute)

E164 = r"^\+[1-9][0-9]{1,14}$"
NumberPath = Annotated[str, Path(pattern=E164)]


def _tenant(tx: Tx) -> UUID:
    if tx.principal.account_id is None:
        raise NumbersForbidden("account: this operation needs a customer account")
    return tx.principal.account_id


@router.get("/v1/available-numbers")
def available_numbers(
    npa: Annotated[str | None, Query(pattern=r"^[2-9][0-9]{2}$")] = None,
    npanxx: Annotated[str | None, Query(pattern=r"^[2-9][0-9]{5}$")] = None,
    state: Annotated[str | None, Query(pattern=r"^[A-Z]{2}$")] = None,
    rate_center: Annotated[str | None, Query(max_length=64)] = None,
    lata: Annotated[str | None, Query(pattern=r"^[0-9]{1,5}$")] = None,
    contains: Annotated[str | None, Query(pattern=r"^[0-9*]{1,15}$")] = None,
    number_type: Annotated[str, Query(pattern=r"^(DID|TOLL_FREE)$")] = "DID",
    features: Annotated[list[str] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    tx: Tx = require("numbers:read"),
) -> list[AvailableNumber]:
    """Available numbers matching the filters (`contains`: digits with `*` wildcards)."""
    f = SearchFilter(
        npa=npa,
        npanxx=npanxx,
        state=state,
        rate_center=rate_center,
        lata=lata,
        contains=contains,
        number_type=number_type,
        features=tuple(x.upper() for x in features or ()),
    )
    return service.search_available(tx.conn, f, limit)


class SearchBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    npa: str | None = Field(default=None, pattern=r"^[2-9][0-9]{2}$")
    npanxx: str | None = Field(default=None, pattern=r"^[2-9][0-9]{5}$")
    state: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    rate_center: str | None = Field(default=None, max_length=64)
    lata: str | None = Field(default=None, pattern=r"^[0-9]{1,5}$")
    contains: str | None = Field(default=None, pattern=r"^[0-9*]{1,15}$")
    number_type: str = Field(default="DID", pattern=r"^(DID|TOLL_FREE)$")
    features: list[Annotated[str, Field(pattern=r"^(?i:VOICE|SMS|MMS|FAX|E911)$")]] = Field(
        default_factory=list, max_length=5
    )


class ReservationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    numbers: list[Annotated[str, Field(pattern=E164)]] | None = Field(
        default=None, min_length=1, max_length=100
    )
    filter: SearchBody | None = None
    quantity: int | None = Field(default=None, ge=1, le=100)
    ttl_minutes: int = Field(default=15, ge=1, le=1440)


@router.post("/v1/number-reservations", status_code=201)
def create_reservation(body: ReservationIn, tx: Tx = require("numbers:write")) -> list[Reservation]:
    """Reserve numbers for the caller's account, all or nothing (409 when any is taken)."""
    account = _tenant(tx)
    ttl = timedelta(minutes=body.ttl_minutes)
    if body.numbers:
        return service.reserve(tx.conn, body.numbers, ttl=ttl, account_id=account)
    if body.filter is None or body.quantity is None:
        raise InvalidNumber("numbers: give numbers, or a filter and a quantity")
    fields = body.filter.model_dump()
    fields["features"] = tuple(x.upper() for x in fields["features"])
    f = SearchFilter(**fields)
    return service.reserve_matching(tx.conn, f, body.quantity, ttl=ttl, account_id=account)


@router.get("/v1/number-reservations")
def list_reservations(tx: Tx = require("numbers:read")) -> list[HeldReservation]:
    """Live reservations of the caller's account(s) (never another tenant's)."""
    return service.list_reservations(tx.conn)


class OrderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    numbers: list[Annotated[str, Field(pattern=E164)]] = Field(min_length=1, max_length=100)
    e911_address_id: UUID | None = None


@router.post("/v1/number-orders", status_code=201, response_model=list[Did])
def create_order(
    body: OrderIn, request: Request, idempotency_key: IdempotencyKey = None, tx: Tx = require("numbers:write")
) -> JSONResponse:
    """Turn reserved (or available) numbers into DIDs of the caller's account, all or nothing.

    The order records the numbers' charges: send `Idempotency-Key` to make a retry replay the first
    response instead of failing on numbers the first attempt already took.
    """
    account = _tenant(tx)
    return idempotent(
        tx,
        idempotency_key,
        account,
        "POST",
        request.url.path,
        body.model_dump(mode="json"),
        201,
        lambda: service.order(
            tx.conn, body.numbers, account_id=account, e911_address_id=body.e911_address_id
        ),
    )


@router.get("/v1/dids")
def list_dids(
    limit: LimitParam = DEFAULT_LIMIT,
    cursor: CursorParam = None,
    number_prefix: Annotated[str | None, Query(pattern=r"^\+[0-9]{1,15}$")] = None,
    voice_enabled: bool | None = None,
    messaging_enabled: bool | None = None,
    trunk_id: UUID | None = None,
    tx: Tx = require("numbers:read"),
) -> Page[Did]:
    """DIDs of the caller's account(s), oldest first."""
    rows = service.list_dids(
        tx.conn,
        limit=limit + 1,
        after=decode_cursor(cursor),
        number_prefix=number_prefix,
        voice_enabled=voice_enabled,
        messaging_enabled=messaging_enabled,
        trunk_id=trunk_id,
    )
    return page(rows, limit, lambda r: r)


@router.get("/v1/dids/{number}")
def get_did(number: NumberPath, tx: Tx = require("numbers:read")) -> Did:
    """One DID (404 for a number the caller does not hold)."""
    return service.get_did(tx.conn, number)


class DidPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    trunk_id: UUID | None = None
    voice_enabled: bool | None = None
    messaging_enabled: bool | None = None
    campaign_id: UUID | None = None
    cnam_name: str | None = Field(default=None, max_length=15, pattern=r"^[A-Za-z0-9 .,&'-]*$")
    e911_address_id: UUID | None = None
    e911_exempt_reason: str | None = Field(default=None, min_length=3, max_length=500)


@router.patch("/v1/dids/{number}")
def update_did(number: NumberPath, body: DidPatch, tx: Tx = require("numbers:write")) -> Did:
    """Configure a DID; voice needs an E911 address or `e911_exempt_reason` (409 otherwise)."""
    changes: dict[str, Any] = body.model_dump(exclude_unset=True)
    for key in ("voice_enabled", "messaging_enabled"):
        if key in changes and changes[key] is None:
            changes.pop(key)
    return service.update_did(tx.conn, number, changes)


@router.delete("/v1/dids/{number}", status_code=204)
def release_did(
    number: NumberPath,
    aging_days: Annotated[int | None, Query(ge=0, le=365)] = None,
    tx: Tx = require("numbers:write"),
) -> Response:
    """Release a DID: disconnected now, its number ages 90 days before resale.

    `aging_days` (staff only) sets another aging period, e.g. 0 to make a number sellable at once.
    """
    if aging_days is not None and not tx.principal.is_staff:
        raise NumbersForbidden("aging_days: only staff may change the aging period")
    aging = timedelta(days=90 if aging_days is None else aging_days)
    service.release(tx.conn, number, aging=aging)
    return Response(status_code=204)


class PortIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    numbers: list[Annotated[str, Field(pattern=E164)]] = Field(min_length=1, max_length=500)
    losing_carrier_name: str = Field(min_length=1, max_length=200)
    losing_carrier_account_number: str | None = Field(default=None, max_length=64)
    pin: str | None = Field(default=None, min_length=1, max_length=32)
    authorized_name: str = Field(min_length=1, max_length=200)
    service_address: dict[str, str] = Field(default_factory=dict)
    requested_date: date | None = None
    loa_document_id: UUID | None = None


def _sealer(request: Request) -> porting.Sealer:
    from warp.auth import crypto

    policy = request.app.state.warp.policy

    def seal(pin: str) -> str:
        return "fernet:" + crypto.encrypt(policy, pin).decode()

    return seal


@router.get("/v1/port-requests")
def list_port_requests(
    limit: LimitParam = DEFAULT_LIMIT, cursor: CursorParam = None, tx: Tx = require("numbers:read")
) -> Page[porting.PortRequest]:
    """Port requests of the caller's account(s)."""
    rows = porting.list_port_requests(tx.conn, limit=limit + 1, after=decode_cursor(cursor))
    return page(rows, limit, lambda r: r)


@router.post("/v1/port-requests", status_code=201, response_model=porting.PortRequest)
def create_port_request(
    body: PortIn, request: Request, idempotency_key: IdempotencyKey = None, tx: Tx = require("numbers:write")
) -> JSONResponse:
    """Create a PENDING port-in (the PIN is encrypted, never stored or returned in clear).

    Honours `Idempotency-Key` (a retry replays the first response instead of creating a second request).
    """
    account = _tenant(tx)
    fields = body.model_dump()
    return idempotent(
        tx,
        idempotency_key,
        account,
        "POST",
        request.url.path,
        body.model_dump(mode="json"),
        201,
        lambda: porting.create_port_request(tx.conn, account, seal=_sealer(request), **fields),
    )


@router.get("/v1/port-requests/{request_id}")
def get_port_request(request_id: uuid.UUID, tx: Tx = require("numbers:read")) -> porting.PortRequest:
    """One port request."""
    return porting.get_port_request(tx.conn, request_id)


@router.post("/v1/port-requests/{request_id}/actions/{action}")
def port_action(
    request_id: uuid.UUID,
    action: Annotated[str, Path(pattern=r"^(submit|cancel)$")],
    tx: Tx = require("numbers:write"),
) -> porting.PortRequest:
    """Submit or cancel a port request (FOC, completion and rejection are staff-only)."""
    return porting.transition(tx.conn, request_id, action)


class PortStaffAction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    foc_date: date | None = None
    rejection_code: str | None = Field(default=None, min_length=1, max_length=32)
    rejection_reason: str | None = Field(default=None, max_length=2000)


@router.post("/v1/admin/port-requests/{request_id}/actions/{action}")
def admin_port_action(
    request_id: uuid.UUID,
    action: Annotated[str, Path(pattern=r"^(foc|complete|reject)$")],
    body: PortStaffAction | None = None,
    tx: Tx = require("staff:write"),
) -> porting.PortRequest:
    """Staff: record the FOC (`foc_date`), complete (numbers become the account's DIDs) or reject
    (`rejection_code`, `rejection_reason`) a port request of any account."""
    if not tx.principal.is_staff:
        raise NumbersForbidden("port request: FOC, completion and rejection are staff-only")
    b = body or PortStaffAction()
    return porting.transition(
        tx.conn,
        request_id,
        action,
        foc_date=b.foc_date,
        rejection_code=b.rejection_code,
        rejection_reason=b.rejection_reason,
    )


class RespOrgPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    resp_org_id: str = Field(min_length=5, max_length=5, pattern=r"^[A-Za-z0-9]{5}$")
    resp_org_name: str | None = Field(default=None, max_length=100, pattern=r"^[^\x00-\x1f]*$")


@router.get("/v1/admin/toll-free/{number}")
def admin_get_toll_free(number: NumberPath, tx: Tx = require("staff:read")) -> toll_free.TollFree:
    """Staff: the toll-free data (RespOrg, SMS/800 status) of an inventory number."""
    if not tx.principal.is_staff:
        raise NumbersForbidden("toll-free: staff only")
    return toll_free.get_toll_free(tx.conn, number)


@router.patch("/v1/admin/toll-free/{number}")
def admin_set_resp_org(
    number: NumberPath, body: RespOrgPatch, tx: Tx = require("staff:write")
) -> toll_free.TollFree:
    """Staff: change the RespOrg of a toll-free number (`resp_org_name` null clears the name; left out, it is
    kept when the RespOrg ID does not change). Recorded in the audit log."""
    if not tx.principal.is_staff:
        raise NumbersForbidden("resp_org_id: only staff may change a RespOrg")
    if "resp_org_name" in body.model_fields_set:
        return toll_free.set_resp_org(tx.conn, number, body.resp_org_id, resp_org_name=body.resp_org_name)
    return toll_free.set_resp_org(tx.conn, number, body.resp_org_id)


class AddressBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    caller_name: str = Field(max_length=200)
    street: str = Field(max_length=400)
    unit: str | None = Field(default=None, max_length=100)
    city: str = Field(max_length=200)
    state_code: str = Field(max_length=10)
    postal_code: str = Field(max_length=20)
    country: str = Field(default="US", max_length=10)


@router.post("/v1/e911-addresses", status_code=201)
def create_e911_address(body: AddressBody, tx: Tx = require("numbers:write")) -> e911.E911Address:
    """Validate and store an E911 address for the caller's account (422 lists each bad field in `errors`)."""
    address = e911.AddressIn(**body.model_dump())
    return e911.create_address(tx.conn, _tenant(tx), address)


@router.get("/v1/e911-addresses")
def list_e911_addresses(
    limit: LimitParam = DEFAULT_LIMIT, cursor: CursorParam = None, tx: Tx = require("numbers:read")
) -> Page[e911.E911Address]:
    """E911 addresses of the caller's account(s), oldest first."""
    rows = e911.list_addresses(tx.conn, limit=limit + 1, after=decode_cursor(cursor))
    return page(rows, limit, lambda r: r)


@router.get("/v1/e911-addresses/{address_id}")
def get_e911_address(address_id: uuid.UUID, tx: Tx = require("numbers:read")) -> e911.E911Address:
    """One E911 address (404 for another tenant's)."""
    return e911.get_address(tx.conn, address_id)
