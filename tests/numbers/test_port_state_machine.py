"""The porting state machine is enforced by the database: every illegal transition is refused (staff
included), and FOC / completion / rejection are refused to customers even when legal."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import psycopg
import pytest
from numbers_fixtures import STAFF, tenant_ctx
from psycopg.rows import dict_row

from warp.db import tenant

STATUSES = ["PENDING", "SUBMITTED", "FOC_RECEIVED", "COMPLETED", "REJECTED", "CANCELLED"]
LEGAL = {
    ("PENDING", "SUBMITTED"),
    ("PENDING", "CANCELLED"),
    ("SUBMITTED", "FOC_RECEIVED"),
    ("SUBMITTED", "REJECTED"),
    ("SUBMITTED", "CANCELLED"),
    ("FOC_RECEIVED", "COMPLETED"),
    ("FOC_RECEIVED", "REJECTED"),
    ("FOC_RECEIVED", "CANCELLED"),
}
STAFF_ONLY = {"FOC_RECEIVED", "COMPLETED", "REJECTED"}
PAIRS = [(a, b) for a, b in itertools.product(STATUSES, STATUSES) if a != b]


def _insert(conn: psycopg.Connection[Any], account: uuid.UUID, status: str) -> uuid.UUID:
    # Inserted directly in the starting state (the guard watches updates); FOC date and rejection code
    # are set so the table's own CHECKs never hide what the transition guard decides.
    row = conn.execute(
        "INSERT INTO numbers.port_requests (account_id, status, losing_carrier_name, authorized_name, foc_date, "
        "rejection_code) VALUES (%s, %s, 'Old Co', 'Pat', current_date, 'X1') RETURNING id",
        (account, status),
    ).fetchone()
    assert row is not None
    return uuid.UUID(str(row[0]))


def _move(db_url: str, ctx: tenant.Context, rid: uuid.UUID, status: str) -> str | None:
    """None when the update went through, else the constraint name of the refusal."""
    with psycopg.connect(db_url, row_factory=dict_row) as c:
        try:
            with tenant.transaction(c, ctx):
                cur = c.execute("UPDATE numbers.port_requests SET status = %s WHERE id = %s", (status, rid))
                assert cur.rowcount == 1
        except psycopg.errors.CheckViolation as exc:
            return exc.diag.constraint_name
    return None


def test_every_port_transition(db_url: str, conn: psycopg.Connection[Any], accounts: dict[str, Any]) -> None:
    alpha = accounts["ALPHA"]
    refused = []
    for old, new in PAIRS:
        rid = _insert(conn, alpha, old)
        if (old, new) in LEGAL and new in STAFF_ONLY:
            # Legal, but not for the customer: refused, and nothing changed.
            assert _move(db_url, tenant_ctx(alpha), rid, new) == "port_requests_status_transition_check"
            assert conn.execute(
                "SELECT status FROM numbers.port_requests WHERE id = %s", (rid,)
            ).fetchone() == (old,)
        result = _move(db_url, STAFF if new in STAFF_ONLY else tenant_ctx(alpha), rid, new)
        if (old, new) in LEGAL:
            assert result is None, (old, new)
            assert conn.execute(
                "SELECT status FROM numbers.port_requests WHERE id = %s", (rid,)
            ).fetchone() == (new,)
        else:
            assert result == "port_requests_status_transition_check", (old, new)
            refused.append((old, new))
    assert len(refused) == len(PAIRS) - len(LEGAL) == 22


@pytest.mark.parametrize("final", ["COMPLETED", "REJECTED", "CANCELLED"])
def test_final_states_are_final_even_for_staff(
    db_url: str, conn: psycopg.Connection[Any], accounts: dict[str, Any], final: str
) -> None:
    rid = _insert(conn, accounts["ALPHA"], final)
    for target in STATUSES:
        if target != final:
            assert _move(db_url, STAFF, rid, target) == "port_requests_status_transition_check"
