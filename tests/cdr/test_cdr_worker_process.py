"""`warp worker cdr` as a real process: ingest + rate + hourly summaries continuously, SIGTERM/SIGINT
finish the cycle in progress and exit 0, leaving nothing half-done; --once drains and exits."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from cdr_helpers import build_world, cdr_rows, one
from test_worker_and_crash import ACC_TABLE, add_acc_rows

from warp.workers.cdr import parse_interval

WAIT_S = 90


def start_worker(db_url: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "WARP_DATABASE_URL": db_url}
    cmd = [sys.executable, "-m", "warp.cli.main", "worker", "cdr", "--json", *args]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(proc: subprocess.Popen[str], check: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if check():
            return
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"worker exited ({proc.returncode}) before {what}:\n{out}\n{err}")
        time.sleep(0.05)
    proc.kill()
    out, err = proc.communicate()
    raise AssertionError(f"timed out waiting for {what}:\n{out}\n{err}")


def assert_consistent(conn: psycopg.Connection[Any], acme: Any) -> int:
    """Every ingested CDR is rated and counted in its hour; the watermark matches; the ledger matches."""
    raw = one(conn, "SELECT count(*) FROM cdr.raw_cdr")
    assert one(conn, "SELECT last_id FROM cdr.ingest_watermarks WHERE source = 'acc_cdrs'") == raw
    assert one(conn, "SELECT rows_ingested FROM cdr.ingest_watermarks WHERE source = 'acc_cdrs'") == raw
    assert one(conn, "SELECT count(DISTINCT call_id) FROM cdr.raw_cdr") == raw
    assert one(conn, "SELECT count(*) FROM cdr.enriched_cdr") == raw  # none ingested but left unrated
    # hourly summaries are up to date with every rated CDR
    assert one(conn, "SELECT coalesce(sum(attempts), 0) FROM cdr.hourly_summary") == raw
    assert one(conn, "SELECT count(*) FROM cdr.hourly_summary WHERE jurisdiction = 'UNKNOWN'") == 0
    assert one(conn, "SELECT coalesce(sum(revenue), 0) FROM cdr.hourly_summary") == one(
        conn, "SELECT coalesce(sum(customer_charge), 0) FROM cdr.enriched_cdr"
    )
    # prepaid: every charge is in the ledger and the balance moved by exactly that
    charged = one(
        conn,
        "SELECT coalesce(sum(customer_charge), 0) FROM cdr.enriched_cdr WHERE account_id = %s",
        (acme,),
    )
    ledger = one(
        conn, "SELECT coalesce(-sum(amount), 0) FROM billing.balance_ledger WHERE source_type = 'CDR'"
    )
    balance = one(conn, "SELECT balance FROM billing.account_balance WHERE account_id = %s", (acme,))
    assert ledger == charged and balance == Decimal(100) - charged
    return int(raw)


@pytest.fixture
def acc_world(db_url: str) -> Any:
    with psycopg.connect(db_url, autocommit=True) as admin:
        world = build_world(admin, prepaid=True)
        admin.execute(ACC_TABLE)
        admin.execute("GRANT SELECT ON public.acc_cdrs TO warp_staff")
    return world


def test_worker_process_sigterm_finishes_the_batch_and_exits_0(db_url: str, acc_world: Any) -> None:
    rows = cdr_rows(1200)
    proc = start_worker(db_url, "--interval", "200ms", "--batch", "100")
    try:
        with psycopg.connect(db_url, autocommit=True) as db:
            with db.transaction():  # Kamailio's rows appear together, as one batch
                add_acc_rows(db, rows[:150])
            wait_for(proc, lambda: one(db, "SELECT count(*) FROM cdr.enriched_cdr") == 150, "150 CDRs rated")
            # 150 CDRs span 3 minutes of hour 12: one summary hour, counted completely
            assert one(db, "SELECT count(DISTINCT hour_start) FROM cdr.hourly_summary") == 1
            # a backlog of 1,050 rows (11 cycles of 100): stop while it is being worked through
            with db.transaction():
                add_acc_rows(db, rows[150:])
            wait_for(
                proc,
                lambda: one(db, "SELECT last_id FROM cdr.ingest_watermarks") > 150,
                "the backlog being ingested",
            )
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=WAIT_S)
            assert proc.returncode == 0, err
            assert "SIGTERM: finishing the current batch" in err
            done = assert_consistent(db, acc_world.acme)
            assert done > 150 and (done == 1200 or (done - 150) % 100 == 0)  # whole cycles only
            totals = json.loads(out)
            assert totals["inserted"] == done and totals["rated"] + totals["unrated"] == done
            assert totals["errors"] == []
            # the rest is picked up by the next run: --once drains and exits
            rerun = start_worker(db_url, "--once", "--batch", "500")
            out, err = rerun.communicate(timeout=WAIT_S)
            assert rerun.returncode == 0, err
            assert json.loads(out)["inserted"] == 1200 - done
            assert assert_consistent(db, acc_world.acme) == 1200
            # 1,200 CDRs one second apart from 12:00:00: all in one hour, summarised once each
            assert one(db, "SELECT count(DISTINCT hour_start) FROM cdr.hourly_summary") == 1
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_worker_process_sigint_when_idle_exits_0(db_url: str, acc_world: Any) -> None:
    proc = start_worker(db_url, "--interval", "10m")
    try:
        with psycopg.connect(db_url, autocommit=True) as db:
            add_acc_rows(db, cdr_rows(5, prefix="idle"))
            wait_for(proc, lambda: one(db, "SELECT count(*) FROM cdr.enriched_cdr") == 5, "5 CDRs rated")
        time.sleep(0.3)  # now in its 10-minute idle wait: the signal must cut it short
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=WAIT_S)
        assert proc.returncode == 0, err
        assert json.loads(out)["inserted"] == 5
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_worker_refuses_a_bad_interval(db_url: str) -> None:
    proc = start_worker(db_url, "--interval", "soon")
    _, err = proc.communicate(timeout=WAIT_S)
    assert proc.returncode != 0 and "interval: 'soon'" in err


@pytest.mark.parametrize(
    ("text", "seconds"), [("500ms", 0.5), ("1s", 1.0), ("2m", 120.0), ("1h", 3600.0), ("0.25", 0.25)]
)
def test_parse_interval(text: str, seconds: float) -> None:
    assert parse_interval(text) == seconds


@pytest.mark.parametrize("text", ["", "0s", "-1s", "x", "nan", "5d"])
def test_parse_interval_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="interval"):
        parse_interval(text)


def test_cycles_rate_their_batch_and_sweeps_rate_everything_pending(
    db_url: str, acc_world: Any, tmp_path: Any
) -> None:
    from cdr_helpers import write_csv

    from warp.cdr.ingest import import_file
    from warp.db import tenant
    from warp.workers import cdr as worker

    with psycopg.connect(db_url) as conn:
        # an imported file (older calls) is pending; the first cycle of a run sweeps it up
        with tenant.transaction(conn, tenant.Context(staff=True)):
            import_file(
                conn, write_csv(tmp_path / "old.csv", cdr_rows(7, prefix="old", start="2026-11-09 08:00:00"))
            )
        add_acc_rows(conn, cdr_rows(5, prefix="acc1"))
        conn.commit()
        first = worker.run_cycle(conn, sweep=True)
        assert (first.ingest.inserted, first.rating.cdrs, first.hours) == (5, 12, 2)
        # another old file, then a batch: a non-sweep cycle rates its batch only
        with tenant.transaction(conn, tenant.Context(staff=True)):
            import_file(
                conn,
                write_csv(tmp_path / "old2.csv", cdr_rows(4, prefix="old2", start="2026-11-09 09:00:00")),
            )
        add_acc_rows(conn, cdr_rows(3, prefix="acc2", start="2026-11-10 13:00:00"))
        conn.commit()
        batch_only = worker.run_cycle(conn, sweep=False)
        assert (batch_only.ingest.inserted, batch_only.rating.cdrs, batch_only.hours) == (3, 3, 1)
        assert (
            one(
                conn,
                "SELECT count(*) FROM cdr.raw_cdr r WHERE NOT EXISTS (SELECT 1 FROM cdr.enriched_cdr e "
                "WHERE e.raw_cdr_id = r.id AND e.start_time = r.start_time)",
            )
            == 4
        )
        idle = worker.run_cycle(conn, sweep=False)  # nothing ingested, no sweep: nothing to do
        assert (idle.ingest.rows, idle.rating.cdrs) == (0, 0)
        swept = worker.run_cycle(conn, sweep=True)
        assert (swept.ingest.rows, swept.rating.cdrs, swept.hours) == (0, 4, 1)
        assert (
            one(conn, "SELECT count(*) FROM cdr.enriched_cdr")
            == one(conn, "SELECT count(*) FROM cdr.raw_cdr")
            == 19
        )
        assert one(conn, "SELECT sum(attempts) FROM cdr.hourly_summary") == 19
