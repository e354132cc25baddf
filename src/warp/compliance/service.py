"""Compliance services: certificate expiry, the security incident workflow, retention and the report."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
from psycopg import errors

from warp.compliance.errors import IncidentNotFound, InvalidIncidentTransition

WARN_BEFORE = timedelta(days=30)
INCIDENT_STATUSES = ("OPEN", "INVESTIGATING", "CONTAINED", "RESOLVED", "CLOSED")


def _dicts(cur: psycopg.Cursor[Any]) -> list[dict[str, Any]]:
    names = [c.name for c in cur.description or ()]
    return [dict(r) if isinstance(r, dict) else dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def expiring_certificates(
    conn: psycopg.Connection[Any], within: timedelta = WARN_BEFORE
) -> list[dict[str, Any]]:
    """Active/pending STIR/SHAKEN certificates expiring within ``within`` (default 30 days) or expired."""
    return _dicts(conn.execute("SELECT * FROM audit.expiring_stir_shaken_certs(%s)", (within,)))


def open_security_incident(
    conn: psycopg.Connection[Any],
    *,
    incident_type: str,
    title: str,
    severity: str = "MEDIUM",
    account_id: UUID | None = None,
    description: str | None = None,
) -> UUID:
    """Record a new security incident (status OPEN); its id."""
    row = conn.execute(
        "INSERT INTO audit.security_incidents (incident_type, severity, title, description, account_id) "
        "VALUES (%s, %s, %s, %s, %s) RETURNING id",
        (incident_type, severity, title, description, account_id),
    ).fetchone()
    assert row is not None
    return UUID(str(row["id"] if isinstance(row, dict) else row[0]))


def set_incident_status(conn: psycopg.Connection[Any], incident_id: UUID, status: str) -> dict[str, Any]:
    """Move a security incident along its workflow; InvalidIncidentTransition when the step is not allowed."""
    if status not in INCIDENT_STATUSES:
        raise InvalidIncidentTransition(f"status: {status!r} is not one of {', '.join(INCIDENT_STATUSES)}")
    try:
        with conn.transaction():
            cur = conn.execute(
                "UPDATE audit.security_incidents SET status = %s WHERE id = %s "
                "RETURNING id, status, resolved_at, closed_at",
                (status, incident_id),
            )
            rows = _dicts(cur)
    except errors.CheckViolation as exc:
        if exc.diag.constraint_name == "security_incidents_status_transition_check":
            raise InvalidIncidentTransition(
                exc.diag.message_primary or "status: transition not allowed"
            ) from exc
        raise
    if not rows:
        raise IncidentNotFound(f"security incident {incident_id}: not found")
    return rows[0]


def apply_retention(
    conn: psycopg.Connection[Any], *, now: datetime | None = None, dry_run: bool = False
) -> list[dict[str, Any]]:
    """Apply retention policies: whole monthly partitions dropped/detached, rows deleted only from unpartitioned tables."""
    return _dicts(
        conn.execute(
            "SELECT table_name, target, action, rows_affected FROM audit.apply_retention(coalesce(%s, now()), %s)",
            (now, dry_run),
        )
    )


def compliance_report(conn: psycopg.Connection[Any]) -> dict[str, list[dict[str, Any]]]:
    """E911 gaps, expiring certificates, 10DLC numbers without an approved campaign, open incidents."""
    e911 = _dicts(
        conn.execute(
            "SELECT c.account_id, a.ban, c.number, c.reason FROM audit.check_e911_compliance() c "
            "LEFT JOIN accounts.accounts a ON a.id = c.account_id ORDER BY a.ban, c.number"
        )
    )
    ten_dlc = _dicts(
        conn.execute(
            "SELECT g.account_id, a.ban, g.number, g.reason FROM audit.ten_dlc_gaps() g "
            "LEFT JOIN accounts.accounts a ON a.id = g.account_id ORDER BY a.ban, g.number"
        )
    )
    security = _dicts(
        conn.execute(
            "SELECT 'SECURITY' AS kind, s.id, s.incident_type AS type, s.severity, s.status, s.title, "
            "s.detected_at AS opened_at, a.ban FROM audit.security_incidents s "
            "LEFT JOIN accounts.accounts a ON a.id = s.account_id "
            "WHERE s.status NOT IN ('RESOLVED', 'CLOSED') "
            "UNION ALL "
            "SELECT 'VENDOR', i.id, 'SLA_BREACH' , i.severity, i.status, i.title, i.opened_at, NULL "
            "FROM vendor_mgmt.incidents i WHERE i.status IN ('OPEN', 'ACKNOWLEDGED') "
            "ORDER BY 7, 6"
        )
    )
    return {
        "e911_gaps": e911,
        "expiring_certificates": expiring_certificates(conn),
        "ten_dlc_gaps": ten_dlc,
        "open_incidents": security,
    }
