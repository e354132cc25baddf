"""Staff API: vendors, contracts and commitments, providers, carrier metrics, the compliance report."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from fastapi.testclient import TestClient
from psycopg.rows import dict_row

from warp.db import tenant
from warp.vendors import metrics, service
from warp_auth_fixtures import PASSWORD, STAFF, World, bearer

H = datetime(2025, 6, 10, 10, tzinfo=UTC)


def login(client: TestClient, world: World, email: str, role: str) -> dict[str, str]:
    world.user(None, email, role=role)
    r = client.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return bearer(r.json()["token"])


def problem(r: Any, status: int, code: str) -> str:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["type"] == f"urn:warp:problem:{code}", body
    return str(body["detail"])


def test_vendors_and_contracts(client: TestClient, world: World) -> None:
    admin = login(client, world, "ops@warp.example", "staff_admin")
    support = login(client, world, "support@warp.example", "staff_support")
    customer = bearer(world.key(world.acme, ["admin"]))

    r = client.post("/v1/vendors", headers=admin, json={"name": "Alpha Voice", "vendor_type": "CARRIER"})
    assert r.status_code == 201, r.text
    alpha = r.json()
    assert (alpha["name"], alpha["status"]) == ("Alpha Voice", "ACTIVE")
    beta = client.post(
        "/v1/vendors",
        headers=admin,
        json={"name": "Beta SMS", "vendor_type": "MESSAGING", "support_phone": "+15551230000"},
    ).json()
    detail = problem(
        client.post("/v1/vendors", headers=admin, json={"name": "Alpha Voice", "vendor_type": "OTHER"}),
        409,
        "duplicate-vendor",
    )
    assert "name: a vendor called 'Alpha Voice' exists" in detail
    r = client.post(
        "/v1/vendors", headers=admin, json={"name": "X", "vendor_type": "OTHER", "support_phone": "5"}
    )
    assert r.status_code == 422 and "support_phone" in r.text

    # cursor pagination walks both vendors once
    first = client.get("/v1/vendors?limit=1", headers=support).json()
    assert len(first["data"]) == 1 and first["next_cursor"]
    second = client.get(f"/v1/vendors?limit=1&cursor={first['next_cursor']}", headers=support).json()
    assert second["next_cursor"] is None
    assert {first["data"][0]["id"], second["data"][0]["id"]} == {alpha["id"], beta["id"]}
    only = client.get("/v1/vendors?vendor_type=MESSAGING", headers=support).json()["data"]
    assert [v["name"] for v in only] == ["Beta SMS"]

    r = client.patch(
        f"/v1/vendors/{beta['id']}", headers=admin, json={"status": "INACTIVE", "support_phone": None}
    )
    assert r.status_code == 200 and (r.json()["status"], r.json()["support_phone"]) == ("INACTIVE", None)
    problem(
        client.patch(f"/v1/vendors/{beta['id']}", headers=admin, json={"name": None}), 422, "invalid-vendor"
    )
    problem(client.get(f"/v1/vendors/{uuid.uuid4()}", headers=support), 404, "vendor-not-found")

    base = f"/v1/vendors/{alpha['id']}/contracts"
    detail = problem(
        client.post(
            base, headers=admin, json={"name": "bad", "start_date": "2025-03-01", "end_date": "2025-02-28"}
        ),
        422,
        "invalid-contract",
    )
    assert detail == "end_date: 2025-02-28 is before start_date 2025-03-01"
    detail = problem(
        client.post(
            base, headers=admin, json={"name": "bad", "start_date": "2025-01-01", "commitment_minutes": 5}
        ),
        422,
        "invalid-contract",
    )
    assert detail.startswith("commitment_period: required")
    r = client.post(
        base,
        headers=admin,
        json={
            "name": "Alpha 2025",
            "start_date": "2025-01-01",
            "commitment_amount": "5000.00",
            "commitment_period": "MONTHLY",
            "terms": "6/6 billing",
        },
    )
    assert r.status_code == 201, r.text
    contract = r.json()
    assert contract["commitment_amount"] == "5000.00" and contract["end_date"] is None
    problem(
        client.post(
            f"/v1/vendors/{uuid.uuid4()}/contracts",
            headers=admin,
            json={"name": "x", "start_date": "2025-01-01"},
        ),
        404,
        "vendor-not-found",
    )
    listed = client.get(base, headers=support).json()
    assert [c["id"] for c in listed["data"]] == [contract["id"]] and listed["next_cursor"] is None
    assert client.get(f"{base}/{contract['id']}", headers=support).json()["name"] == "Alpha 2025"
    # another vendor's path does not reach the contract
    problem(
        client.get(f"/v1/vendors/{beta['id']}/contracts/{contract['id']}", headers=support),
        404,
        "contract-not-found",
    )

    commitments = client.get("/v1/vendors/commitments?from=2025-01-01&to=2025-02-01", headers=support).json()
    assert [
        (c["contract_name"], c["committed_amount"], c["actual_spend"], c["met"]) for c in commitments["data"]
    ] == [("Alpha 2025", "5000.00", "0.00", False)]
    problem(
        client.get("/v1/vendors/commitments?from=2025-02-01&to=2025-01-01", headers=support),
        422,
        "invalid-period",
    )

    due = client.get("/v1/vendors/contracts-due", headers=support)
    assert due.status_code == 200 and due.json() == {"data": []}  # open-ended contract
    r = client.post(f"{base}/{contract['id']}/end", headers=admin, json={"end_date": "2025-06-30"})
    assert r.status_code == 200 and (r.json()["status"], r.json()["end_date"]) == ("TERMINATED", "2025-06-30")
    problem(client.post(f"{base}/{contract['id']}/end", headers=admin, json={}), 422, "invalid-contract")

    # staff only; support staff read but do not write
    for method, path in (("GET", "/v1/vendors"), ("GET", base), ("GET", "/v1/vendors/commitments")):
        problem(client.request(method, path, headers=customer), 403, "insufficient-scope")
    problem(
        client.post("/v1/vendors", headers=customer, json={"name": "Z", "vendor_type": "OTHER"}),
        403,
        "insufficient-scope",
    )
    problem(
        client.post("/v1/vendors", headers=support, json={"name": "Z", "vendor_type": "OTHER"}),
        403,
        "insufficient-scope",
    )
    problem(client.post(f"{base}/{contract['id']}/end", headers=support, json={}), 403, "insufficient-scope")
    assert client.get("/v1/vendors").status_code == 401


def _carrier_with_traffic(conn: psycopg.Connection[Any]) -> uuid.UUID:
    carrier = conn.execute("INSERT INTO routing.carriers (name) VALUES ('alpha') RETURNING id").fetchone()[
        "id"
    ]
    trunk = conn.execute(
        "INSERT INTO routing.carrier_trunks (carrier_id, name, host) VALUES (%s, 'a-1', 'sip.a') RETURNING id",
        (carrier,),
    ).fetchone()["id"]
    calls = [(H, 200, 60, 1000)] * 3 + [(H, 503, 0, None)] + [(H + timedelta(hours=1), 200, 30, 3000)]
    for i, (at, code, duration, pdd) in enumerate(calls):
        conn.execute(
            "INSERT INTO cdr.raw_cdr (start_time, call_id, sip_code, duration, pdd_ms, carrier_trunk_id) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            (at + timedelta(minutes=i), f"m-{i}", code, duration, pdd, trunk),
        )
    with tenant.transaction(conn, STAFF):
        metrics.compute_metrics(conn, H, H + timedelta(hours=2))
    return uuid.UUID(str(carrier))


def test_providers_carrier_metrics_and_compliance_report(client: TestClient, world: World) -> None:
    staff = login(client, world, "ops@warp.example", "staff_admin")
    customer = bearer(world.key(world.acme, ["admin"]))
    with psycopg.connect(world.url, row_factory=dict_row, autocommit=True) as conn:
        with tenant.transaction(conn, STAFF):
            service.add_provider(
                conn,
                name="lrn-b",
                provider_type="local-lrn",
                capabilities=["lrn_lookup"],
                config={"api_key_ref": "env:LRN_KEY"},
                priority=20,
            )
            service.add_provider(
                conn, name="sms-a", provider_type="loopback", capabilities=["sms"], config={}, priority=10
            )
        carrier = _carrier_with_traffic(conn)
        now = datetime.now(UTC)
        conn.execute(
            "INSERT INTO audit.stir_shaken_certs (name, spc, certificate_ref, private_key_ref, status, not_before, "
            "not_after) VALUES ('soon', '123A', 'file:/etc/warp/cert.pem', 'secret:stir_key', 'ACTIVE', %s, %s)",
            (now - timedelta(days=300), now + timedelta(days=10)),
        )

    providers = client.get("/v1/providers", headers=staff).json()
    assert [p["name"] for p in providers["data"]] == ["sms-a", "lrn-b"] and providers["next_cursor"] is None
    assert providers["data"][1]["config"] == {"api_key_ref": "env:LRN_KEY", "fail": False, "ported": {}}
    lrn = client.get("/v1/providers?capability=lrn_lookup", headers=staff).json()["data"]
    assert [p["name"] for p in lrn] == ["lrn-b"]
    with psycopg.connect(world.url, row_factory=dict_row) as conn, tenant.transaction(conn, STAFF):
        lrn_id = service.get_provider(conn, "lrn-b")["id"]
        for status, error in (("HEALTHY", None), ("DOWN", "timeout"), ("HEALTHY", None)):
            service.record_health(conn, lrn_id, status, 12.5, error)
    # one transaction: same checked_at, the id orders them; walk newest first, one per page
    seen, cursor = [], None
    for _ in range(4):
        r = client.get(
            "/v1/providers/lrn-b/health-checks", headers=staff, params={"limit": 1, "cursor": cursor}
        )
        assert r.status_code == 200, r.text
        seen += r.json()["data"]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 3 and len({h["id"] for h in seen}) == 3
    assert sorted(h["status"] for h in seen) == ["DOWN", "HEALTHY", "HEALTHY"]
    problem(client.get("/v1/providers/nope/health-checks", headers=staff), 404, "provider-not-found")

    period = {"from": H.isoformat(), "to": (H + timedelta(hours=2)).isoformat()}
    r = client.get(f"/v1/carriers/{carrier}/metrics", headers=staff, params=period)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["carrier"]["name"] == "alpha"
    assert [(h["attempts"], h["asr"], h["pdd_ms"]) for h in body["data"]] == [
        (4, "75.0000", "1000.00"),
        (1, "100.0000", "3000.00"),
    ]
    # totals weighted by calls, not averaged per hour
    assert body["totals"] == {
        "attempts": 5,
        "answered": 4,
        "completed": 4,
        "asr": "80.0000",
        "acd_seconds": "52.50",
        "pdd_ms": "1400.00",  # hourly PDD weighted by attempts, as the SLA check does
        "ner": "80.0000",
    }
    problem(client.get(f"/v1/carriers/{uuid.uuid4()}/metrics", headers=staff), 404, "carrier-not-found")
    backwards = {"from": period["to"], "to": period["from"]}
    problem(
        client.get(f"/v1/carriers/{carrier}/metrics", headers=staff, params=backwards), 422, "invalid-period"
    )

    report = client.get("/v1/compliance/report", headers=staff).json()
    assert report["attention"] is True
    assert [c["name"] for c in report["expiring_certificates"]] == ["soon"]
    assert set(report) == {
        "e911_gaps",
        "expiring_certificates",
        "ten_dlc_gaps",
        "open_incidents",
        "attention",
    }

    for path in ("/v1/providers", f"/v1/carriers/{carrier}/metrics", "/v1/compliance/report"):
        problem(client.get(path, headers=customer), 403, "insufficient-scope")
