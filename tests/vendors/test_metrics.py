"""Hourly carrier metrics from CDRs and SLA breaches raised as incidents."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.rows import dict_row
from typer.testing import CliRunner

from warp.cli.main import app
from warp.db import tenant
from warp.vendors import metrics

STAFF = tenant.Context(staff=True, actor_type="STAFF")
HOUR = (datetime.now(UTC) - timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)


def carrier_world(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    def one(q: str, p: Any = None) -> Any:
        row = conn.execute(q, p).fetchone()
        assert row is not None
        return next(iter(row.values()))

    vendor = one(
        "INSERT INTO vendor_mgmt.vendors (name, vendor_type) VALUES ('Alpha Telecom', 'CARRIER') RETURNING id"
    )
    carrier = one("INSERT INTO routing.carriers (name) VALUES ('alpha') RETURNING id")
    conn.execute(
        "INSERT INTO vendor_mgmt.carriers (carrier_id, vendor_id) VALUES (%s, %s)", (carrier, vendor)
    )
    trunk = one(
        "INSERT INTO routing.carrier_trunks (carrier_id, name, host) VALUES (%s, 'alpha-east', 'sip.alpha') RETURNING id",
        (carrier,),
    )
    other = one("INSERT INTO routing.carriers (name) VALUES ('beta') RETURNING id")
    other_trunk = one(
        "INSERT INTO routing.carrier_trunks (carrier_id, name, host) VALUES (%s, 'beta-1', 'sip.beta') RETURNING id",
        (other,),
    )
    # alpha: 10 attempts in HOUR: 6 answered, 2 busy (user failure), 2 network failures (503).
    calls = [(200, 60, 1000)] * 3 + [(200, 120, 2000)] * 3 + [(486, 0, 1500)] * 2 + [(503, 0, None)] * 2
    for i, (code, duration, pdd) in enumerate(calls):
        conn.execute(
            "INSERT INTO cdr.raw_cdr (start_time, call_id, sip_code, duration, pdd_ms, carrier_trunk_id) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            (HOUR + timedelta(minutes=i), f"a-{i}", code, duration, pdd, trunk),
        )
    # beta: one answered call the hour after.
    conn.execute(
        "INSERT INTO cdr.raw_cdr (start_time, call_id, sip_code, duration, pdd_ms, carrier_trunk_id) "
        "VALUES (%s, 'b-1', 200, 30, 500, %s)",
        (HOUR + timedelta(minutes=70), other_trunk),
    )
    return {"vendor": vendor, "carrier": carrier, "other": other}


def test_metrics_per_carrier_and_hour(db_url: str) -> None:
    with psycopg.connect(db_url, row_factory=dict_row, autocommit=True) as conn:
        carrier_world(conn)
        with tenant.transaction(conn, STAFF):
            assert metrics.compute_metrics(conn, HOUR, HOUR + timedelta(hours=2)) == 2
            # idempotent: recomputing replaces the hours
            assert (
                metrics.compute_metrics(conn, HOUR + timedelta(minutes=5), HOUR + timedelta(minutes=90)) == 2
            )
            rows = metrics.carrier_metrics(conn, HOUR, HOUR + timedelta(hours=2))
    assert [(r["carrier"], r["hour_start"]) for r in rows] == [
        ("alpha", HOUR),
        ("beta", HOUR + timedelta(hours=1)),
    ]
    alpha = rows[0]
    assert (alpha["attempts"], alpha["answered"], alpha["completed"]) == (10, 6, 8)
    assert alpha["asr"] == Decimal("60.0000") and alpha["ner"] == Decimal("80.0000")
    assert alpha["acd_seconds"] == Decimal("90.00")
    assert alpha["pdd_ms"] == Decimal("1500.00")  # (3*1000 + 3*2000 + 2*1500) / 8 calls with a PDD
    assert rows[1]["asr"] == Decimal("100.0000")


def test_sla_breaches_open_one_incident_per_window(db_url: str) -> None:
    with psycopg.connect(db_url, row_factory=dict_row, autocommit=True) as conn:
        w = carrier_world(conn)
        for metric, comparator, target in (
            ("ASR", "GTE", 70),
            ("NER", "GTE", 75),
            ("PDD", "LTE", 1000),
            ("ACD", "GTE", 30),
        ):
            conn.execute(
                "INSERT INTO vendor_mgmt.slas (vendor_id, carrier_id, metric, comparator, target_value, "
                "measurement_window, effective_date) VALUES (%s, %s, %s, %s, %s, 'HOUR', %s)",
                (w["vendor"], w["carrier"], metric, comparator, target, HOUR.date() - timedelta(days=1)),
            )
        with tenant.transaction(conn, STAFF):
            metrics.compute_metrics(conn, HOUR, HOUR + timedelta(hours=2))
            opened = metrics.check_slas(conn, HOUR, HOUR + timedelta(hours=2))
            again = metrics.check_slas(conn, HOUR, HOUR + timedelta(hours=2))
        incidents = conn.execute(
            "SELECT title, observed_value, target_value, window_start_at, severity, status FROM vendor_mgmt.incidents "
            "ORDER BY title"
        ).fetchall()
    assert again == []
    assert len(opened) == 2
    assert [(i["title"].split(" (")[0], i["observed_value"]) for i in incidents] == [
        ("SLA breach: alpha ASR", Decimal("60.0000")),
        ("SLA breach: alpha PDD", Decimal("1500.0000")),
    ]
    assert all(i["window_start_at"] == HOUR and i["status"] == "OPEN" for i in incidents)
    assert {i["severity"] for i in incidents} == {"MEDIUM", "HIGH"}  # ASR 14% short, PDD 50% over


def test_cli_metrics(db_url: str, monkeypatch: Any) -> None:
    with psycopg.connect(db_url, row_factory=dict_row, autocommit=True) as conn:
        carrier_world(conn)
    monkeypatch.setenv("WARP_DATABASE_URL", db_url)
    out = CliRunner().invoke(
        app,
        [
            "vendors",
            "metrics",
            "--from",
            HOUR.isoformat(),
            "--to",
            (HOUR + timedelta(hours=2)).isoformat(),
            "--json",
        ],
    )
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["metrics_written"] == 2 and [m["carrier"] for m in data["metrics"]] == ["alpha", "beta"]
