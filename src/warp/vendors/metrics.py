"""Carrier performance per hour from CDRs, and SLA breaches raised as vendor incidents."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg


def compute_metrics(conn: psycopg.Connection[Any], start: datetime, end: datetime) -> int:
    """Recompute carrier hourly metrics (attempts, ASR, ACD, PDD, NER) for the hours of [start, end)."""
    row = conn.execute("SELECT vendor_mgmt.compute_performance_metrics(%s, %s)", (start, end)).fetchone()
    return int(next(iter(row.values())) if isinstance(row, dict) else row[0]) if row else 0


def check_slas(conn: psycopg.Connection[Any], start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Open an incident for each carrier SLA breached in a window starting in [start, end); the new incidents."""
    rows = conn.execute(
        "SELECT id, vendor_id, carrier_id, sla_id, title, severity, observed_value, target_value, window_start_at "
        "FROM vendor_mgmt.check_sla_breaches(%s, %s) ORDER BY window_start_at, title",
        (start, end),
    ).fetchall()
    keys = (
        "id",
        "vendor_id",
        "carrier_id",
        "sla_id",
        "title",
        "severity",
        "observed_value",
        "target_value",
        "window_start_at",
    )
    return [dict(r) if isinstance(r, dict) else dict(zip(keys, r, strict=True)) for r in rows]


def carrier_metrics(conn: psycopg.Connection[Any], start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Hourly carrier metrics in [start, end), by hour then carrier name."""
    rows = conn.execute(
        "SELECT m.hour_start, c.name AS carrier, m.attempts, m.answered, m.completed, m.asr, m.acd_seconds, "
        "m.pdd_ms, m.ner FROM vendor_mgmt.performance_metrics m JOIN routing.carriers c ON c.id = m.carrier_id "
        "WHERE m.carrier_trunk_id IS NULL AND m.hour_start >= %s AND m.hour_start < %s ORDER BY m.hour_start, c.name",
        (start, end),
    ).fetchall()
    return [dict(r) for r in rows]
