"""Cursor pagination with one shape for every list: ``{"data": [...], "next_cursor": "..." | null}``."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar
from uuid import UUID

from fastapi import Query
from pydantic import BaseModel

from warp.errors import WarpError

T = TypeVar("T")
DEFAULT_LIMIT = 50
MAX_LIMIT = 200

LimitParam = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page (1-200).")]
CursorParam = Annotated[
    str | None, Query(max_length=256, description="The next_cursor of the previous page.")
]


class InvalidCursor(WarpError):
    code = "invalid-cursor"
    http_status = 422


class Page(BaseModel, Generic[T]):
    """One page of a list."""

    data: list[T]
    next_cursor: str | None


def encode_cursor(created_at: datetime, row_id: UUID) -> str:
    raw = json.dumps([created_at.isoformat(), str(row_id)], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> tuple[datetime, UUID] | None:
    """The (created_at, id) position a cursor stands for; InvalidCursor names the parameter."""
    if cursor is None or cursor == "":
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, row_id = json.loads(raw)
        when = datetime.fromisoformat(created)
        if when.tzinfo is None:
            raise ValueError("naive time")
        return when, UUID(row_id)
    except (ValueError, TypeError, json.JSONDecodeError) as exc:
        raise InvalidCursor("cursor: not a cursor returned by this API") from exc


def page(
    rows: Sequence[Any],
    limit: int,
    convert: Callable[[Any], T],
    key: Callable[[Any], tuple[datetime, UUID]] | None = None,
) -> Page[T]:
    """Build a page from ``limit + 1`` fetched rows (the extra one tells whether more exist)."""
    key = key or (lambda r: (r.created_at, r.id))
    more = len(rows) > limit
    shown = list(rows[:limit])
    next_cursor = encode_cursor(*key(shown[-1])) if more and shown else None
    return Page[T](data=[convert(r) for r in shown], next_cursor=next_cursor)
