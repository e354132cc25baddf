"""`Idempotency-Key` on POST /v1/number-orders (charges) and POST /v1/port-requests."""

from __future__ import annotations

from fastapi.testclient import TestClient

from warp_auth_fixtures import World, bearer, client, seeded_url, world  # noqa: F401

NUMS = ["+13035550100", "+13035550101", "+13035550102"]


def test_order_retry_replays_and_charges_once(client: TestClient, world: World) -> None:  # noqa: F811
    with world.staff() as conn:
        conn.execute(
            "INSERT INTO numbers.inventory (number, npa, nxx) SELECT n, '303', '555' FROM unnest(%s::text[]) AS n",
            (NUMS,),
        )
    h = bearer(world.key(world.globex, scopes=["numbers:read", "numbers:write"]))
    order = {"numbers": NUMS[:2]}
    first = client.post("/v1/number-orders", json=order, headers=h | {"Idempotency-Key": "order-1"})
    assert first.status_code == 201, first.text
    again = client.post("/v1/number-orders", json=order, headers=h | {"Idempotency-Key": "order-1"})
    assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == first.json()
    # Without the key a retry is a new order: the numbers are taken (by this very account).
    assert client.post("/v1/number-orders", json=order, headers=h).status_code == 409
    # The same key for another order is refused, and orders nothing.
    r = client.post(
        "/v1/number-orders", json={"numbers": NUMS[2:]}, headers=h | {"Idempotency-Key": "order-1"}
    )
    assert r.status_code == 422 and r.json()["type"].endswith("idempotency-key-reused")
    with world.staff() as conn:
        rows = conn.execute(
            "SELECT number FROM numbers.did_assignments WHERE account_id = %s ORDER BY number",
            (world.globex,),
        ).fetchall()
    assert [r["number"] for r in rows] == NUMS[:2]
    # A failed order leaves its key unused: after fixing the cause, the same key works.
    bad = {"numbers": [NUMS[2], "+13035550199"]}
    r = client.post("/v1/number-orders", json=bad, headers=h | {"Idempotency-Key": "order-2"})
    assert r.status_code == 404
    r = client.post(
        "/v1/number-orders", json={"numbers": NUMS[2:]}, headers=h | {"Idempotency-Key": "order-2"}
    )
    assert r.status_code == 201 and [d["number"] for d in r.json()] == NUMS[2:]


def test_port_request_retry_does_not_create_a_second_request(client: TestClient, world: World) -> None:  # noqa: F811
    h = bearer(world.key(world.globex, scopes=["numbers:read", "numbers:write"]))
    body = {
        "numbers": ["+13125550100"],
        "losing_carrier_name": "Old",
        "authorized_name": "Pat",
        "pin": "9876",
    }
    first = client.post("/v1/port-requests", json=body, headers=h | {"Idempotency-Key": "port-1"})
    assert first.status_code == 201, first.text
    again = client.post("/v1/port-requests", json=body, headers=h | {"Idempotency-Key": "port-1"})
    assert again.status_code == 201 and again.json()["id"] == first.json()["id"]
    assert client.get("/v1/port-requests", headers=h).json()["data"] == [first.json()]
    # Another tenant's identical key is its own.
    other = bearer(world.key(world.acme, scopes=["numbers:read", "numbers:write"]))
    r = client.post("/v1/port-requests", json=body, headers=other | {"Idempotency-Key": "port-1"})
    assert r.status_code == 201 and r.json()["id"] != first.json()["id"]
    # The stored replay holds no PIN in clear.
    with world.staff() as conn:
        hits = conn.execute(
            "SELECT count(*) AS n FROM auth.idempotency_keys WHERE response_body::text LIKE '%9876%'"
        ).fetchone()
    assert hits == {"n": 0}
