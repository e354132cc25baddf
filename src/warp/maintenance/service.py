"""One maintenance run: partitions ahead, retention, expired sessions and reservations, carrier metrics,
reporting refresh, statistics. Each step runs in its own transaction, is timed, and cannot stop the
others. A session advisory lock makes concurrent runs safe: a second run finds the lock taken and skips.
Every step is idempotent, so running on a schedule (``--every 5m``, cron, a systemd timer) is safe.

Run it on a direct connection (not through PgBouncer transaction pooling: the lock is per session).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import psycopg
from psycopg import sql

from warp.cdr.maintenance import maintain_partitions
from warp.compliance.service import apply_retention
from warp.db import tenant
from warp.reporting.service import refresh_all
from warp.routing import rate_import
from warp.vendors import metrics

LOCK_KEY = "warp.maintenance"
STAFF = tenant.Context(staff=True, actor_type="SYSTEM", request_id="maintenance")


@dataclass
class StepResult:
    name: str
    seconds: float
    ok: bool
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"step": self.name, "seconds": round(self.seconds, 3), "ok": self.ok, "detail": self.detail}


@dataclass
class RunReport:
    started_at: datetime
    skipped: bool = False
    steps: list[StepResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.steps)

    def as_dict(self) -> dict[str, Any]:
        return {
            "started_at": self.started_at.isoformat(),
            "skipped": self.skipped,
            "ok": self.ok,
            "steps": [s.as_dict() for s in self.steps],
        }


def _scalar(conn: psycopg.Connection[Any], query: str) -> Any:
    row = conn.execute(query).fetchone()
    if row is None:
        return None
    return next(iter(row.values())) if isinstance(row, dict) else row[0]


def _partitions(conn: psycopg.Connection[Any]) -> str:
    created = maintain_partitions(conn, 3)
    return f"created {len(created)}" + (f": {', '.join(created)}" if created else "")


def _retention(conn: psycopg.Connection[Any]) -> str:
    done = apply_retention(conn)
    parts = [r for r in done if r["action"] in ("DROP", "DETACH")]
    rows = sum(int(r["rows_affected"] or 0) for r in done if r["action"] == "DELETE")
    return f"{len(parts)} partitions dropped/detached, {rows} rows deleted (unpartitioned tables)"


def _sessions(conn: psycopg.Connection[Any]) -> str:
    return f"{_scalar(conn, 'SELECT auth.cleanup_expired_sessions()')} expired sessions removed"


def _reservations(conn: psycopg.Connection[Any]) -> str:
    return f"{_scalar(conn, 'SELECT numbers.cleanup_expired_reservations()')} expired reservations released"


def _aged_numbers(conn: psycopg.Connection[Any]) -> str:
    return f"{_scalar(conn, 'SELECT numbers.recycle_aged_numbers()')} aged numbers made available"


def _metrics(conn: psycopg.Connection[Any]) -> str:
    now = datetime.now(UTC)
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    written = metrics.compute_metrics(conn, start, now)
    opened = metrics.check_slas(conn, start, now)
    return f"{written} carrier-hours, {len(opened)} SLA incidents opened"


def _refresh(conn: psycopg.Connection[Any]) -> str:
    return "refreshed concurrently: " + ", ".join(refresh_all(conn, concurrently=True))


STEPS: list[tuple[str, Callable[[psycopg.Connection[Any]], str]]] = [
    ("partitions ahead", _partitions),
    ("retention", _retention),
    ("expired sessions", _sessions),
    ("expired reservations", _reservations),
    ("aged numbers", _aged_numbers),
    ("carrier metrics + SLAs", _metrics),
    ("refresh reporting views", _refresh),
]


def run(url: str) -> RunReport:
    """One maintenance run against ``url`` (skipped when another run holds the lock)."""
    report = RunReport(started_at=datetime.now(UTC))
    with psycopg.connect(url, autocommit=True) as conn:
        if not _scalar(conn, f"SELECT pg_try_advisory_lock(hashtext('{LOCK_KEY}'))"):
            report.skipped = True
            return report
        try:
            for name, step in STEPS:
                report.steps.append(_timed(name, partial(_in_staff_tx, conn, step)))
            # Parallel rate imports whose coordinator ended: commit/roll back the prepared helper half.
            report.steps.append(_timed("prepared rate imports", lambda: _prepared_imports(conn)))
            # Statistics for the planner: ANALYZE runs as the connecting (owner/superuser) role.
            report.steps.append(_timed("update statistics", lambda: _analyze(conn)))
        finally:
            conn.execute(f"SELECT pg_advisory_unlock(hashtext('{LOCK_KEY}'))")
    return report


def _in_staff_tx(conn: psycopg.Connection[Any], step: Callable[[psycopg.Connection[Any]], str]) -> str:
    with tenant.transaction(conn, STAFF):
        return step(conn)


def _prepared_imports(conn: psycopg.Connection[Any]) -> str:
    committed, rolled_back = rate_import.resolve_prepared(conn)
    return f"{committed} committed, {rolled_back} rolled back"


# The tables (partitioned ones recurse into their partitions) and materialized views of every
# non-system schema that the connecting role owns or is a member of the owner of. A bare ``ANALYZE``
# would, as the maintenance role (member of warp_owner, not a superuser), warn once per system catalog
# it may not analyze; autovacuum keeps the catalogs' statistics.
_ANALYZABLE = """
SELECT n.nspname, c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'm') AND NOT c.relispartition
  AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'
  AND pg_has_role(c.relowner, 'USAGE')
ORDER BY 1, 2
"""


def _analyze(conn: psycopg.Connection[Any]) -> str:
    tables = [sql.Identifier(str(r[0]), str(r[1])) for r in conn.execute(_ANALYZABLE).fetchall()]
    if tables:
        conn.execute(sql.SQL("ANALYZE {}").format(sql.SQL(", ").join(tables)))
    return f"ANALYZE ({len(tables)} tables and views)"


def _timed(name: str, call: Callable[[], str]) -> StepResult:
    start = time.perf_counter()
    try:
        detail = call()
        ok = True
    except Exception as exc:  # one failing step must not stop the others
        detail = f"{type(exc).__name__}: {exc}".strip()
        ok = False
    return StepResult(name=name, seconds=time.perf_counter() - start, ok=ok, detail=detail)


def parse_every(value: str) -> float:
    """Seconds in an interval like ``30s``, ``5m``, ``1h`` (plain numbers are seconds)."""
    units = {"s": 1, "m": 60, "h": 3600}
    text = value.strip().lower()
    try:
        seconds = float(text[:-1]) * units[text[-1]] if text and text[-1] in units else float(text)
    except ValueError:
        seconds = 0
    if seconds <= 0:
        raise ValueError(f"--every {value!r}: use a positive interval such as 30s, 5m or 1h")
    return seconds
