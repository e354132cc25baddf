"""Reports from the materialized views in schema ``reporting`` (read from the replica when configured).

Staff read traffic and carrier performance; a customer reads only its own daily summary, through the
tenant-filtered view (materialized views are not covered by row-level security).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response

from warp.api.deps import Tx, WarpRoute, require
from warp.db import tenant
from warp.reporting import service

router = APIRouter(prefix="/v1/reports", tags=["reports"], route_class=WarpRoute)
SOURCE_HEADER = "X-Warp-Read-Source"


def _period(start: datetime | None, end: datetime | None, default: timedelta) -> tuple[datetime, datetime]:
    end = end or datetime.now(UTC)
    start = start or end - default
    return (start if start.tzinfo else start.replace(tzinfo=UTC)), (
        end if end.tzinfo else end.replace(tzinfo=UTC)
    )


def _read(
    request: Request, response: Response, tx: Tx, read: Callable[[Any], list[dict[str, Any]]]
) -> dict[str, Any]:
    """Run ``read`` on the reporting connection acting as the caller (RLS/tenant context applied there too)."""
    source = getattr(request.app.state, "reporting", None)
    if source is None:  # no reporting source configured: the request's own transaction
        response.headers[SOURCE_HEADER] = "primary"
        return {"data": read(tx.conn), "source": "primary"}
    with source.connection() as (conn, target), tenant.transaction(conn, tx.principal.context(tx.request_id)):
        rows = read(conn)
    response.headers[SOURCE_HEADER] = target
    return {"data": rows, "source": target}


@router.get("/traffic")
def traffic(
    request: Request,
    response: Response,
    start: datetime | None = Query(None, alias="from", description="Start (default: 24 hours ago)."),
    end: datetime | None = Query(None, alias="to", description="End, exclusive (default: now)."),
    account_id: UUID | None = Query(None, description="Only this account."),
    tx: Tx = require("staff:read"),
) -> dict[str, Any]:
    """Hourly traffic per account and direction (staff)."""
    s, e = _period(start, end, timedelta(hours=24))
    return _read(request, response, tx, lambda c: service.traffic(c, s, e, account_id))


@router.get("/carriers")
def carriers(
    request: Request,
    response: Response,
    start: datetime | None = Query(None, alias="from", description="Start (default: 7 days ago)."),
    end: datetime | None = Query(None, alias="to", description="End, exclusive (default: tomorrow)."),
    tx: Tx = require("staff:read"),
) -> dict[str, Any]:
    """Daily carrier performance: ASR, ACD, PDD, NER, minutes, cost (staff)."""
    s, e = _period(start, end or datetime.now(UTC) + timedelta(days=1), timedelta(days=8))
    return _read(request, response, tx, lambda c: service.carriers(c, s, e))


@router.get("/daily-summary")
def daily_summary(
    request: Request,
    response: Response,
    start: datetime | None = Query(None, alias="from", description="Start (default: 30 days ago)."),
    end: datetime | None = Query(None, alias="to", description="End, exclusive (default: tomorrow)."),
    tx: Tx = require("cdr:read"),
) -> dict[str, Any]:
    """The caller's own daily calls, minutes, messages and charges (its account and sub-accounts)."""
    s, e = _period(start, end or datetime.now(UTC) + timedelta(days=1), timedelta(days=31))
    return _read(request, response, tx, lambda c: service.daily_summary(c, s, e))
