"""Routing: customer SIP trunks, their IP ACLs, and the least-cost-routing decision for a destination."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from warp.api.deps import Tx, WarpRoute, require
from warp.api.pagination import DEFAULT_LIMIT, CursorParam, LimitParam, Page, decode_cursor, page
from warp.routing import service
from warp.routing.errors import InvalidRouting
from warp.routing.service import AclEntry, Trunk

router = APIRouter(tags=["routing"], route_class=WarpRoute)

AuthType = Annotated[str, Field(pattern=r"^(IP_ACL|SIP_REGISTER|BOTH)$")]
TechPrefix = Annotated[str, Field(pattern=r"^[0-9#*]{1,16}$")]
Codec = Annotated[str, Field(pattern=r"^[A-Za-z0-9._/-]{1,32}$")]
SipUser = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._~+-]+$")]
Realm = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9.-]+$")]
Password = Annotated[str, Field(min_length=8, max_length=128)]
Destination = Annotated[
    str, Query(min_length=1, max_length=32, description="Dialled number: digits, optionally E.164 with +.")
]


def _account(tx: Tx, requested: UUID | None) -> UUID:
    """The account acted for: the one asked for (staff must say; resellers may name a customer), else own."""
    account = requested or tx.principal.account_id
    if account is None:
        raise InvalidRouting("account_id: required when acting as staff")
    return account


class TrunkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_id: UUID | None = Field(default=None, description="Owning account (default: the caller's).")
    name: str = Field(min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=2000)
    auth_type: AuthType = "IP_ACL"
    sip_username: SipUser | None = None
    sip_password: Password | None = Field(default=None, description="Only its digest HA1 is stored.")
    sip_realm: Realm | None = None
    max_concurrent_calls: int = Field(default=10, ge=1, le=100_000)
    max_calls_per_second: int = Field(default=5, ge=1, le=10_000)
    codecs: list[Codec] = Field(default=["PCMU", "PCMA"], min_length=1, max_length=16)
    tech_prefix: TechPrefix | None = None
    enabled: bool = True


class TrunkPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=2000)
    auth_type: AuthType | None = None
    sip_username: SipUser | None = None
    sip_password: Password | None = None
    sip_realm: Realm | None = None
    max_concurrent_calls: int | None = Field(default=None, ge=1, le=100_000)
    max_calls_per_second: int | None = Field(default=None, ge=1, le=10_000)
    codecs: list[Codec] | None = Field(default=None, min_length=1, max_length=16)
    tech_prefix: TechPrefix | None = None
    enabled: bool | None = None


_NULLABLE = {"description", "tech_prefix", "sip_username", "sip_password", "sip_realm"}


class AclIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    network: str = Field(min_length=2, max_length=64, description="IPv4/IPv6 address or CIDR network.")
    description: str | None = Field(default=None, max_length=500)


@router.get("/v1/trunks")
def list_trunks(
    account_id: UUID | None = None,
    limit: LimitParam = DEFAULT_LIMIT,
    cursor: CursorParam = None,
    tx: Tx = require("routing:read"),
) -> Page[Trunk]:
    """Customer trunks visible to the caller (its account, a reseller's customers; staff: all), oldest first."""
    rows = service.list_trunks_page(
        tx.conn, limit=limit + 1, after=decode_cursor(cursor), account_id=account_id
    )
    return page(rows, limit, lambda r: r)


@router.post("/v1/trunks", status_code=201)
def create_trunk(body: TrunkIn, tx: Tx = require("routing:write")) -> Trunk:
    """Create a customer trunk; a SIP password is stored only as its digest HA1."""
    fields = body.model_dump(exclude={"account_id"})
    return service.create_trunk(tx.conn, account_id=_account(tx, body.account_id), **fields)


@router.get("/v1/trunks/{trunk_id}")
def get_trunk(trunk_id: UUID, tx: Tx = require("routing:read")) -> Trunk:
    """One trunk (404 for a trunk of another tenant)."""
    return service.get_trunk(tx.conn, trunk_id)


@router.patch("/v1/trunks/{trunk_id}")
def update_trunk(trunk_id: UUID, body: TrunkPatch, tx: Tx = require("routing:write")) -> Trunk:
    """Change a trunk; changing SIP credentials needs `sip_password`."""
    changes: dict[str, Any] = body.model_dump(exclude_unset=True)
    nulls = sorted(k for k, v in changes.items() if v is None and k not in _NULLABLE)
    if nulls:
        raise InvalidRouting(f"{', '.join(nulls)}: must not be null")
    return service.update_trunk(tx.conn, trunk_id, **changes)


@router.delete("/v1/trunks/{trunk_id}", status_code=204)
def delete_trunk(trunk_id: UUID, tx: Tx = require("routing:write")) -> Response:
    """Delete a trunk and its ACL."""
    service.delete_trunk(tx.conn, trunk_id)
    return Response(status_code=204)


@router.get("/v1/trunks/{trunk_id}/acl")
def list_acl(
    trunk_id: UUID,
    limit: LimitParam = DEFAULT_LIMIT,
    cursor: CursorParam = None,
    tx: Tx = require("routing:read"),
) -> Page[AclEntry]:
    """The trunk's IP ACL, oldest entry first."""
    rows = service.list_acl_page(tx.conn, trunk_id, limit=limit + 1, after=decode_cursor(cursor))
    return page(rows, limit, lambda r: r)


@router.post("/v1/trunks/{trunk_id}/acl", status_code=201)
def add_acl(trunk_id: UUID, body: AclIn, tx: Tx = require("routing:write")) -> AclEntry:
    """Allow a network on the trunk (409 when it overlaps another account's address space)."""
    return service.add_acl(tx.conn, trunk_id, body.network, body.description)


@router.delete("/v1/trunks/{trunk_id}/acl", status_code=204)
def remove_acl(
    trunk_id: UUID,
    network: Annotated[str, Query(min_length=2, max_length=64, description="The network to remove.")],
    tx: Tx = require("routing:write"),
) -> Response:
    """Remove a network from the trunk's ACL."""
    service.remove_acl(tx.conn, trunk_id, network)
    return Response(status_code=204)


@router.get("/v1/routing/lcr")
def least_cost_route(
    destination: Destination,
    origin: Annotated[str | None, Query(min_length=1, max_length=32, pattern=r"^\+?[0-9]{1,20}$")] = None,
    account_id: UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=20)] = 5,
    trunk_id: UUID | None = None,
    tx: Tx = require("routing:read"),
) -> dict[str, Any]:
    """Where a call to `destination` would go, in order. Customers see carrier trunks and prefixes;
    staff also see costs, the sell rate and the trunks left out with the reason. `trunk_id`: the
    account's customer trunk the call arrives on (that trunk's partition override applies)."""
    decision = service.lcr(
        tx.conn, destination, _account(tx, account_id), origin=origin, limit=limit, trunk_id=trunk_id
    )
    return decision.as_dict(show_costs=tx.principal.is_staff)
