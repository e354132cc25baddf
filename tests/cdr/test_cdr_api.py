"""GET /v1/cdrs and /v1/cdrs/export: tenant isolation, filters, cursor pagination, CSV streaming."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

import psycopg
from fastapi.testclient import TestClient

from warp_auth_fixtures import World, bearer, client, seeded_url, world  # noqa: F401


def add_cdrs(url: str, account: uuid.UUID | None, n: int, prefix: str, *, dnis: str = "+13035550100") -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO cdr.raw_cdr (start_time, call_id, duration, sip_code, ani, dnis, account_id, source_ip) "
            "SELECT timestamptz '2026-11-10 12:00:00+00' + g * interval '1 minute', %s || g, "
            "CASE WHEN g %% 2 = 0 THEN 30 ELSE 0 END, CASE WHEN g %% 2 = 0 THEN 200 ELSE 486 END, "
            "'+12125550100', %s, %s, '10.0.0.1' FROM generate_series(1, %s) AS g",
            (prefix, dnis, account, n),
        )


def ids(resp: Any) -> set[str]:
    return {r["call_id"] for r in resp.json()["data"]}


def test_tenant_isolation_filters_and_pagination(client: TestClient, world: World) -> None:  # noqa: F811
    add_cdrs(world.url, world.globex, 5, "globex-")
    add_cdrs(world.url, world.acme_child, 7, "kid-", dnis="+13035550199")
    add_cdrs(world.url, None, 3, "nobody-")
    globex = bearer(world.key(world.globex, scopes=["cdr:read"]))
    acme = bearer(world.key(world.acme, scopes=["cdr:read"]))
    kid = bearer(world.key(world.acme_child, scopes=["cdr:read"]))

    r = client.get("/v1/cdrs", headers=globex)
    assert r.status_code == 200, r.text
    assert ids(r) == {f"globex-{i}" for i in range(1, 6)}
    # the reseller sees its customer's CDRs; the customer does not see Globex's; nobody sees unattributed ones
    assert ids(client.get("/v1/cdrs", headers=acme)) == {f"kid-{i}" for i in range(1, 8)}
    assert ids(client.get("/v1/cdrs", headers=kid)) == {f"kid-{i}" for i in range(1, 8)}

    # filters
    r = client.get("/v1/cdrs", headers=acme, params={"status": "ANSWERED"})
    assert ids(r) == {f"kid-{i}" for i in (2, 4, 6)}
    r = client.get(
        "/v1/cdrs",
        headers=acme,
        params={"number": "+13035550199", "from": "2026-11-10T12:03:00Z", "to": "2026-11-10T12:05:00Z"},
    )
    assert ids(r) == {"kid-3", "kid-4"}
    assert client.get("/v1/cdrs", headers=globex, params={"number": "+13035550199"}).json()["data"] == []
    assert client.get("/v1/cdrs", headers=acme, params={"status": "PENDING"}).status_code == 200
    assert client.get("/v1/cdrs", headers=acme, params={"status": "BOGUS"}).status_code == 422
    assert client.get("/v1/cdrs", headers=acme, params={"number": "3035550199"}).status_code == 422

    # cursor pagination: newest first, no overlap, complete
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 3}
    while True:
        body = client.get("/v1/cdrs", headers=acme, params=params).json()
        seen += [r["call_id"] for r in body["data"]]
        if not body["next_cursor"]:
            break
        params["cursor"] = body["next_cursor"]
    assert seen == [f"kid-{i}" for i in range(7, 0, -1)]

    # a key without cdr:read is refused
    nope = bearer(world.key(world.globex, scopes=["accounts:read"]))
    assert client.get("/v1/cdrs", headers=nope).status_code == 403


def test_export_csv_streams_only_own_rows(client: TestClient, world: World) -> None:  # noqa: F811
    add_cdrs(world.url, world.globex, 12, "globex-")
    add_cdrs(world.url, world.acme_child, 4, "kid-")
    globex = bearer(world.key(world.globex, scopes=["cdr:read"]))
    r = client.get("/v1/cdrs/export", headers=globex, params={"format": "csv"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert {row["call_id"] for row in rows} == {f"globex-{i}" for i in range(1, 13)}
    assert rows[0]["rating_status"] == "PENDING" and "customer_charge" in rows[0]
    assert client.get("/v1/cdrs/export", headers=globex, params={"format": "xml"}).status_code == 422
