"""Reporting reads and refreshes (the views live in schema ``reporting``, migration 0018)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg

VIEWS = ("hourly_traffic", "daily_account_summary", "carrier_performance")


def _dicts(cur: psycopg.Cursor[Any]) -> list[dict[str, Any]]:
    names = [c.name for c in cur.description or ()]
    return [dict(r) if isinstance(r, dict) else dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def refresh(conn: psycopg.Connection[Any], view: str, *, concurrently: bool = True) -> None:
    """Refresh one reporting view (concurrently: readers are never blocked). Staff/maintenance."""
    conn.execute("SELECT reporting.refresh(%s, %s)", (view, concurrently))


def refresh_all(conn: psycopg.Connection[Any], *, concurrently: bool = True) -> list[str]:
    """Refresh every reporting view; their names."""
    for view in VIEWS:
        refresh(conn, view, concurrently=concurrently)
    return list(VIEWS)


def traffic(
    conn: psycopg.Connection[Any], start: datetime, end: datetime, account_id: Any = None, limit: int = 1000
) -> list[dict[str, Any]]:
    """Hourly traffic in [start, end) (staff), optionally one account."""
    return _dicts(
        conn.execute(
            "SELECT hour_start, account_id, direction, attempts, answered, asr, acd_seconds, billable_minutes, "
            "revenue, cost, margin FROM reporting.hourly_traffic WHERE hour_start >= %(s)s AND hour_start < %(e)s "
            "AND (%(a)s::uuid IS NULL OR account_id = %(a)s) ORDER BY hour_start, account_id, direction LIMIT %(l)s",
            {"s": start, "e": end, "a": account_id, "l": limit},
        )
    )


def carriers(conn: psycopg.Connection[Any], start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Daily carrier performance for the days of [start, end) (staff)."""
    return _dicts(
        conn.execute(
            "SELECT day, carrier_id, carrier_name, attempts, answered, asr, acd_seconds, pdd_ms, ner, "
            "billable_minutes, cost FROM reporting.carrier_performance "
            "WHERE day >= (%s AT TIME ZONE 'UTC')::date AND day < (%s AT TIME ZONE 'UTC')::date "
            "ORDER BY day, carrier_name",
            (start, end),
        )
    )


def daily_summary(conn: psycopg.Connection[Any], start: datetime, end: datetime) -> list[dict[str, Any]]:
    """The caller's own daily summary (tenant-filtered view: its account and descendants)."""
    return _dicts(
        conn.execute(
            "SELECT day, account_id, call_attempts, calls_answered, billable_minutes, voice_charges, messages, "
            "messaging_charges, total_charges FROM reporting.account_daily_summary "
            "WHERE day >= (%s AT TIME ZONE 'UTC')::date AND day < (%s AT TIME ZONE 'UTC')::date "
            "ORDER BY day, account_id",
            (start, end),
        )
    )
