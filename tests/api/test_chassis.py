"""Problem details, validation errors, pagination, idempotency, users, /ready."""

from __future__ import annotations

from fastapi.testclient import TestClient

from warp_auth_fixtures import World, bearer


def test_validation_errors_name_each_field(client: TestClient, world: World) -> None:
    key = world.key(world.acme, ["admin"])
    r = client.post(
        f"/v1/accounts/{world.acme}/contacts",
        headers=bearer(key),
        json={"name": "", "phone": "12345", "contact_type": "BOSS"},
    )
    assert r.status_code == 422
    body = r.json()
    assert r.headers["content-type"] == "application/problem+json"
    assert body["type"] == "urn:warp:problem:validation-error"
    fields = {e["field"] for e in body["errors"]}
    assert fields == {"body.name", "body.phone", "body.contact_type"}
    r = client.get("/v1/accounts/not-a-uuid", headers=bearer(key))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "path.account_id"
    r = client.get("/v1/accounts?limit=0", headers=bearer(key))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "query.limit"


def test_unknown_route_and_method_are_problems(client: TestClient) -> None:
    r = client.get("/v1/nothing-here")
    assert r.status_code == 404 and r.json()["type"] == "urn:warp:problem:not-found"
    r = client.put("/health")
    assert r.status_code == 405 and r.json()["type"] == "urn:warp:problem:method-not-allowed"


def test_cursor_pagination_walks_every_row_once(client: TestClient, world: World) -> None:
    key = world.key(world.acme, ["admin"])
    for i in range(5):
        r = client.post(f"/v1/accounts/{world.acme}/contacts", headers=bearer(key), json={"name": f"c{i}"})
        assert r.status_code == 201, r.text
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        r = client.get(f"/v1/accounts/{world.acme}/contacts", headers=bearer(key), params=params)
        body = r.json()
        assert set(body) == {"data", "next_cursor"}
        seen += [c["name"] for c in body["data"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == [f"c{i}" for i in range(5)] and pages == 3
    r = client.get(f"/v1/accounts/{world.acme}/contacts?cursor=garbage", headers=bearer(key))
    assert r.status_code == 422 and r.json()["type"] == "urn:warp:problem:invalid-cursor"


def test_idempotency_key_replays_and_refuses_reuse(client: TestClient, world: World) -> None:
    key = world.key(world.acme, ["admin"])
    url = f"/v1/accounts/{world.acme}/contacts"
    headers = bearer(key) | {"Idempotency-Key": "abc-123"}
    first = client.post(url, headers=headers, json={"name": "Ops", "contact_type": "NOC"})
    again = client.post(url, headers=headers, json={"name": "Ops", "contact_type": "NOC"})
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    other = client.post(url, headers=headers, json={"name": "Someone else"})
    assert other.status_code == 422 and other.json()["type"] == "urn:warp:problem:idempotency-key-reused"
    listed = client.get(url, headers=bearer(key)).json()["data"]
    assert [c["name"] for c in listed] == ["Ops"]
    # Keys are per account: another tenant using the same key is independent.
    globex = world.key(world.globex, ["admin"])
    r = client.post(
        f"/v1/accounts/{world.globex}/contacts",
        headers=bearer(globex) | {"Idempotency-Key": "abc-123"},
        json={"name": "G"},
    )
    assert r.status_code == 201 and "Idempotent-Replayed" not in r.headers


def test_users_invite_change_role(client: TestClient, world: World) -> None:
    key = world.key(world.acme, ["users:read", "users:write"])
    r = client.post("/v1/users", headers=bearer(key), json={"email": "new@acme.example", "role": "read_only"})
    assert r.status_code == 201, r.text
    user = r.json()
    assert user["status"] == "INVITED" and user["roles"] == ["read_only"]
    r = client.patch(f"/v1/users/{user['id']}", headers=bearer(key), json={"role": "developer"})
    assert r.status_code == 200 and r.json()["roles"] == ["developer"]
    r = client.patch(f"/v1/users/{user['id']}", headers=bearer(key), json={"role": "staff_admin"})
    assert r.status_code == 422
    r = client.post("/v1/users", headers=bearer(key), json={"email": "NEW@acme.example", "role": "read_only"})
    assert r.status_code == 409 and r.json()["type"] == "urn:warp:problem:duplicate-email"
    r = client.post(
        "/v1/users",
        headers=bearer(key),
        json={"email": "pw@acme.example", "role": "read_only", "password": "short"},
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body.password"


def test_patch_account(client: TestClient, world: World) -> None:
    key = world.key(world.acme, ["accounts:read", "accounts:write"])
    r = client.patch(
        f"/v1/accounts/{world.acme}",
        headers=bearer(key),
        json={"legal_name": "Acme LLC", "billing_country": "CA"},
    )
    assert r.status_code == 200 and r.json()["legal_name"] == "Acme LLC"
    r = client.patch(f"/v1/accounts/{world.acme}", headers=bearer(key), json={"status": "CLOSED"})
    assert r.status_code == 422  # customers cannot change their status
    r = client.patch(f"/v1/accounts/{world.acme}", headers=bearer(key), json={"ban": "X"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body.ban"


def test_ready(client: TestClient) -> None:
    r = client.get("/ready")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "ready"
