"""The `features` filter of the number search, over GET /v1/available-numbers and reservations by filter."""

from __future__ import annotations

from fastapi.testclient import TestClient

from warp_auth_fixtures import World, bearer, client, seeded_url, world  # noqa: F401

NUMS = [f"+1303555{i:04d}" for i in range(6)]


def test_features_filter_search_and_reserve(client: TestClient, world: World) -> None:  # noqa: F811
    with world.staff() as conn:
        conn.execute(
            "INSERT INTO numbers.inventory (number, npa, nxx, features) SELECT n, '303', '555', "
            "CASE WHEN right(n, 1)::int %% 2 = 1 THEN '{VOICE,SMS,MMS}'::text[] ELSE '{VOICE}'::text[] END "
            "FROM unnest(%s::text[]) AS n",
            (NUMS,),
        )
    h = bearer(world.key(world.globex, scopes=["numbers:read", "numbers:write"]))
    r = client.get("/v1/available-numbers", params={"npa": "303", "features": "mms"}, headers=h)
    assert r.status_code == 200, r.text
    assert [n["number"] for n in r.json()] == NUMS[1::2]
    r = client.get("/v1/available-numbers", params=[("features", "SMS"), ("features", "MMS")], headers=h)
    assert [n["number"] for n in r.json()] == NUMS[1::2]
    assert len(client.get("/v1/available-numbers", params={"features": "VOICE"}, headers=h).json()) == 6
    r = client.get("/v1/available-numbers", params={"features": "TELEX"}, headers=h)
    assert r.status_code == 422 and "features" in r.json()["detail"] and "TELEX" in r.json()["detail"]

    r = client.post(
        "/v1/number-reservations",
        json={"filter": {"npa": "303", "features": ["mms"]}, "quantity": 2},
        headers=h,
    )
    assert r.status_code == 201, r.text
    assert [x["number"] for x in r.json()] == NUMS[1:4:2]
    r = client.post(
        "/v1/number-reservations", json={"filter": {"features": ["MMS"]}, "quantity": 2}, headers=h
    )
    assert r.status_code == 409 and "only 1" in r.json()["detail"]
    r = client.post(
        "/v1/number-reservations", json={"filter": {"features": ["TELEX"]}, "quantity": 1}, headers=h
    )
    assert r.status_code == 422 and "features" in r.text
