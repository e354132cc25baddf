"""SLA targets (validation, enable/disable) and the vendor incident workflow: service, CLI and API."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg.rows import dict_row
from typer.testing import CliRunner

from warp.cli.main import app
from warp.db import tenant
from warp.vendors import contracts, metrics, slas
from warp.vendors.errors import IncidentNotFound, InvalidIncidentStatus, InvalidSla, SlaNotFound
from warp_auth_fixtures import PASSWORD, World, bearer

STAFF = tenant.Context(staff=True, actor_type="STAFF")
H = datetime(2025, 6, 10, 10, tzinfo=UTC)


def carrier_of(conn: psycopg.Connection[Any], vendor_id: UUID, name: str) -> UUID:
    row = conn.execute("INSERT INTO routing.carriers (name) VALUES (%s) RETURNING id", (name,)).fetchone()
    assert row is not None
    conn.execute(
        "INSERT INTO vendor_mgmt.carriers (carrier_id, vendor_id) VALUES (%s, %s)", (row["id"], vendor_id)
    )
    return UUID(str(row["id"]))


def test_sla_validation_and_enable(db_url: str) -> None:
    with psycopg.connect(db_url, row_factory=dict_row) as conn, tenant.transaction(conn, STAFF):
        alpha = contracts.create_vendor(conn, name="Alpha", vendor_type="CARRIER")
        beta = contracts.create_vendor(conn, name="Beta", vendor_type="CARRIER")
        mine, theirs = carrier_of(conn, alpha.id, "alpha-1"), carrier_of(conn, beta.id, "beta-1")
        deal = contracts.add_contract(conn, beta.id, name="Beta 2025", start_date=date(2025, 1, 1))
        pdd = slas.add_sla(conn, alpha.id, metric="pdd", target_value=Decimal(2500), carrier_id=mine)
        assert (pdd.metric, pdd.comparator, pdd.measurement_window) == ("PDD", "LTE", "DAY")
        up = slas.add_sla(
            conn, alpha.id, metric="UPTIME", target_value=Decimal("99.9"), measurement_window="month"
        )
        assert (up.comparator, up.carrier_id, up.effective_date) == ("GTE", None, datetime.now(UTC).date())
        refused = [
            (
                dict(metric="ASR", target_value=Decimal(50)),
                "carrier_id: ASR is measured on a carrier's calls",
            ),
            (
                dict(metric="ASR", target_value=Decimal(101), carrier_id=mine),
                "target_value: 101 is out of range",
            ),
            (dict(metric="ASR", target_value=Decimal(50), carrier_id=theirs), "is not a carrier of vendor"),
            (
                dict(metric="DELIVERY_RATE", target_value=Decimal(95), carrier_id=mine),
                "carrier_id: DELIVERY_RATE",
            ),
            (dict(metric="MOS", target_value=Decimal(4)), "metric: 'MOS' is not one of"),
            (
                dict(metric="UPTIME", target_value=Decimal(99), measurement_window="WEEK"),
                "measurement_window",
            ),
            (
                dict(metric="UPTIME", target_value=Decimal(99), contract_id=deal.id),
                "is not a contract of vendor",
            ),
            (
                dict(
                    metric="UPTIME",
                    target_value=Decimal(99),
                    effective_date=date(2025, 2, 1),
                    expires_date=date(2025, 2, 1),
                ),
                "expires_date: 2025-02-01 must be after effective_date 2025-02-01",
            ),
        ]
        for kwargs, message in refused:
            with pytest.raises(InvalidSla) as exc:
                slas.add_sla(conn, alpha.id, **kwargs)  # type: ignore[arg-type]
            assert message in exc.value.message
        assert [s.id for s in slas.list_slas(conn, alpha.id)] == [pdd.id, up.id]
        assert slas.set_sla_enabled(conn, up.id, False).enabled is False
        assert [s.id for s in slas.list_slas(conn, alpha.id, enabled_only=True)] == [pdd.id]
        with pytest.raises(SlaNotFound):
            slas.set_sla_enabled(conn, up.id, True, vendor_id=beta.id)  # not that vendor's


def _breach(conn: psycopg.Connection[Any]) -> tuple[UUID, UUID]:
    """A carrier with an hour of only network failures and an UPTIME SLA: one incident."""
    vendor = contracts.create_vendor(conn, name="Gamma", vendor_type="CARRIER")
    carrier = carrier_of(conn, vendor.id, "gamma")
    trunk = conn.execute(
        "INSERT INTO routing.carrier_trunks (carrier_id, name, host) VALUES (%s, 'g', 'sip.g') RETURNING id",
        (carrier,),
    ).fetchone()
    assert trunk is not None
    conn.execute(
        "INSERT INTO cdr.raw_cdr (start_time, call_id, sip_code, duration, carrier_trunk_id) "
        "VALUES (%s, 'x-1', 503, 0, %s)",
        (H, trunk["id"]),
    )
    slas.add_sla(
        conn,
        vendor.id,
        metric="UPTIME",
        target_value=Decimal(99),
        measurement_window="HOUR",
        carrier_id=carrier,
        effective_date=date(2025, 1, 1),
    )
    metrics.compute_metrics(conn, H, H + timedelta(hours=1))
    (incident,) = metrics.check_slas(conn, H, H + timedelta(hours=1))
    return vendor.id, incident["id"]


def test_incident_workflow(db_url: str) -> None:
    with psycopg.connect(db_url, row_factory=dict_row) as conn, tenant.transaction(conn, STAFF):
        vendor, incident = _breach(conn)
        (listed,) = slas.list_incidents(conn, vendor_id=vendor, open_only=True)
        assert (listed.id, listed.status, listed.observed_value) == (incident, "OPEN", Decimal("0.0000"))
        with pytest.raises(InvalidIncidentStatus, match="status: OPEN cannot become CLOSED"):
            slas.set_incident_status(conn, incident, "CLOSED")
        ack = slas.set_incident_status(conn, incident, "acknowledged", external_ticket_ref="GAMMA-42")
        assert (ack.status, ack.external_ticket_ref, ack.resolved_at) == ("ACKNOWLEDGED", "GAMMA-42", None)
        resolved = slas.set_incident_status(conn, incident, "RESOLVED")
        assert resolved.resolved_at is not None and resolved.external_ticket_ref == "GAMMA-42"
        assert slas.list_incidents(conn, vendor_id=vendor, open_only=True) == []
        reopened = slas.set_incident_status(conn, incident, "OPEN")
        assert reopened.resolved_at is None
        slas.set_incident_status(conn, incident, "RESOLVED")
        closed = slas.set_incident_status(conn, incident, "CLOSED")
        assert closed.closed_at is not None
        with pytest.raises(InvalidIncidentStatus, match=r"none \(CLOSED is final\)"):
            slas.set_incident_status(conn, incident, "OPEN")
        with pytest.raises(InvalidIncidentStatus, match="'GONE' is not one of"):
            slas.set_incident_status(conn, incident, "GONE")
        with pytest.raises(IncidentNotFound):
            slas.set_incident_status(conn, uuid4(), "RESOLVED")


def test_cli_slas_and_incidents(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARP_DATABASE_URL", db_url)
    with psycopg.connect(db_url, row_factory=dict_row) as conn, tenant.transaction(conn, STAFF):
        _, incident = _breach(conn)
    runner = CliRunner()
    out = runner.invoke(
        app, ["vendors", "slas", "add", "Gamma", "--metric", "DELIVERY_RATE", "--target", "97.5", "--json"]
    )
    assert out.exit_code == 0, out.output
    added = json.loads(out.stdout)
    assert (added["metric"], added["target_value"], added["carrier_id"]) == ("DELIVERY_RATE", "97.5000", None)
    shown = json.loads(runner.invoke(app, ["vendors", "show", "Gamma", "--json"]).stdout)
    assert sorted(s["metric"] for s in shown["slas"]) == ["DELIVERY_RATE", "UPTIME"]
    assert [i["id"] for i in shown["open_incidents"]] == [str(incident)]
    assert runner.invoke(app, ["vendors", "show", "Gamma"]).exit_code == 0
    out = runner.invoke(app, ["vendors", "slas", "list", "Gamma", "--json"])
    assert sorted(s["metric"] for s in json.loads(out.stdout)) == ["DELIVERY_RATE", "UPTIME"]
    assert runner.invoke(app, ["vendors", "slas", "disable", added["id"]]).exit_code == 0
    out = runner.invoke(app, ["vendors", "incidents", "list", "--vendor", "Gamma", "--json"])
    assert [i["id"] for i in json.loads(out.stdout)] == [str(incident)]
    out = runner.invoke(
        app, ["vendors", "incidents", "status", str(incident), "resolved", "--ticket", "T-1", "--json"]
    )
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["status"] == "RESOLVED"
    assert json.loads(runner.invoke(app, ["vendors", "incidents", "list", "--json"]).stdout) == []
    bad = runner.invoke(app, ["vendors", "incidents", "status", str(incident), "ACKNOWLEDGED"])
    assert isinstance(bad.exception, InvalidIncidentStatus)


def test_api_slas_and_incidents(client: TestClient, world: World) -> None:
    world.user(None, "ops@warp.example", role="staff_admin")
    staff = bearer(
        client.post("/v1/auth/login", json={"email": "ops@warp.example", "password": PASSWORD}).json()[
            "token"
        ]
    )
    customer = bearer(world.key(world.acme, ["admin"]))
    with psycopg.connect(world.url, row_factory=dict_row) as conn, tenant.transaction(conn, STAFF):
        vendor, incident = _breach(conn)
    r = client.post(f"/v1/vendors/{vendor}/slas", headers=staff, json={"metric": "ASR", "target_value": "40"})
    assert r.status_code == 422 and r.json()["type"] == "urn:warp:problem:invalid-sla", r.text
    r = client.post(
        f"/v1/vendors/{vendor}/slas",
        headers=staff,
        json={"metric": "DELIVERY_RATE", "target_value": "95", "measurement_window": "MONTH"},
    )
    assert r.status_code == 201, r.text
    sla = r.json()
    listed = client.get(f"/v1/vendors/{vendor}/slas", headers=staff).json()
    assert sorted(s["metric"] for s in listed["data"]) == ["DELIVERY_RATE", "UPTIME"]
    r = client.patch(f"/v1/vendors/{vendor}/slas/{sla['id']}", headers=staff, json={"enabled": False})
    assert r.status_code == 200 and r.json()["enabled"] is False
    page = client.get(f"/v1/vendor-incidents?open=true&vendor_id={vendor}", headers=staff).json()
    assert [i["id"] for i in page["data"]] == [str(incident)] and page["next_cursor"] is None
    r = client.post(f"/v1/vendor-incidents/{incident}/status", headers=staff, json={"status": "CLOSED"})
    assert r.status_code == 422 and "OPEN cannot become CLOSED" in r.json()["detail"]
    r = client.post(
        f"/v1/vendor-incidents/{incident}/status",
        headers=staff,
        json={"status": "ACKNOWLEDGED", "external_ticket_ref": "G-7"},
    )
    assert r.status_code == 200 and r.json()["external_ticket_ref"] == "G-7"
    assert (
        client.post(
            f"/v1/vendor-incidents/{uuid4()}/status", headers=staff, json={"status": "RESOLVED"}
        ).status_code
        == 404
    )
    for method, path in (("GET", "/v1/vendor-incidents"), ("GET", f"/v1/vendors/{vendor}/slas")):
        assert client.request(method, path, headers=customer).status_code == 403
