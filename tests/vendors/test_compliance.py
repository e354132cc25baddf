"""Compliance: certificate expiry warnings, the security incident workflow, retention by partition, the report."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row
from typer.testing import CliRunner

from warp.cli.main import app
from warp.compliance import service
from warp.compliance.errors import InvalidIncidentTransition
from warp.db import tenant
from warp.db.seed import seed

STAFF = tenant.Context(staff=True, actor_type="STAFF")


@pytest.fixture
def conn(db_url: str) -> Any:
    with psycopg.connect(db_url, row_factory=dict_row, autocommit=True) as c:
        yield c


def _cert(conn: psycopg.Connection[Any], name: str, expires_in: timedelta, status: str = "ACTIVE") -> None:
    now = datetime.now(UTC)
    conn.execute(
        "INSERT INTO audit.stir_shaken_certs (name, spc, certificate_ref, private_key_ref, status, not_before, not_after) "
        "VALUES (%s, '123A', 'file:/etc/warp/cert.pem', 'secret:stir_key', %s, %s, %s)",
        (name, status, now - timedelta(days=300), now + expires_in),
    )


def test_certificates_expiring_within_30_days_are_warned(conn: psycopg.Connection[Any]) -> None:
    _cert(conn, "soon", timedelta(days=10))
    _cert(conn, "edge", timedelta(days=29, hours=23))
    _cert(conn, "later", timedelta(days=31))
    _cert(conn, "gone", timedelta(days=-2))
    _cert(conn, "revoked", timedelta(days=3), status="REVOKED")
    with tenant.transaction(conn, STAFF):
        rows = service.expiring_certificates(conn)
    assert [(r["name"], r["expired"]) for r in rows] == [("gone", True), ("soon", False), ("edge", False)]
    assert rows[1]["days_left"] == 9


def test_security_incident_workflow(conn: psycopg.Connection[Any]) -> None:
    with tenant.transaction(conn, STAFF):
        iid = service.open_security_incident(conn, incident_type="TOLL_FRAUD", title="burst", severity="HIGH")
        with pytest.raises(InvalidIncidentTransition, match="cannot go from OPEN to CLOSED"):
            service.set_incident_status(conn, iid, "CLOSED")
        assert service.set_incident_status(conn, iid, "INVESTIGATING")["resolved_at"] is None
        service.set_incident_status(conn, iid, "CONTAINED")
        resolved = service.set_incident_status(conn, iid, "RESOLVED")
        assert resolved["resolved_at"] is not None and resolved["closed_at"] is None
        closed = service.set_incident_status(conn, iid, "CLOSED")
        assert closed["closed_at"] is not None
        for back in ("OPEN", "INVESTIGATING", "RESOLVED"):
            with pytest.raises(InvalidIncidentTransition):
                service.set_incident_status(conn, iid, back)


def _month(offset: int) -> date:
    today = date.today().replace(day=1)
    y, m = divmod(today.year * 12 + today.month - 1 + offset, 12)
    return date(y, m + 1, 1)


def test_retention_drops_whole_partitions_past_the_policy(conn: psycopg.Connection[Any], db_url: str) -> None:
    seed(db_url)  # reference data: the retention policies
    old, older, kept = _month(-26), _month(-25), _month(-20)
    for m in (old, older, kept):
        conn.execute("SELECT cdr.create_monthly_partition(%s)", (m,))
    carrier = conn.execute("INSERT INTO routing.carriers (name) VALUES ('alpha') RETURNING id").fetchone()[
        "id"
    ]
    raw_ids = {}
    for m in (old, older, kept):
        start = datetime(m.year, m.month, 15, tzinfo=UTC)
        raw = conn.execute(
            "INSERT INTO cdr.raw_cdr (start_time, call_id, sip_code, duration) VALUES (%s, %s, 200, 10) RETURNING id",
            (start, f"c-{m}"),
        ).fetchone()["id"]
        raw_ids[m] = raw
        conn.execute("INSERT INTO cdr.enriched_cdr (start_time, raw_cdr_id) VALUES (%s, %s)", (start, raw))
        conn.execute(
            "INSERT INTO cdr.vendor_cdr (carrier_id, dnis, start_time, raw_cdr_id, raw_cdr_start_time) "
            "VALUES (%s, '+12125550100', %s, %s, %s)",
            (carrier, start, raw, start),
        )
        conn.execute(
            "INSERT INTO audit.api_request_log (requested_at, method, path, status_code) VALUES (%s, 'GET', '/x', 200)",
            (start,),
        )
    # Detach (archive) instead of drop for messages, to see both actions.
    conn.execute("UPDATE audit.retention_policies SET action = 'DETACH' WHERE table_name = 'mdr'")

    with tenant.transaction(conn, STAFF):
        planned = service.apply_retention(conn, dry_run=True)
    assert all(p["rows_affected"] is None for p in planned if p["action"] != "DELETE")
    assert conn.execute("SELECT to_regclass(%s) IS NOT NULL AS e", (f"cdr.raw_cdr_{old:%Y_%m}",)).fetchone()[
        "e"
    ]

    with tenant.transaction(conn, STAFF):
        done = service.apply_retention(conn)
    partitions = {(r["table_name"], r["target"], r["action"]) for r in done if r["action"] != "DELETE"}
    for m in (old, older):
        tag = f"{m:%Y_%m}"
        assert ("cdr.raw_cdr", f"cdr.raw_cdr_{tag}", "DROP") in partitions
        assert ("cdr.enriched_cdr", f"cdr.enriched_cdr_{tag}", "DROP") in partitions
        assert ("messaging.mdr", f"archive.mdr_{tag}", "DETACH") in partitions
        assert ("audit.api_request_log", f"audit.api_request_log_{tag}", "DROP") in partitions
    assert not any(f"{kept:%Y_%m}" in t for _, t, _ in partitions if t.startswith("cdr."))
    # enriched partitions (which reference raw CDRs) go before the raw ones
    order = [r["target"] for r in done]
    assert order.index(f"cdr.enriched_cdr_{old:%Y_%m}") < order.index(f"cdr.raw_cdr_{old:%Y_%m}")
    assert conn.execute("SELECT count(*) AS n FROM cdr.raw_cdr").fetchone()["n"] == 1
    assert conn.execute("SELECT count(*) AS n FROM cdr.enriched_cdr").fetchone()["n"] == 1
    # vendor CDRs survive (unpartitioned, their own policy) but lose the link to dropped raw CDRs
    links = conn.execute("SELECT raw_cdr_id FROM cdr.vendor_cdr ORDER BY start_time").fetchall()
    assert [r["raw_cdr_id"] for r in links] == [None, None, raw_ids[kept]]
    assert (
        conn.execute("SELECT to_regclass(%s) AS r", (f"archive.mdr_{old:%Y_%m}",)).fetchone()["r"] is not None
    )
    assert conn.execute("SELECT to_regclass(%s) AS r", (f"cdr.raw_cdr_{old:%Y_%m}",)).fetchone()["r"] is None
    # idempotent
    with tenant.transaction(conn, STAFF):
        assert [r for r in service.apply_retention(conn) if r["action"] != "DELETE"] == []


def test_retention_refuses_row_deletes_on_partitioned_tables(
    conn: psycopg.Connection[Any], db_url: str
) -> None:
    seed(db_url)
    conn.execute("UPDATE audit.retention_policies SET action = 'DELETE' WHERE table_name = 'raw_cdr'")
    with (
        tenant.transaction(conn, STAFF),
        pytest.raises(psycopg.errors.InvalidParameterValue, match="never rows"),
    ):
        service.apply_retention(conn)


def test_compliance_report(conn: psycopg.Connection[Any], db_url: str, monkeypatch: Any) -> None:
    acme = conn.execute(
        "INSERT INTO accounts.accounts (ban, name) VALUES ('ACME', 'Acme') RETURNING id"
    ).fetchone()["id"]
    address = conn.execute(
        "INSERT INTO numbers.e911_addresses (account_id, caller_name, street, city, state_code, postal_code) "
        "VALUES (%s, 'ACME', '1 Main St', 'New York', 'NY', '10001') RETURNING id",
        (acme,),
    ).fetchone()["id"]
    for number, messaging, exempt in (("+12125550101", True, True), ("+12125550102", False, False)):
        inv = conn.execute(
            "INSERT INTO numbers.inventory (number, status) VALUES (%s, 'ACTIVE') RETURNING id", (number,)
        ).fetchone()["id"]
        conn.execute(
            "INSERT INTO numbers.dids (account_id, inventory_id, number, messaging_enabled, e911_address_id, "
            "e911_exempt, e911_exempt_reason) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (
                acme,
                inv,
                number,
                messaging,
                None if exempt else address,
                exempt,
                "fax line" if exempt else None,
            ),
        )
    _cert(conn, "soon", timedelta(days=5))
    conn.execute(
        "INSERT INTO audit.security_incidents (incident_type, title, account_id) VALUES ('SMS_FRAUD', 'pumping', %s)",
        (acme,),
    )
    monkeypatch.setenv("WARP_DATABASE_URL", db_url)
    out = CliRunner().invoke(app, ["compliance", "report", "--json"])
    assert out.exit_code == 1, out.output  # something needs attention
    data = json.loads(out.stdout)
    assert [(g["number"], g["reason"], g["ban"]) for g in data["e911_gaps"]] == [
        ("+12125550102", "ADDRESS_NOT_VALIDATED", "ACME")
    ]
    assert [(g["number"], g["reason"]) for g in data["ten_dlc_gaps"]] == [("+12125550101", "NO_CAMPAIGN")]
    assert [c["name"] for c in data["expiring_certificates"]] == ["soon"]
    assert [(i["kind"], i["title"], i["ban"]) for i in data["open_incidents"]] == [
        ("SECURITY", "pumping", "ACME")
    ]
    table = CliRunner().invoke(app, ["compliance", "report"])
    assert "10DLC numbers without an approved" in table.stdout and "+12125550101" in table.stdout
