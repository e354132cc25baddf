"""rate_deck.carrier_trunk_id -> carrier_trunks.id, enforced by statement-level triggers (ADR 0006):
same errors, locks and ON DELETE CASCADE as the foreign key it replaces."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest
from routing_helpers import ctrunk, one, rate

Conn = psycopg.Connection[Any]


def count(conn: Conn, trunk_id: Any = None) -> int:
    if trunk_id is None:
        return int(one(conn, "SELECT count(*) FROM routing.rate_deck"))
    return int(one(conn, "SELECT count(*) FROM routing.rate_deck WHERE carrier_trunk_id = %s", (trunk_id,)))


def test_insert_with_an_unknown_carrier_trunk_fails_like_the_foreign_key(conn: Conn) -> None:
    known = ctrunk(conn, "a")
    unknown = uuid.uuid4()
    with pytest.raises(psycopg.errors.ForeignKeyViolation) as exc:
        conn.execute(
            "INSERT INTO routing.rate_deck (carrier_trunk_id, prefix, rate) VALUES (%s, '1', 0.01), (%s, '2', 0.01)",
            (known, unknown),
        )
    assert exc.value.diag.constraint_name == "rate_deck_carrier_trunk_id_fkey"
    assert str(unknown) in (exc.value.diag.message_detail or "")
    assert count(conn) == 0
    # A multi-row INSERT of known trunks passes; changing a row's trunk is checked too.
    other = ctrunk(conn, "b")
    conn.execute(
        "INSERT INTO routing.rate_deck (carrier_trunk_id, prefix, rate) VALUES (%s, '1', 0.01), (%s, '1', 0.02)",
        (known, other),
    )
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        conn.execute(
            "UPDATE routing.rate_deck SET carrier_trunk_id = %s WHERE carrier_trunk_id = %s", (unknown, other)
        )
    conn.execute("UPDATE routing.rate_deck SET rate = 0.03 WHERE carrier_trunk_id = %s", (other,))
    assert count(conn, other) == 1


def test_deleting_a_carrier_trunk_deletes_its_deck_and_rekeying_is_refused(conn: Conn) -> None:
    a, b = ctrunk(conn, "a"), ctrunk(conn, "b")
    rate(conn, a, "1", "0.01")
    rate(conn, a, "44", "0.02")
    rate(conn, b, "1", "0.03")
    with pytest.raises(psycopg.errors.ForeignKeyViolation) as exc:
        conn.execute("UPDATE routing.carrier_trunks SET id = %s WHERE id = %s", (uuid.uuid4(), a))
    assert exc.value.diag.constraint_name == "rate_deck_carrier_trunk_id_fkey"
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        conn.execute("TRUNCATE routing.carrier_trunks CASCADE")
    conn.execute("DELETE FROM routing.carrier_trunks WHERE id = %s", (a,))
    assert (count(conn, a), count(conn, b)) == (0, 1)
    # Through the carrier's own cascade too.
    conn.execute(
        "DELETE FROM routing.carriers WHERE id = (SELECT carrier_id FROM routing.carrier_trunks WHERE id = %s)",
        (b,),
    )
    assert count(conn) == 0


def test_an_uncommitted_deck_row_locks_its_carrier_trunk(conn: Conn, db_url: str) -> None:
    """As with the foreign key: a concurrent delete of the carrier trunk waits for the inserting
    transaction, then deletes the rows it committed (none left behind)."""
    a = ctrunk(conn, "a")
    with psycopg.connect(db_url) as writer, psycopg.connect(db_url) as deleter:
        writer.execute(
            "INSERT INTO routing.rate_deck (carrier_trunk_id, prefix, rate) VALUES (%s, '1', 0.01)", (a,)
        )
        deleter.execute("SET lock_timeout = '200ms'")
        with pytest.raises(psycopg.errors.LockNotAvailable):
            deleter.execute("DELETE FROM routing.carrier_trunks WHERE id = %s", (a,))
        deleter.rollback()
        writer.commit()
        deleter.execute("DELETE FROM routing.carrier_trunks WHERE id = %s", (a,))
        deleter.commit()
    assert count(conn) == 0
