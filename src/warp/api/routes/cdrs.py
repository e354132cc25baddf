"""Call detail records: filtered list (cursor pagination) and CSV export (streamed)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from warp.api.deps import Tx, WarpRoute, require, state_of
from warp.api.pagination import DEFAULT_LIMIT, CursorParam, LimitParam, Page, decode_cursor, page
from warp.cdr import query
from warp.cdr.errors import InvalidCdrInput
from warp.cdr.query import CdrFilter, CdrRow
from warp.db import tenant

router = APIRouter(prefix="/v1/cdrs", tags=["cdrs"], route_class=WarpRoute)

From = Annotated[datetime | None, Query(alias="from", description="Start time from (inclusive).")]
To = Annotated[datetime | None, Query(alias="to", description="Start time before (exclusive).")]
Number = Annotated[
    str | None, Query(pattern=r"^\+[1-9][0-9]{1,14}$", description="Calling or called number (E.164).")
]
Status = Annotated[
    str | None,
    Query(pattern=r"^(ANSWERED|FAILED|RATED|UNRATED|PENDING)$", description="Call or rating status."),
]


def _filter(
    start: datetime | None,
    end: datetime | None,
    number: str | None,
    trunk_id: UUID | None,
    status: str | None,
) -> CdrFilter:
    for name, value in (("from", start), ("to", end)):
        if value is not None and value.tzinfo is None:
            raise InvalidCdrInput(f"{name}: give a time zone offset (e.g. 2026-11-01T00:00:00Z)")
    return CdrFilter(start=start, end=end, number=number, trunk_id=trunk_id, status=status)


@router.get("")
def list_cdrs(
    start: From = None,
    end: To = None,
    number: Number = None,
    trunk_id: UUID | None = None,
    status: Status = None,
    limit: LimitParam = DEFAULT_LIMIT,
    cursor: CursorParam = None,
    tx: Tx = require("cdr:read"),
) -> Page[CdrRow]:
    """The caller's CDRs, newest first."""
    rows = query.list_cdrs(
        tx.conn, _filter(start, end, number, trunk_id, status), limit=limit + 1, after=decode_cursor(cursor)
    )
    return page(rows, limit, lambda r: r, key=lambda r: (r.start_time, r.id))


@router.get("/export", response_class=StreamingResponse)
def export_cdrs(
    request: Request,
    start: From = None,
    end: To = None,
    number: Number = None,
    trunk_id: UUID | None = None,
    status: Status = None,
    format: Annotated[str, Query(pattern=r"^csv$", description="Export format (csv).")] = "csv",
    tx: Tx = require("cdr:read"),
) -> StreamingResponse:
    """The caller's CDRs as CSV, streamed (not paginated)."""
    flt = _filter(start, end, number, trunk_id, status)
    query.list_cdrs(tx.conn, flt, limit=0)  # validates the filter before the response starts
    pool = state_of(request).pool
    context = tx.principal.context(tx.request_id)

    def body() -> Iterator[str]:
        # The request's own transaction ends when the handler returns; the stream reads in its own,
        # acting as the same principal (row-level security applies).
        with pool.connection() as conn, tenant.transaction(conn, context):
            yield from query.export_csv(conn, flt)

    return StreamingResponse(
        body(), media_type="text/csv", headers={"Content-Disposition": 'attachment; filename="cdrs.csv"'}
    )
