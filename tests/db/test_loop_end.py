"""Ending a synchronous connection's transaction from the event loop (warp.db.loop_end)."""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from psycopg import pq

from warp.db.loop_end import end_transaction


@pytest.fixture
def scratch(db_url: str) -> str:
    with psycopg.connect(db_url, autocommit=True) as admin:
        admin.execute("CREATE TABLE public.loop_end_t (id int PRIMARY KEY)")
        admin.execute(
            "CREATE TABLE public.loop_end_child (parent int REFERENCES public.loop_end_t (id) "
            "DEFERRABLE INITIALLY DEFERRED)"
        )
    return db_url


def _count(url: str, table: str) -> int:
    with psycopg.connect(url, autocommit=True) as other:
        row = other.execute(f"SELECT count(*) FROM public.{table}").fetchone()
    assert row is not None
    return int(row[0])


def test_commit_and_rollback_end_the_transaction(scratch: str) -> None:
    with psycopg.connect(scratch) as conn:
        conn.execute("INSERT INTO public.loop_end_t VALUES (1)")
        assert _count(scratch, "loop_end_t") == 0  # not visible before the commit
        asyncio.run(end_transaction(conn, commit=True))
        assert conn.info.transaction_status == pq.TransactionStatus.IDLE
        assert _count(scratch, "loop_end_t") == 1
        conn.execute("INSERT INTO public.loop_end_t VALUES (2)")
        asyncio.run(end_transaction(conn, commit=False))
        assert _count(scratch, "loop_end_t") == 1
        # the connection is reusable with psycopg's own API afterwards
        conn.execute("INSERT INTO public.loop_end_t VALUES (3)")
        conn.commit()
        assert _count(scratch, "loop_end_t") == 2


def test_nothing_is_sent_without_an_open_transaction(scratch: str) -> None:
    with psycopg.connect(scratch) as conn:
        asyncio.run(end_transaction(conn, commit=True))  # idle: a no-op, like conn.commit()
        assert conn.info.transaction_status == pq.TransactionStatus.IDLE


def test_an_error_at_commit_is_raised_as_its_psycopg_class(scratch: str) -> None:
    with psycopg.connect(scratch) as conn:
        conn.execute("INSERT INTO public.loop_end_child VALUES (42)")  # deferred: checked at COMMIT
        with pytest.raises(psycopg.errors.ForeignKeyViolation, match="loop_end_child"):
            asyncio.run(end_transaction(conn, commit=True))
        assert conn.info.transaction_status == pq.TransactionStatus.IDLE
        assert _count(scratch, "loop_end_child") == 0
        assert conn.execute("SELECT 1").fetchone() == (1,)  # the connection is clean


def test_commit_of_a_failed_transaction_rolls_it_back(scratch: str) -> None:
    with psycopg.connect(scratch) as conn:
        conn.execute("INSERT INTO public.loop_end_t VALUES (7)")
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute("INSERT INTO public.loop_end_t VALUES (7)")
        assert conn.info.transaction_status == pq.TransactionStatus.INERROR
        asyncio.run(end_transaction(conn, commit=True))  # the server answers ROLLBACK, as for commit()
        assert conn.info.transaction_status == pq.TransactionStatus.IDLE
        assert _count(scratch, "loop_end_t") == 0
