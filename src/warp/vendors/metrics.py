"""Carrier performance per hour from CDRs, and SLA breaches raised as vendor incidents."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row

from warp.vendors.errors import CarrierNotFound


def compute_metrics(conn: psycopg.Connection[Any], start: datetime, end: datetime) -> int:
    """Recompute carrier hourly metrics (attempts, ASR, ACD, PDD, NER) for the hours of [start, end)."""
    row = conn.execute("SELECT vendor_mgmt.compute_performance_metrics(%s, %s)", (start, end)).fetchone()
    return int(next(iter(row.values())) if isinstance(row, dict) else row[0]) if row else 0


def check_slas(conn: psycopg.Connection[Any], start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Open an incident for each carrier SLA breached in a window starting in [start, end); the new incidents."""
    rows = conn.execute(
        "SELECT id, vendor_id, carrier_id, sla_id, title, description, severity, observed_value, target_value, "
        "window_start_at "
        "FROM vendor_mgmt.check_sla_breaches(%s, %s) ORDER BY window_start_at, title",
        (start, end),
    ).fetchall()
    keys = (
        "id",
        "vendor_id",
        "carrier_id",
        "sla_id",
        "title",
        "description",
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


def carrier_hourly(
    conn: psycopg.Connection[Any], carrier_id: UUID, start: datetime, end: datetime
) -> dict[str, Any]:
    """One carrier's hourly metrics in [start, end) and their totals over the period; CarrierNotFound."""
    cur = conn.cursor(row_factory=dict_row)
    carrier = cur.execute(
        "SELECT c.id, c.name, c.enabled, vc.vendor_id FROM routing.carriers c "
        "LEFT JOIN vendor_mgmt.carriers vc ON vc.carrier_id = c.id WHERE c.id = %s",
        (carrier_id,),
    ).fetchone()
    if carrier is None:
        raise CarrierNotFound(f"carrier {carrier_id}: not found")
    hours = cur.execute(
        "SELECT hour_start, attempts, answered, completed, asr, acd_seconds, pdd_ms, ner, computed_at "
        "FROM vendor_mgmt.performance_metrics WHERE carrier_id = %s AND carrier_trunk_id IS NULL "
        "AND hour_start >= %s AND hour_start < %s ORDER BY hour_start",
        (carrier_id, start, end),
    ).fetchall()
    # Totals weighted like the SLA check: ASR/NER over attempts, ACD over answered, PDD over attempts with a PDD.
    totals = cur.execute(
        "SELECT coalesce(sum(attempts), 0)::bigint AS attempts, coalesce(sum(answered), 0)::bigint AS answered, "
        "coalesce(sum(completed), 0)::bigint AS completed, "
        "round(100.0 * sum(answered) / nullif(sum(attempts), 0), 4) AS asr, "
        "round(sum(acd_seconds * answered) / nullif(sum(answered), 0), 2) AS acd_seconds, "
        "round(sum(pdd_ms * attempts) FILTER (WHERE pdd_ms IS NOT NULL) "
        "      / nullif(sum(attempts) FILTER (WHERE pdd_ms IS NOT NULL), 0), 2) AS pdd_ms, "
        "round(100.0 * sum(completed) / nullif(sum(attempts), 0), 4) AS ner "
        "FROM vendor_mgmt.performance_metrics WHERE carrier_id = %s AND carrier_trunk_id IS NULL "
        "AND hour_start >= %s AND hour_start < %s",
        (carrier_id, start, end),
    ).fetchone()
    return {"carrier": carrier, "totals": totals, "data": hours}
