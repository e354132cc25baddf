"""warp maintenance run: every step timed and reported, idempotent, safe to run concurrently."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from warp.cli.main import app
from warp.db.seed import seed
from warp.maintenance import service

STEPS = [
    "partitions ahead",
    "retention",
    "expired sessions",
    "expired reservations",
    "aged numbers",
    "carrier metrics + SLAs",
    "refresh reporting views",
    "prepared rate imports",
    "update statistics",
]


def test_run_twice_is_idempotent_and_reports_every_step(db_url: str) -> None:
    seed(db_url)
    with psycopg.connect(db_url, autocommit=True) as conn:
        account = conn.execute(
            "INSERT INTO accounts.accounts (ban, name) VALUES ('A', 'A') RETURNING id"
        ).fetchone()
        conn.execute(
            "INSERT INTO numbers.inventory (number, status, reserved_by_account_id, reservation_expires_at) "
            "VALUES ('+12125550100', 'RESERVED', %s, now() - interval '1 minute')",
            (account[0],),
        )
        conn.execute(
            "INSERT INTO numbers.inventory (number, status, aging_expires_at) VALUES "
            "('+12125550101', 'AGING', now() - interval '1 day'), ('+12125550102', 'AGING', now() + interval '1 day')"
        )
        conn.execute(
            "INSERT INTO cdr.raw_cdr (start_time, call_id, sip_code, duration, account_id) VALUES (%s, 'c1', 200, 5, %s)",
            (datetime.now(UTC) - timedelta(minutes=30), account[0]),
        )
    first = service.run(db_url)
    assert [s.name for s in first.steps] == STEPS and first.ok, first.as_dict()
    assert "1 expired reservations released" in first.steps[3].detail
    assert first.steps[4].detail == "1 aged numbers made available"
    second = service.run(db_url)
    assert second.ok, second.as_dict()
    assert second.steps[0].detail == "created 0"
    assert "0 expired reservations released" in second.steps[3].detail
    assert second.steps[4].detail == "0 aged numbers made available"
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT sum(attempts) FROM reporting.hourly_traffic").fetchone() == (1,)
        statuses = conn.execute(
            "SELECT number, status FROM numbers.inventory WHERE number LIKE '+1212555010_' ORDER BY 1"
        ).fetchall()
        assert statuses[1:] == [("+12125550101", "AVAILABLE"), ("+12125550102", "AGING")]


def test_a_concurrent_run_skips_while_the_lock_is_held(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as holder:
        holder.execute(f"SELECT pg_advisory_lock(hashtext('{service.LOCK_KEY}'))")
        report = service.run(db_url)
        assert report.skipped and report.steps == []
        holder.execute(f"SELECT pg_advisory_unlock(hashtext('{service.LOCK_KEY}'))")
    assert not service.run(db_url).skipped


def test_cli_run_prints_a_timed_table(db_url: str, monkeypatch: Any) -> None:
    monkeypatch.setenv("WARP_DATABASE_URL", db_url)
    out = CliRunner().invoke(app, ["maintenance", "run", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert [s["step"] for s in data["steps"]] == STEPS and all(s["seconds"] >= 0 for s in data["steps"])
    table = CliRunner().invoke(app, ["maintenance", "run"])
    assert "refresh reporting views" in table.stdout and "seconds" in table.stdout
    bad = CliRunner().invoke(app, ["maintenance", "run", "--every", "soon"])
    assert bad.exit_code != 0


def test_parse_every() -> None:
    assert (
        service.parse_every("5m") == 300
        and service.parse_every("30s") == 30
        and service.parse_every("2") == 2
    )
    with pytest.raises(ValueError):
        service.parse_every("0m")
