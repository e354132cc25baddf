"""Tenant isolation through the API: another tenant's objects are 404, a reseller sees its children."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from warp_auth_fixtures import World, bearer


def test_other_tenants_objects_are_not_found(client: TestClient, world: World) -> None:
    globex = world.key(world.globex, ["admin"])
    acme_key_id = None
    acme = world.key(world.acme, ["admin"])
    for r in (client.get("/v1/api-keys", headers=bearer(acme)),):
        acme_key_id = r.json()["data"][0]["id"]
    acme_user = world.user(world.acme, "hal@acme.example")
    for method, path in (
        ("GET", f"/v1/accounts/{world.acme}"),
        ("GET", f"/v1/accounts/{world.acme_child}"),
        ("GET", f"/v1/accounts/{world.acme}/contacts"),
        ("GET", f"/v1/accounts/{world.acme}/feature-flags/anything"),
        ("GET", f"/v1/users/{acme_user}"),
        ("POST", f"/v1/users/{acme_user}/deactivate"),
        ("DELETE", f"/v1/api-keys/{acme_key_id}"),
        ("GET", f"/v1/accounts/{uuid.uuid4()}"),
    ):
        r = client.request(method, path, headers=bearer(globex))
        assert r.status_code == 404, (method, path, r.text)
        assert r.json()["status"] == 404
    r = client.patch(f"/v1/accounts/{world.acme}", headers=bearer(globex), json={"name": "pwned"})
    assert r.status_code == 404
    assert client.get(f"/v1/accounts/{world.acme}", headers=bearer(acme)).json()["name"] == "ACME Inc"
    listed = client.get("/v1/accounts", headers=bearer(globex)).json()
    assert [a["ban"] for a in listed["data"]] == ["GLOBEX"]
    users = client.get("/v1/users", headers=bearer(globex)).json()["data"]
    assert users == []
    assert client.get(f"/v1/users?account_id={world.acme}", headers=bearer(globex)).status_code == 404


def test_reseller_sees_its_child_but_not_the_other_way(client: TestClient, world: World) -> None:
    parent = world.key(world.acme, ["accounts:read"])
    child = world.key(world.acme_child, ["accounts:read"])
    assert client.get(f"/v1/accounts/{world.acme_child}", headers=bearer(parent)).status_code == 200
    assert client.get(f"/v1/accounts/{world.acme}", headers=bearer(child)).status_code == 404
    bans = sorted(a["ban"] for a in client.get("/v1/accounts", headers=bearer(parent)).json()["data"])
    assert bans == ["ACME", "ACME-KID"]


def test_staff_session_sees_every_account(client: TestClient, world: World) -> None:
    world.user(None, "ops@warp.example", role="staff_admin")
    r = client.post(
        "/v1/auth/login", json={"email": "ops@warp.example", "password": "correct horse battery staple"}
    )
    token = r.json()["token"]
    me = client.get("/v1/me", headers=bearer(token)).json()
    assert me["staff"] is True and me["kind"] == "STAFF"
    for account in (world.acme, world.globex):
        assert client.get(f"/v1/accounts/{account}", headers=bearer(token)).status_code == 200
    r = client.put(
        f"/v1/accounts/{world.globex}/feature-flags/beta.portal",
        headers=bearer(token),
        json={"enabled": True},
    )
    assert r.status_code == 200, r.text
    globex = world.key(world.globex, ["accounts:read"])
    evaluation = client.get(
        f"/v1/accounts/{world.globex}/feature-flags/beta.portal", headers=bearer(globex)
    ).json()
    assert evaluation["enabled"] is True and evaluation["reason"] == "ACCOUNT_FLAG"
    unset = client.get(f"/v1/accounts/{world.globex}/feature-flags/other", headers=bearer(globex)).json()
    assert unset["enabled"] is False and unset["reason"] == "DEFAULT"
    r = client.post(
        "/v1/api-keys", headers=bearer(token), json={"account_id": str(world.globex), "scopes": ["cdr:read"]}
    )
    assert r.status_code == 201 and r.json()["api_key"]["account_id"] == str(world.globex)
