"""Routing API: /v1/trunks (CRUD, ACL, cursor pagination, problem+json), /v1/routing/lcr, tenant isolation."""

from __future__ import annotations

from typing import Any

import psycopg
from fastapi.testclient import TestClient
from routing_helpers import assign, ctrunk, partition, rate, sell_plan

from warp_auth_fixtures import PASSWORD, World, bearer, client, seeded_url, world  # noqa: F401

RW = ["routing:read", "routing:write"]


def staff_token(client: TestClient, world: World) -> dict[str, str]:  # noqa: F811
    world.user(None, "ops@warp.example", role="staff_admin")
    r = client.post("/v1/auth/login", json={"email": "ops@warp.example", "password": PASSWORD})
    assert r.status_code == 200, r.text
    return bearer(r.json()["token"])


def make(client: TestClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:  # noqa: F811
    r = client.post("/v1/trunks", headers=headers, json=body)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def test_trunk_crud_and_tenant_isolation(client: TestClient, world: World) -> None:  # noqa: F811
    globex = bearer(world.key(world.globex, scopes=RW))
    acme = bearer(world.key(world.acme, scopes=RW))
    kid = bearer(world.key(world.acme_child, scopes=RW))

    t = make(
        client,
        globex,
        name="pbx",
        auth_type="SIP_REGISTER",
        sip_username="globex1",
        sip_password="s3cret-pass",
    )
    assert t["account_id"] == str(world.globex) and t["has_sip_credentials"] is True
    assert "sip_ha1" not in t and "sip_password" not in t
    tid = t["id"]
    acl = client.post(f"/v1/trunks/{tid}/acl", headers=globex, json={"network": "203.0.113.0/24"})
    assert acl.status_code == 201 and acl.json()["network"] == "203.0.113.0/24"

    # another tenant: every operation on Globex's trunk is "not found", and it is left untouched
    for method, path, kw in [
        ("GET", f"/v1/trunks/{tid}", {}),
        ("PATCH", f"/v1/trunks/{tid}", {"json": {"enabled": False}}),
        ("DELETE", f"/v1/trunks/{tid}", {}),
        ("GET", f"/v1/trunks/{tid}/acl", {}),
        ("POST", f"/v1/trunks/{tid}/acl", {"json": {"network": "198.51.100.1"}}),
        ("DELETE", f"/v1/trunks/{tid}/acl", {"params": {"network": "203.0.113.0/24"}}),
    ]:
        r = client.request(method, path, headers=acme, **kw)
        assert r.status_code == 404, (method, path, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["type"] == "urn:warp:problem:trunk-not-found"
    assert client.get("/v1/trunks", headers=acme).json()["data"] == []
    assert client.get(f"/v1/trunks/{tid}", headers=globex).json()["enabled"] is True
    assert [a["network"] for a in client.get(f"/v1/trunks/{tid}/acl", headers=globex).json()["data"]] == [
        "203.0.113.0/24"
    ]
    # creating a trunk for another tenant's account is refused as "not found"
    r = client.post("/v1/trunks", headers=globex, json={"name": "x", "account_id": str(world.acme_child)})
    assert r.status_code == 404, r.text

    # a reseller manages its customer's trunk; the customer sees it; Globex does not
    k = make(client, acme, name="kid-trunk", account_id=str(world.acme_child))
    assert k["account_id"] == str(world.acme_child)
    assert [x["name"] for x in client.get("/v1/trunks", headers=kid).json()["data"]] == ["kid-trunk"]
    assert client.get(f"/v1/trunks/{k['id']}", headers=globex).status_code == 404

    # patch and delete
    r = client.patch(f"/v1/trunks/{tid}", headers=globex, json={"enabled": False, "codecs": ["G722", "PCMU"]})
    assert r.status_code == 200, r.text
    assert r.json()["enabled"] is False and r.json()["codecs"] == ["G722", "PCMU"]
    r = client.patch(f"/v1/trunks/{tid}", headers=globex, json={"sip_username": "globex2"})
    assert r.status_code == 422 and r.json()["detail"].startswith("sip_password:")
    r = client.patch(f"/v1/trunks/{tid}", headers=globex, json={"name": None})
    assert r.status_code == 422 and r.json()["detail"] == "name: must not be null"
    assert client.delete(f"/v1/trunks/{tid}", headers=globex).status_code == 204
    assert client.get(f"/v1/trunks/{tid}", headers=globex).status_code == 404
    assert client.delete(f"/v1/trunks/{tid}", headers=globex).status_code == 404

    # scopes
    reader = bearer(world.key(world.globex, scopes=["routing:read"]))
    assert client.post("/v1/trunks", headers=reader, json={"name": "nope"}).status_code == 403
    other = bearer(world.key(world.globex, scopes=["cdr:read"]))
    assert client.get("/v1/trunks", headers=other).status_code == 403


def test_validation_errors_name_the_field(client: TestClient, world: World) -> None:  # noqa: F811
    globex = bearer(world.key(world.globex, scopes=RW))
    r = client.post(
        "/v1/trunks", headers=globex, json={"name": "a", "codecs": ["PC MU"], "max_concurrent_calls": 0}
    )
    assert r.status_code == 422
    body = r.json()
    assert body["type"] == "urn:warp:problem:validation-error"
    fields = {e["field"] for e in body["errors"]}
    assert fields == {"body.codecs.0", "body.max_concurrent_calls"}
    r = client.post("/v1/trunks", headers=globex, json={"name": "a", "auth_type": "SIP_REGISTER"})
    assert r.status_code == 422 and r.json()["detail"].startswith("sip_username, sip_password:")
    make(client, globex, name="a")
    r = client.post("/v1/trunks", headers=globex, json={"name": "a"})
    assert r.status_code == 409 and r.json()["detail"].startswith("name:")
    tid = client.get("/v1/trunks", headers=globex).json()["data"][0]["id"]
    r = client.post(f"/v1/trunks/{tid}/acl", headers=globex, json={"network": "10.0.0.300"})
    assert r.status_code == 422 and r.json()["detail"].startswith("network:")
    r = client.get("/v1/trunks", headers=globex, params={"cursor": "garbage"})
    assert r.status_code == 422 and r.json()["detail"].startswith("cursor:")
    r = client.get("/v1/trunks/not-a-uuid", headers=globex)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "path.trunk_id"


def test_cursor_pagination_of_trunks_and_acl(client: TestClient, world: World) -> None:  # noqa: F811
    globex = bearer(world.key(world.globex, scopes=RW))
    made = [make(client, globex, name=f"t{i}")["id"] for i in range(5)]
    for i in range(5):
        r = client.post(f"/v1/trunks/{made[0]}/acl", headers=globex, json={"network": f"192.0.2.{i}"})
        assert r.status_code == 201, r.text

    def walk(path: str) -> list[str]:
        seen: list[str] = []
        params: dict[str, Any] = {"limit": 2}
        while True:
            body = client.get(path, headers=globex, params=params).json()
            assert len(body["data"]) <= 2
            seen += [x["id"] for x in body["data"]]
            if not body["next_cursor"]:
                return seen
            params["cursor"] = body["next_cursor"]

    assert walk("/v1/trunks") == made
    acl = walk(f"/v1/trunks/{made[0]}/acl")
    assert len(acl) == len(set(acl)) == 5
    assert (
        client.delete(
            f"/v1/trunks/{made[0]}/acl", headers=globex, params={"network": "192.0.2.3"}
        ).status_code
        == 204
    )
    r = client.delete(f"/v1/trunks/{made[0]}/acl", headers=globex, params={"network": "192.0.2.3"})
    assert r.status_code == 404 and r.json()["type"] == "urn:warp:problem:trunk-acl-not-found"


def test_overlapping_acl_of_another_account_is_a_conflict(client: TestClient, world: World) -> None:  # noqa: F811
    globex = bearer(world.key(world.globex, scopes=RW))
    acme = bearer(world.key(world.acme, scopes=RW))
    g = make(client, globex, name="g")["id"]
    a = make(client, acme, name="a")["id"]
    assert (
        client.post(f"/v1/trunks/{g}/acl", headers=globex, json={"network": "2001:db8::/32"}).status_code
        == 201
    )
    r = client.post(f"/v1/trunks/{a}/acl", headers=acme, json={"network": "2001:db8:1::/48"})
    assert r.status_code == 409 and r.json()["type"] == "urn:warp:problem:trunk-acl-overlap"
    assert r.json()["detail"].startswith("network:")


def test_lcr_customers_see_no_costs_staff_see_everything(client: TestClient, world: World) -> None:  # noqa: F811
    with psycopg.connect(world.url, autocommit=True) as conn:
        cheap, dear, lossy = ctrunk(conn, "cheap"), ctrunk(conn, "dear"), ctrunk(conn, "lossy")
        rate(conn, cheap, "1", "0.0050")
        rate(conn, dear, "1202", "0.0090")
        rate(conn, lossy, "1", "0.5000")
        assign(conn, world.globex, partition(conn, "main", [cheap, dear, lossy]))
        sell_plan(conn, world.globex, "1", "0.0100")
    globex = bearer(world.key(world.globex, scopes=["routing:read"]))
    r = client.get("/v1/routing/lcr", headers=globex, params={"destination": "+12025550100"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [c["carrier_trunk"] for c in body["candidates"]] == ["cheap", "dear"]
    assert [c["prefix"] for c in body["candidates"]] == ["1", "1202"]
    assert all(set(c) == {"rank", "carrier_trunk", "carrier", "prefix"} for c in body["candidates"])
    assert "sell_rate" not in body and "exclusions" not in body
    for secret in ("0.005", "0.009", "0.5", "lossy", "connection_fee", str(cheap)):
        assert secret not in r.text, secret

    staff = staff_token(client, world)
    r = client.get("/v1/routing/lcr", headers=staff, params={"destination": "+12025550100"})
    assert r.status_code == 422 and r.json()["detail"].startswith("account_id:")
    r = client.get(
        "/v1/routing/lcr",
        headers=staff,
        params={"destination": "+12025550100", "account_id": str(world.globex), "origin": "+13035550100"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert [(c["carrier_trunk"], c["rate"]) for c in body["candidates"]] == [
        ("cheap", "0.005000"),
        ("dear", "0.009000"),
    ]
    assert body["sell_rate"] == "0.010000"
    assert [(x["carrier_trunk"], x["reason"].split(" (")[0]) for x in body["exclusions"]] == [
        ("lossy", "above sell rate")
    ]

    # another tenant's account is not found; a malformed destination names the field
    r = client.get(
        "/v1/routing/lcr",
        headers=globex,
        params={"destination": "12025550100", "account_id": str(world.acme)},
    )
    assert r.status_code == 404 and r.json()["detail"].startswith("account_id:")
    r = client.get("/v1/routing/lcr", headers=globex, params={"destination": "12O2"})
    assert r.status_code == 422 and r.json()["detail"].startswith("destination:")


def test_lcr_on_a_customer_trunk_uses_its_partition_override(client: TestClient, world: World) -> None:  # noqa: F811
    globex = bearer(world.key(world.globex, scopes=RW))
    acme = bearer(world.key(world.acme, scopes=RW))
    sbc = make(client, globex, name="sbc")["id"]
    theirs = make(client, acme, name="acme-sbc")["id"]
    with psycopg.connect(world.url, autocommit=True) as conn:
        usual, special = ctrunk(conn, "usual"), ctrunk(conn, "special")
        rate(conn, usual, "1", "0.0050")
        rate(conn, special, "1", "0.0090")
        assign(conn, world.globex, partition(conn, "main", [usual]))
        conn.execute(
            "INSERT INTO routing.account_partitions (account_id, trunk_id, partition_id) VALUES (%s, %s, %s)",
            (world.globex, sbc, partition(conn, "vip", [special])),
        )
    dest = {"destination": "+12025550100"}
    r = client.get("/v1/routing/lcr", headers=globex, params=dest)
    assert r.status_code == 200, r.text
    assert [c["carrier_trunk"] for c in r.json()["candidates"]] == ["usual"]
    r = client.get("/v1/routing/lcr", headers=globex, params={**dest, "trunk_id": sbc})
    assert r.status_code == 200, r.text
    assert [c["carrier_trunk"] for c in r.json()["candidates"]] == ["special"]
    assert r.json()["partition_source"] == "trunk"
    # another tenant's trunk is not visible: not found, naming the field
    r = client.get("/v1/routing/lcr", headers=globex, params={**dest, "trunk_id": theirs})
    assert r.status_code == 404 and r.json()["detail"].startswith("trunk:"), r.text
