"""Cycle ends: find the billing cycles (calendar months) that ended and run and issue their invoices.

Each ended cycle has one ``billing.cycle_runs`` row. A worker runs a cycle in one transaction that holds
that row's lock (``FOR UPDATE SKIP LOCKED``): a second worker skips a cycle being run instead of waiting
for it or running it twice, and a crashed run rolls back whole, so the cycle is simply due again. The
run itself is :func:`warp.billing.invoices.run` for all accounts of the period at once (set-based), with
issue: idempotent (one invoice per account and period; issued invoices are never touched).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg

from warp.billing import invoices
from warp.billing.errors import BillingError
from warp.billing.taxes import TaxEngine
from warp.db import tenant

WORKER = tenant.Context(staff=True, actor_type="SYSTEM")
DEFAULT_GRACE = timedelta(hours=6)
DEFAULT_LOOKBACK = 2


@dataclass
class CycleOutcome:
    """What happened to one ended cycle in a pass."""

    period_start: date
    period_end: date
    status: str  # COMPLETED, SKIPPED (another worker holds it), FAILED, DONE (completed before)
    invoices: int = 0
    created: int = 0
    issued: int = 0
    total: Decimal = Decimal(0)
    seconds: float = 0.0
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(),
            "status": self.status,
            "invoices": self.invoices,
            "created": self.created,
            "issued": self.issued,
            "total": str(self.total),
            "seconds": round(self.seconds, 3),
            "error": self.error,
        }


@dataclass
class PassResult:
    """One pass of the worker over the ended cycles."""

    cycles: list[CycleOutcome] = field(default_factory=list)
    events_queued: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"cycles": [c.as_dict() for c in self.cycles], "events_queued": self.events_queued}


def month_start(day: date) -> date:
    return day.replace(day=1)


def ended_cycles(
    now: datetime, *, grace: timedelta = DEFAULT_GRACE, lookback: int = DEFAULT_LOOKBACK
) -> list[tuple[date, date]]:
    """The last ``lookback`` calendar months that ended at least ``grace`` before ``now``, oldest first.

    The grace lets late CDRs and MDRs of the cycle's last hours arrive and be rated before it is invoiced.
    """
    if now.tzinfo is None:
        raise ValueError("now: must be timezone-aware")
    if lookback < 1:
        raise ValueError("lookback: at least 1 month")
    # The newest month whose end (first instant of the next month) + grace <= now.
    current = month_start((now - grace).astimezone(UTC).date())
    periods = []
    end_exclusive = current
    for _ in range(lookback):
        start = month_start(end_exclusive - timedelta(days=1))
        periods.append((start, end_exclusive - timedelta(days=1)))
        end_exclusive = start
    return sorted(periods)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def register(conn: psycopg.Connection[Any], periods: list[tuple[date, date]]) -> None:
    """Make sure every ended cycle has its cycle_runs row (own short transaction, so no run waits on it)."""
    with tenant.transaction(conn, WORKER):
        conn.execute(
            "INSERT INTO billing.cycle_runs (period_start, period_end) "
            "SELECT s, e FROM unnest(%s::date[], %s::date[]) AS x (s, e) "
            "ON CONFLICT ON CONSTRAINT cycle_runs_period_start_key DO NOTHING",
            ([p[0] for p in periods], [p[1] for p in periods]),
        )


def run_cycle(
    conn: psycopg.Connection[Any],
    period_start: date,
    period_end: date,
    *,
    issue: bool = True,
    issue_date: date | None = None,
    tax_engine: TaxEngine | None = None,
    progress: invoices.Progress | None = None,
    worker: str | None = None,
) -> CycleOutcome:
    """Run (and issue) one ended cycle unless it is done or another worker holds it.

    ``conn`` must not be inside a transaction: the run is its own transaction. A failure rolls the run back
    whole, is recorded on the cycle row (status FAILED, last_error) and returned; the cycle stays due.
    """
    outcome = CycleOutcome(period_start=period_start, period_end=period_end, status="SKIPPED")
    try:
        with tenant.transaction(conn, WORKER):
            row = conn.execute(
                "SELECT id, status FROM billing.cycle_runs WHERE period_start = %s AND period_end = %s "
                "FOR UPDATE SKIP LOCKED",
                (period_start, period_end),
            ).fetchone()
            if row is None:
                return outcome  # another worker is running it (or it was never registered)
            run_id, status = _v(row, 0), _v(row, 1)
            if status == "COMPLETED":
                outcome.status = "DONE"
                return outcome
            result = invoices.run(
                conn,
                period_start=period_start,
                period_end=period_end,
                issue=issue,
                issue_date=issue_date,
                tax_engine=tax_engine,
                progress=progress,
            )
            issued = result.issued
            conn.execute(
                "UPDATE billing.cycle_runs SET status = %s, attempts = attempts + 1, invoices = %s, issued = %s, "
                "total = %s, worker = %s, last_error = NULL, started_at = now(), finished_at = clock_timestamp() "
                "WHERE id = %s",
                (
                    "COMPLETED" if issue else "PENDING",
                    result.invoices,
                    issued,
                    result.total,
                    worker or worker_name(),
                    run_id,
                ),
            )
    except (psycopg.Error, BillingError) as exc:
        message = str(exc).strip().splitlines()[0][:500] if str(exc).strip() else type(exc).__name__
        with tenant.transaction(conn, WORKER):
            conn.execute(
                "UPDATE billing.cycle_runs SET status = 'FAILED', attempts = attempts + 1, last_error = %s, "
                "worker = %s, finished_at = clock_timestamp() WHERE period_start = %s AND period_end = %s",
                (message, worker or worker_name(), period_start, period_end),
            )
        outcome.status = "FAILED"
        outcome.error = message
        return outcome
    outcome.status = "COMPLETED" if issue else "DRAFTED"
    outcome.invoices = result.invoices
    outcome.created = result.created
    outcome.issued = issued
    outcome.total = result.total
    outcome.seconds = result.seconds
    return outcome


def run_pass(
    conn: psycopg.Connection[Any],
    *,
    now: datetime | None = None,
    grace: timedelta = DEFAULT_GRACE,
    lookback: int = DEFAULT_LOOKBACK,
    issue: bool = True,
    tax_engine: TaxEngine | None = None,
    progress: Callable[[date, str, int, int], None] | None = None,
    stop: Callable[[], bool] = lambda: False,
) -> PassResult:
    """One pass: register the ended cycles, run each one not completed (oldest first); count the billing events
    still waiting for webhook delivery."""
    now = now or datetime.now(UTC)
    periods = ended_cycles(now, grace=grace, lookback=lookback)
    register(conn, periods)
    result = PassResult()
    for start, end in periods:
        if stop():
            break

        def step(name: str, done: int, total: int, _start: date = start) -> None:
            if progress:
                progress(_start, name, done, total)

        outcome = run_cycle(conn, start, end, issue=issue, tax_engine=tax_engine, progress=step)
        if outcome.status != "DONE":
            result.cycles.append(outcome)
    with tenant.transaction(conn, WORKER):
        row = conn.execute(
            "SELECT count(*) FROM billing.billing_events WHERE status IN ('PENDING', 'QUEUED')"
        ).fetchone()
    result.events_queued = int(_v(row))
    return result


def _v(row: Any, index: int = 0) -> Any:
    if row is None:
        return None
    if isinstance(row, dict):
        return list(row.values())[index]
    return row[index]
