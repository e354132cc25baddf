"""GET /v1/reports/*: staff read traffic and carriers; a customer reads only its own daily summary."""

from __future__ import annotations

import psycopg
from fastapi.testclient import TestClient
from psycopg.rows import dict_row
from reporting_helpers import add_traffic

from warp.db import tenant
from warp.reporting import service
from warp_auth_fixtures import STAFF, World, bearer


def _staff_token(client: TestClient, world: World) -> str:
    world.user(None, "ops@warp.example", role="staff_admin")
    r = client.post(
        "/v1/auth/login", json={"email": "ops@warp.example", "password": "correct horse battery staple"}
    )
    return str(r.json()["token"])


def test_reports(client: TestClient, world: World) -> None:
    with psycopg.connect(world.url, row_factory=dict_row, autocommit=True) as conn:
        add_traffic(conn, {world.acme: 2, world.acme_child: 1, world.globex: 5})
        with tenant.transaction(conn, STAFF):
            service.refresh_all(conn)
    staff = _staff_token(client, world)
    r = client.get("/v1/reports/traffic", headers=bearer(staff))
    assert r.status_code == 200, r.text
    assert r.headers["X-Warp-Read-Source"] == "primary" and r.json()["source"] == "primary"
    assert sorted(row["attempts"] for row in r.json()["data"]) == [1, 2, 5]
    carriers = client.get("/v1/reports/carriers", headers=bearer(staff)).json()["data"]
    assert [(c["carrier_name"], c["attempts"], c["asr"]) for c in carriers] == [("alpha", 8, "100.0000")]

    acme = world.key(world.acme, ["cdr:read"])
    assert client.get("/v1/reports/traffic", headers=bearer(acme)).status_code == 403
    assert client.get("/v1/reports/carriers", headers=bearer(acme)).status_code == 403
    mine = client.get("/v1/reports/daily-summary", headers=bearer(acme)).json()["data"]
    assert sorted((row["account_id"], row["call_attempts"]) for row in mine) == sorted(
        [(str(world.acme), 2), (str(world.acme_child), 1)]
    )  # a reseller sees its child too
    globex = world.key(world.globex, ["cdr:read"])
    theirs = client.get("/v1/reports/daily-summary", headers=bearer(globex)).json()["data"]
    assert [(row["account_id"], row["call_attempts"]) for row in theirs] == [(str(world.globex), 5)]
    ready = client.get("/ready").json()
    assert ready["reporting"] == {"target": "primary", "reason": "WARP_REPLICA_URL unset"}
