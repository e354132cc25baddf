"""``Idempotency-Key`` on POSTs that create money or messages: store the first response, replay it.

Use inside a handler, in the request transaction::

    return idempotent(tx, key, account_id, request, body.model_dump(mode="json"), 201,
                      lambda: service.create_payment(tx.conn, ...))

The first request with a key claims it (INSERT ... ON CONFLICT DO NOTHING); a concurrent retry
waits on the unique index until the first commits, then replays its response. The same key with a
different request is refused (422); records expire after 24 hours.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any
from uuid import UUID

from fastapi import Header
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from warp.api.deps import Tx
from warp.errors import WarpError

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Retry-safe key: a retry with the same key and request replays the first response.",
    ),
]


class IdempotencyKeyReused(WarpError):
    code = "idempotency-key-reused"
    http_status = 422


class IdempotencyInProgress(WarpError):
    code = "idempotency-in-progress"
    http_status = 409


@dataclass(frozen=True)
class Outcome:
    """What ``create`` returns when the response is not the usual status (e.g. a refusal that commits)."""

    status_code: int
    content: Any
    media_type: str | None = None


def _response(result: Any, status_code: int) -> tuple[int, Any, str | None]:
    if isinstance(result, Outcome):
        return result.status_code, jsonable_encoder(result.content), result.media_type
    return status_code, jsonable_encoder(result), None


def fingerprint(method: str, path: str, body: Any) -> str:
    canonical = json.dumps(jsonable_encoder(body), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{method}\n{path}\n{canonical}".encode()).hexdigest()


def idempotent(
    tx: Tx,
    key: str | None,
    account_id: UUID,
    method: str,
    path: str,
    body: Any,
    status_code: int,
    create: Callable[[], Any],
) -> JSONResponse:
    """Run ``create`` once per (account, key); return its JSON response, or the stored one on a retry."""
    if key is None:
        status, content, media_type = _response(create(), status_code)
        return JSONResponse(content, status_code=status, media_type=media_type)
    request_hash = fingerprint(method, path, body)
    cur = tx.conn.cursor(row_factory=dict_row)
    claimed = cur.execute(
        "INSERT INTO auth.idempotency_keys (account_id, idempotency_key, request_method, request_path, "
        "request_hash) VALUES (%s, %s, %s, %s, %s) ON CONFLICT (account_id, idempotency_key) DO NOTHING "
        "RETURNING id",
        (account_id, key, method, path[:2000], request_hash),
    ).fetchone()
    if claimed is None:
        prior = cur.execute(
            "SELECT request_hash, response_status, response_body FROM auth.idempotency_keys "
            "WHERE account_id = %s AND idempotency_key = %s",
            (account_id, key),
        ).fetchone()
        if prior is None:  # expired and cleaned up between the two statements: treat as new
            raise IdempotencyInProgress("Idempotency-Key: retry the request")
        if prior["request_hash"].strip() != request_hash:
            raise IdempotencyKeyReused("Idempotency-Key: already used with a different request")
        if prior["response_status"] is None:
            raise IdempotencyInProgress("Idempotency-Key: the first request is still in progress")
        return JSONResponse(
            prior["response_body"],
            status_code=prior["response_status"],
            headers={"Idempotent-Replayed": "true"},
        )
    status, content, media_type = _response(create(), status_code)
    cur.execute(
        "UPDATE auth.idempotency_keys SET response_status = %s, response_body = %s WHERE id = %s",
        (status, Jsonb(content), claimed["id"]),
    )
    return JSONResponse(content, status_code=status, media_type=media_type)
