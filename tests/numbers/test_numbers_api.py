"""The numbers API: search, reserve, order, configure, release, port requests; tenant isolation."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from warp_auth_fixtures import World, bearer, client, seeded_url, world  # noqa: F401

NUMS = [f"+1303555{i:04d}" for i in range(6)] + ["+14155550100", "+18335550100"]


@pytest.fixture
def loaded(world: World) -> World:  # noqa: F811
    with world.staff() as conn:
        conn.execute(
            "INSERT INTO numbers.inventory (number, number_type, npa, nxx, state, rate_center, lata) "
            "SELECT n, CASE WHEN n LIKE '+1833%%' THEN 'TOLL_FREE' ELSE 'DID' END, substr(n, 3, 3), "
            "substr(n, 6, 3), CASE WHEN n LIKE '+1415%%' THEN 'CA' ELSE 'CO' END, 'X', '656' "
            "FROM unnest(%s::text[]) AS n",
            (NUMS,),
        )
    return world


def _h(w: World, account: Any) -> dict[str, str]:
    return bearer(w.key(account, scopes=["numbers:read", "numbers:write"]))


def test_search_reserve_order_configure_release(client: TestClient, loaded: World) -> None:  # noqa: F811
    acme, globex = _h(loaded, loaded.globex), _h(loaded, loaded.acme_child)
    r = client.get("/v1/available-numbers", params={"npa": "303", "contains": "55*00*"}, headers=acme)
    assert r.status_code == 200, r.text
    assert [n["number"] for n in r.json()] == NUMS[:6]
    r = client.get("/v1/available-numbers", params={"state": "CA"}, headers=acme)
    assert [n["number"] for n in r.json()] == ["+14155550100"]
    r = client.get("/v1/available-numbers", params={"number_type": "TOLL_FREE"}, headers=acme)
    assert [n["number"] for n in r.json()] == ["+18335550100"]
    assert client.get("/v1/available-numbers", params={"contains": "12a"}, headers=acme).status_code == 422
    # A pattern no index can serve must be narrowed by area; the error says how.
    r = client.get("/v1/available-numbers", params={"contains": "5*5*0"}, headers=acme)
    assert r.status_code == 422 and "3 consecutive digits" in r.text and "npa" in r.text
    r = client.get("/v1/available-numbers", params={"npa": "303", "contains": "5*5*0"}, headers=acme)
    assert r.status_code == 200, r.text

    r = client.post("/v1/number-reservations", json={"numbers": NUMS[:2]}, headers=acme)
    assert r.status_code == 201, r.text
    r = client.post("/v1/number-reservations", json={"numbers": NUMS[1:3]}, headers=globex)
    assert r.status_code == 409
    assert r.json()["type"].endswith("numbers-not-available")
    r = client.post("/v1/number-reservations", json={"filter": {"npa": "303"}, "quantity": 2}, headers=globex)
    assert r.status_code == 201, r.text
    assert [x["number"] for x in r.json()] == NUMS[2:4]

    r = client.post("/v1/number-orders", json={"numbers": NUMS[:2]}, headers=acme)
    assert r.status_code == 201, r.text
    r = client.get("/v1/dids", params={"limit": 1}, headers=acme)
    body = r.json()
    assert len(body["data"]) == 1 and body["next_cursor"]
    r = client.get("/v1/dids", params={"limit": 1, "cursor": body["next_cursor"]}, headers=acme)
    assert len(r.json()["data"]) == 1 and r.json()["next_cursor"] is None
    assert sorted([body["data"][0]["number"], r.json()["data"][0]["number"]]) == NUMS[:2]

    # Another tenant's DID does not exist for it.
    assert client.get(f"/v1/dids/{NUMS[0]}", headers=globex).status_code == 404
    assert client.patch(f"/v1/dids/{NUMS[0]}", json={"cnam_name": "X"}, headers=globex).status_code == 404
    assert client.delete(f"/v1/dids/{NUMS[0]}", headers=globex).status_code == 404
    assert client.get("/v1/dids", headers=globex).json()["data"] == []

    r = client.patch(f"/v1/dids/{NUMS[0]}", json={"voice_enabled": True}, headers=acme)
    assert r.status_code == 409 and r.json()["type"].endswith("e911-address-required")
    r = client.patch(
        f"/v1/dids/{NUMS[0]}",
        json={"voice_enabled": True, "e911_exempt_reason": "Fax line", "cnam_name": "GLOBEX"},
        headers=acme,
    )
    assert r.status_code == 200, r.text
    assert r.json()["voice_enabled"] and r.json()["cnam_name"] == "GLOBEX"
    assert client.delete(f"/v1/dids/{NUMS[0]}", headers=acme).status_code == 204
    assert client.get(f"/v1/dids/{NUMS[0]}", headers=acme).status_code == 404


def test_port_requests_api(client: TestClient, loaded: World) -> None:  # noqa: F811
    h, other = _h(loaded, loaded.globex), _h(loaded, loaded.acme_child)
    r = client.post(
        "/v1/port-requests",
        json={
            "numbers": ["+13125550100"],
            "losing_carrier_name": "Old Telco",
            "authorized_name": "Pat Doe",
            "pin": "987654",
        },
        headers=h,
    )
    assert r.status_code == 201, r.text
    req = r.json()
    assert req["status"] == "PENDING" and req["has_pin"] and "987654" not in r.text
    with loaded.staff() as conn:
        stored = conn.execute("SELECT pin_secret_ref FROM numbers.port_requests").fetchone()
    assert stored is not None and "987654" not in stored["pin_secret_ref"]
    assert client.get(f"/v1/port-requests/{req['id']}", headers=other).status_code == 404
    assert client.post(f"/v1/port-requests/{req['id']}/actions/submit", headers=other).status_code == 404
    r = client.post(f"/v1/port-requests/{req['id']}/actions/submit", headers=h)
    assert r.status_code == 200 and r.json()["status"] == "SUBMITTED"
    assert client.post(f"/v1/port-requests/{req['id']}/actions/complete", headers=h).status_code == 422
    r = client.post(f"/v1/port-requests/{req['id']}/actions/cancel", headers=h)
    assert r.json()["status"] == "CANCELLED"
    assert client.post(f"/v1/port-requests/{req['id']}/actions/submit", headers=h).status_code == 409
    assert [p["id"] for p in client.get("/v1/port-requests", headers=h).json()["data"]] == [req["id"]]
