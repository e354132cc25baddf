"""Restart safety: the acc_cdrs worker's watermark, and an import killed midway then re-run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cdr_helpers import build_world, cdr_rows, one, write_csv

from warp.workers import cdr as worker

ACC_TABLE = """
CREATE TABLE public.acc_cdrs (
    id bigserial PRIMARY KEY, start_time timestamp NOT NULL, end_time timestamp NOT NULL,
    duration real NOT NULL DEFAULT 0, callid varchar(255) NOT NULL, src_ip varchar(64), from_user varchar(64),
    ruri_user varchar(64), sip_code integer, sip_reason varchar(128), carrier_trunk varchar(100), pdd_ms integer
)
"""


def add_acc_rows(conn: psycopg.Connection[Any], rows: list[list[Any]]) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO public.acc_cdrs (start_time, end_time, duration, callid, src_ip, from_user, ruri_user, "
            "sip_code, sip_reason, carrier_trunk, pdd_ms) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            rows,
        )


def test_acc_worker_is_restart_safe(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as admin:
        build_world(admin)
        admin.execute(ACC_TABLE)
        admin.execute("GRANT SELECT ON public.acc_cdrs TO warp_staff")  # the worker reads as staff
        rows = cdr_rows(25)
        add_acc_rows(admin, rows[:15])
    with psycopg.connect(db_url) as conn:
        first = worker.run_once(conn, batch=10)
        assert (first.rows, first.inserted) == (15, 15)
        assert one(conn, "SELECT last_id FROM cdr.ingest_watermarks WHERE source = 'acc_cdrs'") == 15
        assert one(conn, "SELECT count(*) FROM cdr.enriched_cdr") == 15
        conn.commit()
    # a batch that fails after reading rolls back with its watermark: nothing lost, nothing doubled
    with psycopg.connect(db_url, autocommit=True) as admin:
        add_acc_rows(admin, rows[15:])
        admin.execute("ALTER TABLE cdr.ingest_watermarks ADD CONSTRAINT crash_check CHECK (last_id < 20)")
    with psycopg.connect(db_url) as conn:
        try:
            worker.run_once(conn, batch=100)
            raise AssertionError("expected the simulated crash")
        except psycopg.errors.CheckViolation:
            conn.rollback()
        assert one(conn, "SELECT count(*) FROM cdr.raw_cdr") == 15
        conn.rollback()
    with psycopg.connect(db_url, autocommit=True) as admin:
        admin.execute("ALTER TABLE cdr.ingest_watermarks DROP CONSTRAINT crash_check")
    with psycopg.connect(db_url) as conn:
        again = worker.run_once(conn, batch=100)
        assert (again.rows, again.inserted, again.duplicates) == (10, 10, 0)
        assert worker.run_once(conn).rows == 0
        assert one(conn, "SELECT count(*) FROM cdr.raw_cdr") == 25
        assert one(conn, "SELECT count(DISTINCT call_id) FROM cdr.raw_cdr") == 25
        assert one(conn, "SELECT last_id, rows_ingested FROM cdr.ingest_watermarks") == 25


# The CLI with chunks of 5,000 CDRs; large files over two connections (the default for files of
# PARALLEL_MIN_BYTES and more, each chunk committed) or, with "single", in one transaction.
CLI = (
    "import sys; from warp.cdr import ingest; from warp.cli.main import main; ingest.CHUNK_ROWS = 5000; "
    "ingest.PARALLEL_MIN_BYTES = 1 << 50 if sys.argv.pop(1) == 'single' else 0; main()"
)


@pytest.mark.parametrize("mode", ["single", "parallel"])
def test_import_killed_midway_then_rerun(db_url: str, tmp_path: Path, mode: str) -> None:
    n = 60_000
    with psycopg.connect(db_url, autocommit=True) as admin:
        build_world(admin)
    small = write_csv(tmp_path / "first.csv", cdr_rows(1000, prefix="first"))
    big = write_csv(tmp_path / "big.csv", cdr_rows(n, start="2026-11-12 00:00:00"))
    env = {**os.environ, "WARP_DATABASE_URL": db_url}
    cmd = [sys.executable, "-c", CLI, mode, "cdr", "import", str(small), str(big)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # kill it while the big file is being loaded (the small file is committed by then): in one
    # transaction, during its first COPY; over two connections, once a chunk of it is committed
    with psycopg.connect(db_url, autocommit=True) as watch:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            busy = one(
                watch,
                "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND pid <> pg_backend_pid() "
                "AND (query LIKE '%%cdr_ingest_stage%%' OR query LIKE 'COPY cdr.raw_cdr %%')",
            )
            stored = one(watch, "SELECT count(*) FROM cdr.raw_cdr")
            if busy and (stored == 1000 if mode == "single" else stored > 1000):
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL
        time.sleep(0.5)
        left = one(watch, "SELECT count(*) FROM cdr.raw_cdr") - 1000
    if mode == "single":
        assert left == 0  # the killed file left nothing
    else:
        assert 0 < left < n and left % 5000 == 0  # whole committed chunks only
    rerun = subprocess.run([*cmd, "--json"], env=env, capture_output=True, text=True, check=True)
    assert f'"duplicates": {1000 + left}' in rerun.stdout and f'"inserted": {n - left}' in rerun.stdout
    rows = [*cdr_rows(1000, prefix="first"), *cdr_rows(n, start="2026-11-12 00:00:00")]
    expected = len({(r[3], r[0]) for r in rows})
    one_sum = sum(float(r[2]) for r in rows)
    with psycopg.connect(db_url, autocommit=True) as check:
        assert one(check, "SELECT count(*) FROM cdr.raw_cdr") == expected
        assert one(check, "SELECT count(DISTINCT (call_id, start_time)) FROM cdr.raw_cdr") == expected
        assert float(one(check, "SELECT sum(duration) FROM cdr.raw_cdr")) == round(one_sum, 3)
