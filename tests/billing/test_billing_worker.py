"""The cycle-end worker: ended cycles found, invoiced and issued once, safe with two workers, failures
recorded and retried; ``warp worker billing`` as a real process (--once, SIGTERM)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg
import pytest
from billing_helpers import STAFF, account, assert_ledger_ok, cdrs, mdrs

from warp.billing import cycles
from warp.billing.errors import BillingError
from warp.db import tenant

NOV = (date(2026, 11, 1), date(2026, 11, 30))
DEC_2 = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
WAIT_S = 90


def one(conn: psycopg.Connection[Any], query: str, params: Any = None) -> Any:
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return row[0]


def usage(conn: psycopg.Connection[Any], n: int = 3, day: str = "2026-11-10") -> list[UUID]:
    accts = []
    for i in range(n):
        acct = account(conn, f"CYC-{i}", state=None)
        cdrs(conn, acct, n=2, charge=Decimal("1.25"), jurisdiction="INTRASTATE", day=day)
        accts.append(acct)
    mdrs(conn, accts[0], n=4, charge=Decimal("0.01"), day=day)
    return accts


def test_ended_cycles_wait_for_the_grace_period() -> None:
    grace = timedelta(hours=6)
    early = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)  # November ended 3 h ago: not yet
    assert cycles.ended_cycles(early, grace=grace, lookback=2) == [
        (date(2026, 9, 1), date(2026, 9, 30)),
        (date(2026, 10, 1), date(2026, 10, 31)),
    ]
    late = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
    assert cycles.ended_cycles(late, grace=grace, lookback=1) == [NOV]
    # year boundary and February
    assert cycles.ended_cycles(datetime(2027, 3, 2, tzinfo=UTC), grace=grace, lookback=3) == [
        (date(2026, 12, 1), date(2026, 12, 31)),
        (date(2027, 1, 1), date(2027, 1, 31)),
        (date(2027, 2, 1), date(2027, 2, 28)),
    ]
    with pytest.raises(ValueError, match="timezone"):
        cycles.ended_cycles(datetime(2026, 12, 2), grace=grace)


def test_pass_invoices_and_issues_each_ended_cycle_once(conn: psycopg.Connection[Any]) -> None:
    accts = usage(conn)
    cdrs(conn, accts[1], n=1, charge=Decimal("2.00"), jurisdiction="INTRASTATE", day="2026-10-20")

    first = cycles.run_pass(conn, now=DEC_2, lookback=2)
    assert [(c.period_start, c.status, c.invoices, c.issued) for c in first.cycles] == [
        (date(2026, 10, 1), "COMPLETED", 1, 1),
        (date(2026, 11, 1), "COMPLETED", 3, 3),
    ]
    assert first.cycles[1].total == Decimal("7.54")  # 3 x 2.50 + 4 SMS x 0.01
    rows = conn.execute(
        "SELECT status, count(*), count(invoice_number) FROM billing.invoices WHERE period_start = %s GROUP BY 1",
        (NOV[0],),
    ).fetchall()
    assert rows == [("ISSUED", 3, 3)]
    assert conn.execute(
        "SELECT status, invoices, issued, attempts FROM billing.cycle_runs ORDER BY 1"
    ).fetchall() == [
        ("COMPLETED", 1, 1, 1),
        ("COMPLETED", 3, 3, 1),
    ]
    # numbers gapless in one year
    numbers = [
        r[0] for r in conn.execute("SELECT invoice_number FROM billing.invoices ORDER BY 1").fetchall()
    ]
    assert numbers == [f"{date.today().year}-{n:06d}" for n in range(1, 5)]

    # Late usage after the cycle completed does not make the worker re-run it (issued invoices are final).
    cdrs(conn, accts[2], n=1, charge=Decimal("9.00"), jurisdiction="INTRASTATE", day="2026-11-29")
    again = cycles.run_pass(conn, now=DEC_2 + timedelta(hours=1), lookback=2)
    assert again.cycles == []
    assert one(conn, "SELECT count(*) FROM billing.invoices") == 4
    # An invoice.issued billing event per invoice, in the transaction of the run.
    assert one(conn, "SELECT count(*) FROM billing.billing_events WHERE event_type = 'invoice.issued'") == 4
    assert_ledger_ok(conn)


def test_a_cycle_held_by_another_worker_is_skipped_not_waited_for(
    db_url: str, conn: psycopg.Connection[Any]
) -> None:
    usage(conn, n=2)
    cycles.register(conn, [NOV])
    with psycopg.connect(db_url) as holder, holder.transaction():
        holder.execute(
            "SELECT 1 FROM billing.cycle_runs WHERE period_start = %s FOR UPDATE", (NOV[0],)
        ).fetchone()
        with psycopg.connect(db_url) as other:
            other.execute("SET lock_timeout = '5s'")  # a worker that waited would fail here, not skip
            other.commit()
            outcome = cycles.run_cycle(other, *NOV)
        assert outcome.status == "SKIPPED"
        assert one(conn, "SELECT count(*) FROM billing.invoices") == 0
    with psycopg.connect(db_url) as other:
        assert cycles.run_cycle(other, *NOV).status == "COMPLETED"
        assert cycles.run_cycle(other, *NOV).status == "DONE"
    assert one(conn, "SELECT count(*) FROM billing.invoices WHERE status = 'ISSUED'") == 2


def test_two_workers_at_once_issue_one_invoice_per_account(
    db_url: str, conn: psycopg.Connection[Any]
) -> None:
    accts = usage(conn, n=6)
    barrier = threading.Barrier(2)
    results: list[cycles.PassResult] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            with psycopg.connect(db_url) as c:
                barrier.wait()
                results.append(cycles.run_pass(c, now=DEC_2, lookback=1))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    statuses = sorted(c.status for r in results for c in r.cycles)
    # one worker ran November; the other skipped it while it was held, or found it done afterwards
    assert statuses in (["COMPLETED", "SKIPPED"], ["COMPLETED"])
    assert one(conn, "SELECT count(*) FROM billing.invoices") == len(accts)
    assert one(
        conn, "SELECT count(DISTINCT account_id) FROM billing.invoices WHERE status = 'ISSUED'"
    ) == len(accts)
    assert one(conn, "SELECT last_issued FROM billing.invoice_number_counters") == len(accts)
    assert_ledger_ok(conn)


class BrokenTaxEngine:
    def apply(self, conn: psycopg.Connection[Any], invoice_ids: list[UUID]) -> int:
        raise BillingError("tax engine: vendor unreachable")


def test_a_failed_cycle_rolls_back_is_recorded_and_runs_again(conn: psycopg.Connection[Any]) -> None:
    usage(conn, n=2)
    failed = cycles.run_pass(conn, now=DEC_2, lookback=1, tax_engine=BrokenTaxEngine())
    assert [(c.status, c.error) for c in failed.cycles] == [("FAILED", "tax engine: vendor unreachable")]
    assert one(conn, "SELECT count(*) FROM billing.invoices") == 0  # nothing half-done
    assert conn.execute("SELECT status, attempts, last_error FROM billing.cycle_runs").fetchone() == (
        "FAILED",
        1,
        "tax engine: vendor unreachable",
    )
    ok = cycles.run_pass(conn, now=DEC_2, lookback=1)
    assert [(c.status, c.issued) for c in ok.cycles] == [("COMPLETED", 2)]
    assert conn.execute("SELECT status, attempts, last_error FROM billing.cycle_runs").fetchone() == (
        "COMPLETED",
        2,
        None,
    )


def test_drafts_made_before_the_cycle_end_are_issued_by_it(conn: psycopg.Connection[Any]) -> None:
    from warp.billing import invoices

    accts = usage(conn, n=2)
    with tenant.transaction(conn, STAFF):  # an operator previewed the month: drafts exist
        invoices.run(conn, period_start=NOV[0], period_end=NOV[1], account_id=accts[0])
    result = cycles.run_pass(conn, now=DEC_2, lookback=1)
    assert [(c.status, c.invoices, c.created, c.issued) for c in result.cycles] == [("COMPLETED", 2, 1, 2)]
    assert one(conn, "SELECT count(*) FROM billing.invoices WHERE status = 'DRAFT'") == 0


# --- the real process ------------------------------------------------------------------------------


def last_month(now: datetime) -> tuple[date, date]:
    """The newest cycle the worker (default 6 h grace) considers ended at ``now``."""
    return cycles.ended_cycles(now, lookback=1)[0]


def start_worker(db_url: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "WARP_DATABASE_URL": db_url}
    cmd = [sys.executable, "-m", "warp.cli.main", "worker", "billing", *args]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_cli_once_json(db_url: str, conn: psycopg.Connection[Any]) -> None:
    start, _ = last_month(datetime.now(UTC))
    usage(conn, n=2, day=f"{start:%Y-%m}-10")
    proc = start_worker(db_url, "--once", "--json", "--lookback", "1")
    out, err = proc.communicate(timeout=WAIT_S)
    assert proc.returncode == 0, err
    summary = json.loads(out)
    assert summary["passes"] == 1
    assert [(c["period_start"], c["status"], c["issued"]) for c in summary["cycles"]] == [
        (start.isoformat(), "COMPLETED", 2)
    ]
    again = start_worker(db_url, "--once", "--json", "--lookback", "1")
    out, err = again.communicate(timeout=WAIT_S)
    assert again.returncode == 0, err
    assert json.loads(out)["cycles"] == []


def test_cli_sigterm_finishes_and_prints_the_summary(db_url: str, conn: psycopg.Connection[Any]) -> None:
    start, _ = last_month(datetime.now(UTC))
    usage(conn, n=2, day=f"{start:%Y-%m}-10")
    proc = start_worker(db_url, "--interval", "3600", "--lookback", "1")
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        done = conn.execute("SELECT count(*) FROM billing.cycle_runs WHERE status = 'COMPLETED'").fetchone()
        if done and done[0] == 1:
            break
        if proc.poll() is not None:
            raise AssertionError(f"worker exited early: {proc.communicate()}")
        time.sleep(0.1)
    else:
        proc.kill()
        raise AssertionError(f"worker did not complete the cycle: {proc.communicate()}")
    proc.send_signal(signal.SIGTERM)  # it is waiting for the next pass: stops at once
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "stopped by signal" in out
    assert f"{start:%Y-%m}" in out and "COMPLETED" in out
    assert one(conn, "SELECT count(*) FROM billing.invoices WHERE status = 'ISSUED'") == 2
