"""Reservation, order and release through the definer functions, as tenants under RLS."""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from numbers_fixtures import STAFF, tenant_ctx
from psycopg.rows import dict_row

from warp.db import tenant
from warp.numbers import service
from warp.numbers.errors import InvalidTransition, NumberNotFound, NumbersNotAvailable


def _tx(db_url: str, account: uuid.UUID | None) -> Any:
    class _Tx:
        def __enter__(self) -> psycopg.Connection[Any]:
            self.conn = psycopg.connect(db_url, row_factory=dict_row)
            self.tx = tenant.transaction(self.conn, tenant_ctx(account) if account else STAFF)
            return self.tx.__enter__()

        def __exit__(self, *exc: Any) -> None:
            try:
                self.tx.__exit__(*exc)
            finally:
                self.conn.close()

    return _Tx()


def _status(conn: psycopg.Connection[Any], number: str) -> tuple[Any, ...] | None:
    return conn.execute(
        "SELECT status, reserved_by_account_id FROM numbers.inventory WHERE number = %s", (number,)
    ).fetchone()


def test_reserve_all_or_nothing(
    db_url: str,
    conn: psycopg.Connection[Any],
    accounts: dict[str, uuid.UUID],
    inventory: Callable[..., list[str]],
) -> None:
    nums = inventory(3)
    alpha, beta = accounts["ALPHA"], accounts["BETA"]
    with _tx(db_url, alpha) as c:
        got = service.reserve(c, nums[:2])
    assert [r.number for r in got] == nums[:2]
    with pytest.raises(NumbersNotAvailable, match=nums[1].replace("+", r"\+")), _tx(db_url, beta) as c:
        service.reserve(c, nums[1:])
    assert _status(conn, nums[2]) == ("AVAILABLE", None)
    assert _status(conn, nums[1]) == ("RESERVED", alpha)
    with pytest.raises(NumberNotFound, match="9999"), _tx(db_url, beta) as c:
        service.reserve(c, [nums[2], "+13035559999"])
    assert _status(conn, nums[2]) == ("AVAILABLE", None)


def test_expired_reservations_return_to_available(
    db_url: str,
    conn: psycopg.Connection[Any],
    accounts: dict[str, uuid.UUID],
    inventory: Callable[..., list[str]],
) -> None:
    nums = inventory(2)
    with _tx(db_url, accounts["ALPHA"]) as c:
        service.reserve(c, nums[:1], ttl=timedelta(seconds=1))
        service.reserve(c, nums[1:])
    conn.execute(
        "UPDATE numbers.inventory SET reservation_expires_at = now() - interval '1 second' WHERE number = %s",
        (nums[0],),
    )
    with _tx(db_url, accounts["BETA"]) as c:
        assert service.cleanup_expired_reservations(c) == 1
    assert _status(conn, nums[0]) == ("AVAILABLE", None)
    assert _status(conn, nums[1]) == ("RESERVED", accounts["ALPHA"])


def test_order_and_release(
    db_url: str,
    conn: psycopg.Connection[Any],
    accounts: dict[str, uuid.UUID],
    inventory: Callable[..., list[str]],
) -> None:
    nums = inventory(4)
    alpha, beta = accounts["ALPHA"], accounts["BETA"]
    with _tx(db_url, alpha) as c:
        service.reserve(c, nums[:2])
    # Beta cannot order Alpha's reservation, and nothing of the order happens.
    with pytest.raises(NumbersNotAvailable), _tx(db_url, beta) as c:
        service.order(c, [nums[2], nums[0]])
    assert _status(conn, nums[2]) == ("AVAILABLE", None)
    with _tx(db_url, alpha) as c:
        dids = service.order(c, nums[:3])
    assert [d.number for d in dids] == nums[:3]
    assert all(d.account_id == alpha and not d.voice_enabled for d in dids)
    assert _status(conn, nums[0]) == ("ACTIVE", None)
    rows = conn.execute(
        "SELECT count(*) FROM numbers.did_assignments WHERE account_id = %s AND disconnected_at IS NULL",
        (alpha,),
    ).fetchone()
    assert rows == (3,)
    # Beta does not see Alpha's DID and cannot release it.
    with pytest.raises(NumberNotFound), _tx(db_url, beta) as c:
        service.release(c, nums[0])
    with _tx(db_url, beta) as c:
        assert service.list_dids(c, limit=10) == []
    with _tx(db_url, alpha) as c:
        until = service.release(c, nums[0])
    row = conn.execute(
        "SELECT status, aging_expires_at - now() > interval '89 days' FROM numbers.inventory WHERE number = %s",
        (nums[0],),
    ).fetchone()
    assert row == ("AGING", True)
    assert until is not None
    assert conn.execute("SELECT count(*) FROM numbers.dids WHERE number = %s", (nums[0],)).fetchone() == (0,)
    assert conn.execute(
        "SELECT disconnected_at IS NOT NULL FROM numbers.did_assignments WHERE number = %s", (nums[0],)
    ).fetchone() == (True,)
    # An aging number cannot be reserved, nor forced back to AVAILABLE early.
    with pytest.raises(NumbersNotAvailable), _tx(db_url, beta) as c:
        service.reserve(c, [nums[0]])
    with pytest.raises(InvalidTransition), service.db_errors():
        conn.execute("UPDATE numbers.inventory SET status = 'AVAILABLE' WHERE number = %s", (nums[0],))
    conn.execute(
        "UPDATE numbers.inventory SET aging_expires_at = now() - interval '1 second' WHERE number = %s",
        (nums[0],),
    )
    with _tx(db_url, None) as c:
        assert service.recycle_aged_numbers(c) == 1
    with _tx(db_url, beta) as c:
        assert [d.number for d in service.order(c, [nums[0]])] == [nums[0]]


def test_tenant_cannot_write_inventory_directly(
    db_url: str, accounts: dict[str, uuid.UUID], inventory: Callable[..., list[str]]
) -> None:
    nums = inventory(1)
    with _tx(db_url, accounts["ALPHA"]) as c:
        cur = c.execute("UPDATE numbers.inventory SET status = 'RESERVED' WHERE number = %s", (nums[0],))
        assert cur.rowcount == 0


def _race(
    db_url: str, clients: list[tuple[uuid.UUID, list[str]]]
) -> list[tuple[uuid.UUID, list[str]] | None]:
    barrier = threading.Barrier(len(clients))
    results: list[tuple[uuid.UUID, list[str]] | None] = [None] * len(clients)
    errors: list[BaseException] = []
    conns = [psycopg.connect(db_url, row_factory=dict_row) for _ in clients]

    def run(i: int) -> None:
        account, wanted = clients[i]
        try:
            with tenant.transaction(conns[i], tenant_ctx(account)):
                barrier.wait(timeout=30)
                got = service.reserve(conns[i], wanted)
            results[i] = (account, [r.number for r in got])
        except NumbersNotAvailable:
            pass
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(clients))]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    finally:
        for c in conns:
            c.close()
    assert errors == []
    return results


@pytest.fixture
def fifty_accounts(conn: psycopg.Connection[Any]) -> list[uuid.UUID]:
    rows = conn.execute(
        "INSERT INTO accounts.accounts (ban, name, account_type) "
        "SELECT 'RACE' || g, 'Racer ' || g, 'CUSTOMER' FROM generate_series(1, 50) AS g RETURNING id"
    ).fetchall()
    return [r[0] for r in rows]


def test_fifty_clients_race_for_the_same_numbers(
    db_url: str,
    conn: psycopg.Connection[Any],
    fifty_accounts: list[uuid.UUID],
    inventory: Callable[..., list[str]],
) -> None:
    nums = inventory(5)
    results = _race(
        db_url, [(a, list(reversed(nums)) if i % 2 else nums) for i, a in enumerate(fifty_accounts)]
    )
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    winner, got = winners[0]
    assert sorted(got) == nums
    rows = conn.execute(
        "SELECT DISTINCT status, reserved_by_account_id FROM numbers.inventory WHERE number = ANY (%s)",
        (nums,),
    ).fetchall()
    assert rows == [("RESERVED", winner)]


def test_fifty_clients_race_for_overlapping_sets(
    db_url: str,
    conn: psycopg.Connection[Any],
    fifty_accounts: list[uuid.UUID],
    inventory: Callable[..., list[str]],
) -> None:
    nums = inventory(30)
    rnd = random.Random(5)
    results = _race(db_url, [(a, rnd.sample(nums, 3)) for a in fifty_accounts])
    winners = [r for r in results if r is not None]
    assert winners
    claimed = [n for _, got in winners for n in got]
    assert len(claimed) == len(set(claimed)), "a number was reserved twice"
    rows = dict(
        conn.execute(
            "SELECT number, reserved_by_account_id FROM numbers.inventory WHERE status = 'RESERVED'"
        ).fetchall()
    )
    assert rows == {n: account for account, got in winners for n in got}
