"""GET /v1/me and the chassis basics through it."""

from __future__ import annotations

from fastapi.testclient import TestClient

from warp_auth_fixtures import World, bearer


def test_me_with_api_key(client: TestClient, world: World) -> None:
    key = world.key(world.acme, ["numbers:read", "accounts:read"], name="ci")
    r = client.get("/v1/me", headers=bearer(key))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["kind"] == "API_KEY"
    assert body["account_id"] == str(world.acme)
    assert body["account"]["ban"] == "ACME"
    assert body["scopes"] == ["accounts:read", "numbers:read"]
    assert r.headers["RateLimit-Limit"]
    assert r.headers["x-request-id"]


def test_missing_and_bad_credentials_are_401_problems(client: TestClient) -> None:
    for headers in ({}, bearer("warp_abcd1234_" + "x" * 40), bearer("nonsense-token-value-123")):
        r = client.get("/v1/me", headers=headers)
        assert r.status_code == 401
        assert r.headers["content-type"] == "application/problem+json"
        body = r.json()
        assert body["type"].startswith("urn:warp:problem:")
        assert body["status"] == 401
        assert "select" not in r.text.lower()
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
