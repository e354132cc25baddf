"""Port-in requests: creation (PIN sealed, never stored in clear) and the status workflow."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from pydantic import BaseModel

from warp.numbers.errors import InvalidPortRequest, PortRequestNotFound
from warp.numbers.service import check_numbers, db_errors

Sealer = Callable[[str], str]
"""Turns a PIN into what is stored: a secret-store reference or ciphertext, never the PIN itself."""


class PortRequest(BaseModel):
    id: UUID
    account_id: UUID
    direction: str
    status: str
    losing_carrier_name: str
    losing_carrier_account_number: str | None
    has_pin: bool
    authorized_name: str
    service_address: dict[str, Any]
    loa_document_id: UUID | None
    requested_date: date | None
    foc_date: date | None
    rejection_code: str | None
    rejection_reason: str | None
    numbers: list[str]
    created_at: datetime
    submitted_at: datetime | None
    completed_at: datetime | None


SELECT = (
    "SELECT r.id, r.account_id, r.direction, r.status, r.losing_carrier_name, r.losing_carrier_account_number, "
    "r.pin_secret_ref IS NOT NULL AS has_pin, r.authorized_name, r.service_address, r.loa_document_id, "
    "r.requested_date, r.foc_date, r.rejection_code, r.rejection_reason, r.created_at, r.submitted_at, "
    "r.completed_at, coalesce((SELECT array_agg(n.number ORDER BY n.number) FROM numbers.port_request_numbers n "
    "WHERE n.port_request_id = r.id), '{}') AS numbers FROM numbers.port_requests r"
)


def create_port_request(
    conn: psycopg.Connection[Any],
    account_id: UUID,
    *,
    numbers: list[str],
    losing_carrier_name: str,
    authorized_name: str,
    seal: Sealer,
    pin: str | None = None,
    losing_carrier_account_number: str | None = None,
    service_address: dict[str, Any] | None = None,
    requested_date: date | None = None,
    loa_document_id: UUID | None = None,
) -> PortRequest:
    """Create a PENDING port-in for ``numbers``; the PIN is stored only as ``seal(pin)``."""
    wanted = check_numbers(numbers)
    if not losing_carrier_name.strip():
        raise InvalidPortRequest("losing_carrier_name: required")
    if not authorized_name.strip():
        raise InvalidPortRequest("authorized_name: required")
    sealed = seal(pin) if pin else None
    if sealed is not None and pin is not None and pin in sealed:
        raise InvalidPortRequest("pin: the sealer returned the PIN in clear")
    with db_errors(), conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "INSERT INTO numbers.port_requests (account_id, losing_carrier_name, losing_carrier_account_number, "
            "pin_secret_ref, authorized_name, service_address, loa_document_id, requested_date) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (
                account_id,
                losing_carrier_name.strip(),
                losing_carrier_account_number,
                sealed,
                authorized_name.strip(),
                Jsonb(service_address or {}),
                loa_document_id,
                requested_date,
            ),
        )
        row = cur.fetchone()
        if row is None:
            raise PortRequestNotFound("account_id: not visible")
        cur.executemany(
            "INSERT INTO numbers.port_request_numbers (port_request_id, account_id, number) VALUES (%s, %s, %s)",
            [(row["id"], account_id, n) for n in wanted],
        )
    return get_port_request(conn, row["id"])


def get_port_request(conn: psycopg.Connection[Any], request_id: UUID) -> PortRequest:
    """One port request the caller can see."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(SELECT + " WHERE r.id = %s", (request_id,))
        row = cur.fetchone()
    if row is None:
        raise PortRequestNotFound(f"port request {request_id}: not found")
    return PortRequest(**row)


def list_port_requests(
    conn: psycopg.Connection[Any], *, limit: int, after: tuple[datetime, UUID] | None = None
) -> list[PortRequest]:
    """Port requests the caller can see, oldest first, keyset-paginated."""
    with conn.cursor(row_factory=dict_row) as cur:
        if after is None:
            cur.execute(SELECT + " ORDER BY r.created_at, r.id LIMIT %s", (limit,))
        else:
            cur.execute(
                SELECT + " WHERE (r.created_at, r.id) > (%s, %s) ORDER BY r.created_at, r.id LIMIT %s",
                (*after, limit),
            )
        return [PortRequest(**r) for r in cur.fetchall()]


CUSTOMER_ACTIONS = {"submit": "SUBMITTED", "cancel": "CANCELLED"}
STAFF_ACTIONS = {"foc": "FOC_RECEIVED", "complete": "COMPLETED", "reject": "REJECTED"}


def transition(
    conn: psycopg.Connection[Any],
    request_id: UUID,
    action: str,
    *,
    foc_date: date | None = None,
    rejection_code: str | None = None,
    rejection_reason: str | None = None,
) -> PortRequest:
    """Apply an action (submit, cancel; staff: foc, complete, reject); the database enforces the machine.

    Completion makes the numbers ACTIVE DIDs of the account in the same transaction.
    """
    target = CUSTOMER_ACTIONS.get(action) or STAFF_ACTIONS.get(action)
    if target is None:
        raise InvalidPortRequest(f"action: {action!r} is not one of submit, cancel, foc, complete, reject")
    if action == "foc" and foc_date is None:
        raise InvalidPortRequest("foc_date: required to record the FOC")
    if action == "reject" and not rejection_code:
        raise InvalidPortRequest("rejection_code: required to reject")
    get_port_request(conn, request_id)
    with db_errors():
        cur = conn.execute(
            "UPDATE numbers.port_requests SET status = %s, foc_date = coalesce(%s, foc_date), "
            "rejection_code = coalesce(%s, rejection_code), rejection_reason = coalesce(%s, rejection_reason) "
            "WHERE id = %s",
            (target, foc_date, rejection_code, rejection_reason, request_id),
        )
    if cur.rowcount == 0:
        raise PortRequestNotFound(f"port request {request_id}: not found")
    return get_port_request(conn, request_id)
