"""Reporting views: concurrent refresh while being read, and the tenant-filtered path to the daily summary."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row
from reporting_helpers import HOUR, add_traffic

from warp.db import tenant
from warp.reporting import service

STAFF = tenant.Context(staff=True, actor_type="STAFF")


def _accounts(conn: psycopg.Connection[Any]) -> tuple[Any, Any]:
    ids = [
        conn.execute(
            "INSERT INTO accounts.accounts (ban, name) VALUES (%s, %s) RETURNING id", (b, b)
        ).fetchone()["id"]
        for b in ("ACME", "GLOBEX")
    ]
    return ids[0], ids[1]


def test_every_view_refreshes_concurrently_while_being_read(db_url: str) -> None:
    with (
        psycopg.connect(db_url, row_factory=dict_row, autocommit=True) as writer,
        psycopg.connect(db_url, row_factory=dict_row) as reader,
    ):
        acme, _ = _accounts(writer)
        add_traffic(writer, {acme: 3})
        with tenant.transaction(writer, STAFF):
            service.refresh_all(writer)
        # The reader holds its snapshot's locks on every view (an open transaction).
        for view in service.VIEWS:
            reader.execute(f"SELECT count(*) FROM reporting.{view}").fetchone()
        add_traffic(writer, {acme: 2}, tag="more-")
        writer.execute("SET lock_timeout = '1s'")
        with tenant.transaction(writer, STAFF):
            service.refresh_all(writer, concurrently=True)  # does not wait for the reader
        # A plain refresh would need an exclusive lock and wait for the reader: refused here.
        with pytest.raises(psycopg.errors.LockNotAvailable), tenant.transaction(writer, STAFF):
            service.refresh(writer, "hourly_traffic", concurrently=False)
        row = reader.execute(
            "SELECT attempts FROM reporting.hourly_traffic WHERE account_id = %s AND hour_start = %s",
            (acme, HOUR),
        ).fetchone()
        assert row == {"attempts": 5}  # read committed: the reader sees the refreshed data
        reader.rollback()


def test_customers_read_only_their_own_daily_summary(db_url: str) -> None:
    with psycopg.connect(db_url, row_factory=dict_row, autocommit=True) as conn:
        acme, globex = _accounts(conn)
        add_traffic(conn, {acme: 3, globex: 4})
        with tenant.transaction(conn, STAFF):
            service.refresh_all(conn, concurrently=False)
            everyone = conn.execute(
                "SELECT account_id, call_attempts FROM reporting.daily_account_summary"
            ).fetchall()
        assert sorted(r["call_attempts"] for r in everyone) == [3, 4]
        for account, attempts in ((acme, 3), (globex, 4)):
            with tenant.transaction(conn, tenant.Context(account_id=account)):
                rows = service.daily_summary(conn, HOUR - timedelta(days=2), HOUR + timedelta(days=2))
                assert [(r["account_id"], r["call_attempts"]) for r in rows] == [(account, attempts)]
        with tenant.transaction(conn, tenant.Context()):
            assert conn.execute("SELECT count(*) AS n FROM reporting.account_daily_summary").fetchone() == {
                "n": 0
            }
        for view in service.VIEWS:  # the materialized views themselves are closed to the application role
            with (
                pytest.raises(psycopg.errors.InsufficientPrivilege),
                tenant.transaction(conn, tenant.Context(account_id=acme)),
            ):
                conn.execute(f"SELECT * FROM reporting.{view}")
        with (
            pytest.raises(psycopg.errors.InsufficientPrivilege),
            tenant.transaction(conn, tenant.Context(account_id=acme)),
        ):
            service.refresh(conn, "hourly_traffic")
