"""cdr.raw_cdr's references (account, trunk, carrier trunk) checked per statement by triggers: the
same guarantee as the foreign keys they replace, including against concurrent deletes."""

from __future__ import annotations

import threading
import time
from typing import Any
from uuid import uuid4

import psycopg
import pytest
from cdr_helpers import World, build_world, one

INSERT = (
    "INSERT INTO cdr.raw_cdr (start_time, call_id, account_id, trunk_id, carrier_trunk_id) "
    "VALUES ('2026-11-10 12:00:00+00', %s, %s, %s, %s)"
)


@pytest.fixture
def world(conn: psycopg.Connection[Any]) -> World:
    return build_world(conn)


def fk_error(conn: psycopg.Connection[Any], query: str, params: Any) -> str:
    with pytest.raises(psycopg.errors.ForeignKeyViolation) as exc:
        conn.execute(query, params)
    return str(exc.value.diag.constraint_name)


def test_inserts_and_updates_need_existing_references(conn: psycopg.Connection[Any], world: World) -> None:
    conn.execute(INSERT, ("ok-1", world.acme, world.acme_trunk, world.carrier_trunk))
    conn.execute(INSERT, ("ok-2", world.acme, None, None))  # account without a trunk: fine
    conn.execute(INSERT, ("ok-3", None, None, None))  # unidentified: fine
    assert fk_error(conn, INSERT, ("x", uuid4(), None, None)) == "raw_cdr_account_id_fkey"
    # the trunk must belong to the row's account (the composite key)
    assert fk_error(conn, INSERT, ("x", world.acme, world.globex_trunk, None)) == "raw_cdr_trunk_id_fkey"
    assert fk_error(conn, INSERT, ("x", world.acme, None, uuid4())) == "raw_cdr_carrier_trunk_id_fkey"
    # one bad row in a multi-row statement fails the statement
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        conn.execute(
            "INSERT INTO cdr.raw_cdr (start_time, call_id, account_id) "
            "SELECT '2026-11-10 12:00:00+00', 'm' || g, CASE WHEN g = 50 THEN %s ELSE %s END "
            "FROM generate_series(1, 100) g",
            (uuid4(), world.acme),
        )
    assert one(conn, "SELECT count(*) FROM cdr.raw_cdr") == 3
    assert (
        fk_error(conn, "UPDATE cdr.raw_cdr SET carrier_trunk_id = %s WHERE call_id = 'ok-1'", (uuid4(),))
        == "raw_cdr_carrier_trunk_id_fkey"
    )
    conn.execute("UPDATE cdr.raw_cdr SET account_id = %s WHERE call_id = 'ok-2'", (world.globex,))


def test_referenced_rows_cannot_be_deleted_or_rekeyed(conn: psycopg.Connection[Any], world: World) -> None:
    conn.execute(INSERT, ("c1", world.acme, world.acme_trunk, world.carrier_trunk))
    assert (
        fk_error(conn, "DELETE FROM routing.carrier_trunks WHERE id = %s", (world.carrier_trunk,))
        == "raw_cdr_carrier_trunk_id_fkey"
    )
    assert (
        fk_error(conn, "DELETE FROM routing.trunks WHERE id = %s", (world.acme_trunk,))
        == "raw_cdr_trunk_id_fkey"
    )
    assert (
        fk_error(
            conn, "UPDATE routing.trunks SET account_id = %s WHERE id = %s", (world.globex, world.acme_trunk)
        )
        == "raw_cdr_trunk_id_fkey"
    )
    # deleting the account cascades to its trunks: refused either way
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        conn.execute("DELETE FROM accounts.accounts WHERE id = %s", (world.acme,))
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        conn.execute("TRUNCATE routing.carrier_trunks CASCADE")
    # other updates of a referenced row, and deleting unreferenced rows, are fine
    conn.execute("UPDATE routing.trunks SET name = 'renamed' WHERE id = %s", (world.acme_trunk,))
    conn.execute("UPDATE accounts.accounts SET name = 'Acme 2' WHERE id = %s", (world.acme,))
    conn.execute("DELETE FROM routing.trunk_acl WHERE trunk_id = %s", (world.globex_trunk,))
    conn.execute("DELETE FROM routing.trunks WHERE id = %s", (world.globex_trunk,))
    conn.execute("DELETE FROM cdr.raw_cdr")
    conn.execute("DELETE FROM routing.rate_deck WHERE carrier_trunk_id = %s", (world.carrier_trunk,))
    conn.execute("DELETE FROM routing.carrier_trunks WHERE id = %s", (world.carrier_trunk,))
    with psycopg.connect(conn.info.dsn) as rr:
        rr.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        with pytest.raises(psycopg.errors.FeatureNotSupported):
            rr.execute("DELETE FROM routing.trunks WHERE id = %s", (world.acme_trunk,))


def wait_for_lock(conn: psycopg.Connection[Any], pid: int) -> None:
    deadline = time.monotonic() + 30
    while one(
        conn, "SELECT wait_event_type IS DISTINCT FROM 'Lock' FROM pg_stat_activity WHERE pid = %s", (pid,)
    ):
        assert time.monotonic() < deadline, "the other session never waited for the lock"
        time.sleep(0.02)


def in_thread(dsn: str, query: str, params: Any) -> tuple[threading.Thread, list[BaseException], list[int]]:
    errors: list[BaseException] = []
    pids: list[int] = []
    ready = threading.Event()

    def run() -> None:
        with psycopg.connect(dsn, autocommit=True) as other:
            pids.append(other.info.backend_pid)
            ready.set()
            try:
                other.execute(query, params)
            except psycopg.Error as exc:
                errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    ready.wait(10)
    return thread, errors, pids


def test_concurrent_delete_waits_for_the_ingest_and_fails(
    conn: psycopg.Connection[Any], world: World
) -> None:
    conn.execute("DELETE FROM routing.rate_deck")
    with psycopg.connect(conn.info.dsn) as ingest:
        ingest.execute(INSERT, ("c1", world.acme, world.acme_trunk, world.carrier_trunk))  # not committed
        thread, errors, pids = in_thread(
            conn.info.dsn, "DELETE FROM routing.carrier_trunks WHERE id = %s", (world.carrier_trunk,)
        )
        wait_for_lock(conn, pids[0])
        ingest.commit()
        thread.join(30)
    assert len(errors) == 1 and isinstance(errors[0], psycopg.errors.ForeignKeyViolation)
    assert one(conn, "SELECT count(*) FROM routing.carrier_trunks") == 1


def test_ingest_after_a_concurrent_delete_fails(conn: psycopg.Connection[Any], world: World) -> None:
    conn.execute("DELETE FROM routing.rate_deck")
    with psycopg.connect(conn.info.dsn) as deleter:
        deleter.execute(
            "DELETE FROM routing.carrier_trunks WHERE id = %s", (world.carrier_trunk,)
        )  # not committed
        thread, errors, pids = in_thread(
            conn.info.dsn, INSERT, ("c1", world.acme, world.acme_trunk, world.carrier_trunk)
        )
        wait_for_lock(conn, pids[0])
        deleter.commit()
        thread.join(30)
    assert len(errors) == 1 and isinstance(errors[0], psycopg.errors.ForeignKeyViolation)
    assert one(conn, "SELECT count(*) FROM cdr.raw_cdr") == 0
