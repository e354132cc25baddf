"""The inventory status machine is enforced by the database: every illegal transition is refused."""

from __future__ import annotations

import itertools
from typing import Any

import psycopg
import pytest

STATUSES = ["AVAILABLE", "RESERVED", "ACTIVE", "AGING", "PORTING_IN", "PORTING_OUT", "DISCONNECTED"]
LEGAL = {
    ("AVAILABLE", "RESERVED"),
    ("AVAILABLE", "ACTIVE"),
    ("AVAILABLE", "PORTING_IN"),
    ("AVAILABLE", "DISCONNECTED"),
    ("RESERVED", "AVAILABLE"),
    ("RESERVED", "ACTIVE"),
    ("ACTIVE", "AGING"),
    ("ACTIVE", "PORTING_OUT"),
    ("ACTIVE", "DISCONNECTED"),
    ("AGING", "AVAILABLE"),
    ("AGING", "DISCONNECTED"),
    ("PORTING_IN", "ACTIVE"),
    ("PORTING_IN", "DISCONNECTED"),
    ("PORTING_OUT", "ACTIVE"),
    ("PORTING_OUT", "DISCONNECTED"),
    ("DISCONNECTED", "AVAILABLE"),
    ("DISCONNECTED", "PORTING_IN"),
}
PAIRS = [(a, b) for a, b in itertools.product(STATUSES, STATUSES) if a != b]


def _insert(conn: psycopg.Connection[Any], number: str, status: str, account: Any) -> None:
    conn.execute(
        "INSERT INTO numbers.inventory (number, status, reserved_by_account_id, reservation_expires_at, "
        "aging_expires_at) VALUES (%s, %s, %s, now() + interval '1 hour', "
        "CASE WHEN %s = 'AGING' THEN now() - interval '1 day' END)",
        (number, status, account if status == "RESERVED" else None, status),
    )


def _update(conn: psycopg.Connection[Any], number: str, status: str, account: Any) -> None:
    conn.execute(
        "UPDATE numbers.inventory SET status = %s, reserved_by_account_id = %s, "
        "reservation_expires_at = now() + interval '1 hour' WHERE number = %s",
        (status, account, number),
    )


def test_every_transition(conn: psycopg.Connection[Any], accounts: dict[str, Any]) -> None:
    account = accounts["ALPHA"]
    refused = []
    for i, (old, new) in enumerate(PAIRS):
        number = f"+1303555{i:04d}"
        _insert(conn, number, old, account)
        if (old, new) in LEGAL:
            _update(conn, number, new, account)
            row = conn.execute("SELECT status FROM numbers.inventory WHERE number = %s", (number,)).fetchone()
            assert row == (new,), (old, new)
        else:
            with pytest.raises(psycopg.errors.CheckViolation) as info:
                _update(conn, number, new, account)
            assert info.value.diag.constraint_name == "inventory_status_transition_check"
            refused.append((old, new))
    assert len(refused) == len(PAIRS) - len(LEGAL) == 25


def test_aging_number_cannot_be_sold_before_its_period_ends(conn: psycopg.Connection[Any]) -> None:
    conn.execute(
        "INSERT INTO numbers.inventory (number, status, aging_expires_at) "
        "VALUES ('+13035550001', 'AGING', now() + interval '1 day')"
    )
    with pytest.raises(psycopg.errors.CheckViolation, match="aging until"):
        conn.execute("UPDATE numbers.inventory SET status = 'AVAILABLE' WHERE number = '+13035550001'")


def test_leaving_reserved_clears_the_reservation(
    conn: psycopg.Connection[Any], accounts: dict[str, Any]
) -> None:
    _insert(conn, "+13035550002", "RESERVED", accounts["ALPHA"])
    conn.execute("UPDATE numbers.inventory SET status = 'AVAILABLE' WHERE number = '+13035550002'")
    row = conn.execute(
        "SELECT reserved_by_account_id, reservation_expires_at FROM numbers.inventory WHERE number = '+13035550002'"
    ).fetchone()
    assert row == (None, None)
