"""Staff-only porting transitions, E911 address API, staff aging on release, reservations list."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from warp_auth_fixtures import World, bearer, client, seeded_url, world  # noqa: F401

ADDRESS = {
    "caller_name": "Globex Corp",
    "street": "1700 Lincoln St",
    "unit": "Suite 1200",
    "city": "Denver",
    "state_code": "co",
    "postal_code": "80203",
}


def _h(w: World, account: Any) -> dict[str, str]:
    return bearer(w.key(account, scopes=["numbers:read", "numbers:write"]))


def _staff(client: TestClient, w: World) -> dict[str, str]:  # noqa: F811
    w.user(None, "ops@warp.example", role="staff_admin")
    r = client.post(
        "/v1/auth/login", json={"email": "ops@warp.example", "password": "correct horse battery staple"}
    )
    assert r.status_code == 200, r.text
    return bearer(r.json()["token"])


@pytest.fixture
def port_id(client: TestClient, world: World) -> str:  # noqa: F811
    h = _h(world, world.globex)
    r = client.post(
        "/v1/port-requests",
        json={
            "numbers": ["+13125550100", "+13125550101"],
            "losing_carrier_name": "Old",
            "authorized_name": "Pat",
        },
        headers=h,
    )
    assert r.status_code == 201, r.text
    rid: str = r.json()["id"]
    assert client.post(f"/v1/port-requests/{rid}/actions/submit", headers=h).status_code == 200
    return rid


def test_staff_port_transitions_and_customers_refused(
    client: TestClient,  # noqa: F811
    world: World,  # noqa: F811
    port_id: str,
) -> None:
    h = _h(world, world.globex)
    url = f"/v1/admin/port-requests/{port_id}/actions"
    # A customer key cannot use the admin API, not even on its own request.
    assert client.post(f"{url}/foc", json={"foc_date": "2026-12-05"}, headers=h).status_code == 403
    staff = _staff(client, world)
    r = client.post(f"{url}/foc", headers=staff)
    assert r.status_code == 422 and "foc_date" in r.json()["detail"]
    r = client.post(f"{url}/foc", json={"foc_date": "2026-12-05"}, headers=staff)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "FOC_RECEIVED" and r.json()["foc_date"] == "2026-12-05"
    assert client.post(f"{url}/submit", headers=staff).status_code == 422  # not an admin action
    r = client.post(f"{url}/complete", headers=staff)
    assert r.status_code == 200 and r.json()["status"] == "COMPLETED"
    # The ported numbers are the customer's DIDs now; completion cannot be repeated.
    assert client.get("/v1/dids/+13125550100", headers=h).status_code == 200
    assert client.post(f"{url}/reject", json={"rejection_code": "X"}, headers=staff).status_code == 409


def test_staff_reject_needs_a_code(client: TestClient, world: World, port_id: str) -> None:  # noqa: F811
    staff = _staff(client, world)
    url = f"/v1/admin/port-requests/{port_id}/actions/reject"
    assert client.post(url, json={"rejection_reason": "name mismatch"}, headers=staff).status_code == 422
    r = client.post(url, json={"rejection_code": "6P", "rejection_reason": "name mismatch"}, headers=staff)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["status"], body["rejection_code"], body["rejection_reason"]) == (
        "REJECTED",
        "6P",
        "name mismatch",
    )
    r = client.get(f"/v1/port-requests/{port_id}", headers=_h(world, world.globex))
    assert r.json()["status"] == "REJECTED"


def test_e911_address_api_field_errors_and_isolation(client: TestClient, world: World) -> None:  # noqa: F811
    h, other = _h(world, world.globex), _h(world, world.acme_child)
    r = client.post(
        "/v1/e911-addresses", json={**ADDRESS, "state_code": "XX", "postal_code": "8020"}, headers=h
    )
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["errors"]}
    assert fields == {"state_code", "postal_code"}
    r = client.post("/v1/e911-addresses", json=ADDRESS, headers=h)
    assert r.status_code == 201, r.text
    addr = r.json()
    assert (addr["state_code"], addr["validation_status"], addr["account_id"]) == (
        "CO",
        "VALID",
        str(world.globex),
    )
    assert client.get(f"/v1/e911-addresses/{addr['id']}", headers=h).json() == addr
    assert [a["id"] for a in client.get("/v1/e911-addresses", headers=h).json()["data"]] == [addr["id"]]
    # Another tenant: not found, not listed, cannot attach it to its DIDs.
    assert client.get(f"/v1/e911-addresses/{addr['id']}", headers=other).status_code == 404
    assert client.get("/v1/e911-addresses", headers=other).json()["data"] == []
    with world.staff() as conn:
        conn.execute(
            "INSERT INTO numbers.inventory (number, npa, nxx) VALUES ('+13035550100', '303', '555'), "
            "('+13035550101', '303', '555')"
        )
    assert (
        client.post("/v1/number-orders", json={"numbers": ["+13035550100"]}, headers=other).status_code == 201
    )
    r = client.patch("/v1/dids/+13035550100", json={"e911_address_id": addr["id"]}, headers=other)
    assert r.status_code == 404
    # The owner orders with its address: the DID is voice-enabled and compliant.
    r = client.post(
        "/v1/number-orders", json={"numbers": ["+13035550101"], "e911_address_id": addr["id"]}, headers=h
    )
    assert r.status_code == 201 and r.json()[0]["voice_enabled"]


def test_release_aging_is_staff_only_and_reservations_are_private(
    client: TestClient,  # noqa: F811
    world: World,  # noqa: F811
) -> None:
    h, other = _h(world, world.globex), _h(world, world.acme_child)
    with world.staff() as conn:
        conn.execute(
            "INSERT INTO numbers.inventory (number, npa, nxx) SELECT '+1303555010' || g, '303', '555' "
            "FROM generate_series(0, 3) g"
        )
    assert (
        client.post("/v1/number-reservations", json={"numbers": ["+13035550102"]}, headers=other).status_code
        == 201
    )
    assert (
        client.post(
            "/v1/number-orders", json={"numbers": ["+13035550100", "+13035550101"]}, headers=h
        ).status_code
        == 201
    )
    assert client.get("/v1/number-reservations", headers=h).json() == []
    mine = client.get("/v1/number-reservations", headers=other).json()
    assert [(r["number"], r["account_id"]) for r in mine] == [("+13035550102", str(world.acme_child))]

    r = client.delete("/v1/dids/+13035550100", params={"aging_days": 0}, headers=h)
    assert r.status_code == 403
    assert client.get("/v1/dids/+13035550100", headers=h).status_code == 200  # nothing happened
    assert client.delete("/v1/dids/+13035550100", headers=h).status_code == 204
    staff = _staff(client, world)
    assert client.delete("/v1/dids/+13035550101", params={"aging_days": 0}, headers=staff).status_code == 204
    with world.staff() as conn:
        rows = conn.execute(
            "SELECT number, status, round(extract(epoch FROM aging_expires_at - now()) / 86400) AS days "
            "FROM numbers.inventory WHERE number IN ('+13035550100', '+13035550101') ORDER BY number"
        ).fetchall()
    assert [(r["number"], r["status"], int(r["days"])) for r in rows] == [
        ("+13035550100", "AGING", 90),
        ("+13035550101", "AGING", 0),
    ]
