"""DID configuration through the API: voice routing to a trunk, E911 address, CNAM, messaging, list filters."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from warp_auth_fixtures import World, bearer, client, seeded_url, world  # noqa: F401

NUMS = [f"+1303555{i:04d}" for i in range(3)] + ["+17205550100"]
ADDRESS = {
    "caller_name": "Globex",
    "street": "1700 Lincoln St",
    "city": "Denver",
    "state_code": "CO",
    "postal_code": "80203",
}


def _trunk(w: World, account: Any, name: str) -> str:
    with w.staff() as conn:
        row = conn.execute(
            "INSERT INTO routing.trunks (account_id, name) VALUES (%s, %s) RETURNING id", (account, name)
        ).fetchone()
    assert row is not None
    return str(row["id"])


def test_configure_voice_routing_e911_cnam_and_filter_the_list(client: TestClient, world: World) -> None:  # noqa: F811
    with world.staff() as conn:
        conn.execute(
            "INSERT INTO numbers.inventory (number, npa, nxx) SELECT n, substr(n, 3, 3), substr(n, 6, 3) "
            "FROM unnest(%s::text[]) AS n",
            (NUMS,),
        )
    h = bearer(world.key(world.globex, scopes=["numbers:read", "numbers:write"]))
    own, foreign = _trunk(world, world.globex, "main"), _trunk(world, world.acme, "acme")
    r = client.post("/v1/e911-addresses", json=ADDRESS, headers=h)
    assert r.status_code == 201, r.text
    address = r.json()["id"]
    r = client.post("/v1/number-orders", json={"numbers": NUMS, "e911_address_id": address}, headers=h)
    assert r.status_code == 201 and all(d["voice_enabled"] for d in r.json())

    r = client.patch(f"/v1/dids/{NUMS[0]}", json={"trunk_id": own, "cnam_name": "GLOBEX CORP"}, headers=h)
    assert r.status_code == 200, r.text
    assert (r.json()["trunk_id"], r.json()["cnam_name"], r.json()["e911_address_id"]) == (
        own,
        "GLOBEX CORP",
        address,
    )
    # Another tenant's trunk cannot carry this DID's calls; the DID is unchanged.
    r = client.patch(f"/v1/dids/{NUMS[1]}", json={"trunk_id": foreign}, headers=h)
    assert r.status_code == 422 and "trunk_id" in r.json()["detail"]
    assert client.get(f"/v1/dids/{NUMS[1]}", headers=h).json()["trunk_id"] is None
    # CNAM is at most 15 characters of the allowed set; the error names the field.
    r = client.patch(f"/v1/dids/{NUMS[1]}", json={"cnam_name": "A NAME TOO LONG FOR CNAM"}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body.cnam_name"
    # Removing the address of a voice DID is refused; turning voice off first is fine.
    r = client.patch(f"/v1/dids/{NUMS[2]}", json={"e911_address_id": None}, headers=h)
    assert r.status_code == 409 and r.json()["type"].endswith("e911-address-required")
    r = client.patch(
        f"/v1/dids/{NUMS[2]}",
        json={"voice_enabled": False, "e911_address_id": None, "messaging_enabled": True},
        headers=h,
    )
    assert r.status_code == 200, r.text
    assert (r.json()["voice_enabled"], r.json()["messaging_enabled"]) == (False, True)
    r = client.patch(f"/v1/dids/{NUMS[2]}", json={"number": "+19995550100"}, headers=h)
    assert r.status_code == 422

    def listed(**params: Any) -> list[str]:
        r = client.get("/v1/dids", params=params, headers=h)
        assert r.status_code == 200, r.text
        return sorted(d["number"] for d in r.json()["data"])

    assert listed(trunk_id=own) == [NUMS[0]]
    assert listed(voice_enabled="false") == [NUMS[2]]
    assert listed(messaging_enabled="true") == [NUMS[2]]
    assert listed(number_prefix="+1720") == [NUMS[3]]
    assert listed(number_prefix="+1303", voice_enabled="true") == NUMS[:2]
