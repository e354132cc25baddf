"""API keys through the API: format and storage, expiry, revocation, scopes, IP allow-list, last use."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from warp.api.app import create_app
from warp.auth import tokens
from warp.cli.main import app as cli
from warp_auth_fixtures import TEST_POLICY, World, bearer


def test_key_is_stored_as_prefix_and_sha256_only(world: World) -> None:
    key = world.key(world.acme, ["numbers:read"])
    prefix = tokens.parse_api_key(key)
    assert prefix and key.startswith(f"warp_{prefix}_")
    with psycopg.connect(world.url) as conn:
        row = conn.execute(
            "SELECT key_prefix, key_hash FROM auth.api_keys WHERE key_prefix = %s", (prefix,)
        ).fetchone()
    assert row == (prefix, tokens.sha256_hex(key))


def test_tampered_secret_with_a_real_prefix_is_401(client: TestClient, world: World) -> None:
    key = world.key(world.acme, ["numbers:read"])
    tampered = key[:-1] + ("A" if key[-1] != "A" else "B")
    assert client.get("/v1/me", headers=bearer(tampered)).status_code == 401


def test_expired_key_is_401(client: TestClient, world: World) -> None:
    key = world.key(world.acme, ["numbers:read"], expires_at=datetime.now(UTC) + timedelta(hours=1))
    assert client.get("/v1/me", headers=bearer(key)).status_code == 200
    with psycopg.connect(world.url, autocommit=True) as conn:
        conn.execute("UPDATE auth.api_keys SET expires_at = now() - interval '1 second'")
    r = client.get("/v1/me", headers=bearer(key))
    assert r.status_code == 401
    assert r.json()["type"] == "urn:warp:problem:unauthenticated"
    assert "expired" in r.json()["detail"]


def test_revoked_key_stops_working_at_once(client: TestClient, world: World) -> None:
    admin = world.key(world.acme, ["api_keys:read", "api_keys:write"])
    r = client.post("/v1/api-keys", headers=bearer(admin), json={"name": "temp", "scopes": ["api_keys:read"]})
    assert r.status_code == 201, r.text
    created = r.json()
    temp = created["key"]
    assert created["api_key"]["scopes"] == ["api_keys:read"]
    assert client.get("/v1/api-keys", headers=bearer(temp)).status_code == 200
    assert client.delete(f"/v1/api-keys/{created['api_key']['id']}", headers=bearer(admin)).status_code == 200
    r = client.get("/v1/api-keys", headers=bearer(temp))
    assert r.status_code == 401
    assert "revoked" in r.json()["detail"]


def test_wrong_scope_is_403_and_scopes_cannot_escalate(client: TestClient, world: World) -> None:
    key = world.key(world.acme, ["numbers:read", "api_keys:write"])
    r = client.get(f"/v1/accounts/{world.acme}", headers=bearer(key))
    assert r.status_code == 403
    assert r.json()["type"] == "urn:warp:problem:insufficient-scope"
    assert "accounts:read" in r.json()["detail"]
    r = client.post("/v1/api-keys", headers=bearer(key), json={"scopes": ["admin"]})
    assert r.status_code == 422
    assert r.json()["type"] == "urn:warp:problem:invalid-scope"


def test_admin_scope_implies_customer_permissions_not_staff(client: TestClient, world: World) -> None:
    key = world.key(world.acme, ["admin"])
    assert client.get(f"/v1/accounts/{world.acme}", headers=bearer(key)).status_code == 200
    r = client.put(
        f"/v1/accounts/{world.acme}/feature-flags/beta", headers=bearer(key), json={"enabled": True}
    )
    assert r.status_code == 403


def test_ip_allow_list(world: World) -> None:
    inside = world.key(world.acme, ["accounts:read"], allowed_ips=["198.51.100.0/24", "2001:db8::1"])
    outside = world.key(world.acme, ["accounts:read"], allowed_ips=["203.0.113.9"])
    app = create_app(world.url, policy=TEST_POLICY, pool_size=2, request_log=False)
    with TestClient(app, client=("198.51.100.7", 1234)) as c:
        assert c.get("/v1/me", headers=bearer(inside)).status_code == 200
        r = c.get("/v1/me", headers=bearer(outside))
        assert r.status_code == 403
        assert r.json()["type"] == "urn:warp:problem:ip-not-allowed"
    with TestClient(app, client=("2001:db8::1", 1234)) as c:
        assert c.get("/v1/me", headers=bearer(inside)).status_code == 200


def test_last_used_at_is_written_at_most_once_a_minute(client: TestClient, world: World) -> None:
    key = world.key(world.acme, ["accounts:read"])
    prefix = tokens.parse_api_key(key)

    assert world.key_last_used(prefix) is None
    client.get("/v1/me", headers=bearer(key))
    first = world.key_last_used(prefix)
    assert first is not None
    for _ in range(3):
        client.get("/v1/me", headers=bearer(key))
    assert world.key_last_used(prefix) == first
    with psycopg.connect(world.url, autocommit=True) as conn:
        conn.execute(
            "UPDATE auth.api_keys SET last_used_at = now() - interval '2 minutes' WHERE key_prefix = %s",
            (prefix,),
        )
    client.get("/v1/me", headers=bearer(key))
    assert world.key_last_used(prefix) > first


def test_cli_create_list_revoke(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARP_DATABASE_URL", world.url)
    runner = CliRunner()
    r = runner.invoke(cli, ["api-keys", "create", "--account", "GLOBEX", "--name", "ci", "--json"])
    assert r.exit_code == 0, r.output
    created = json.loads(r.stdout)
    assert set(created) == {"key", "id", "prefix", "scopes"}
    assert "admin" in created["scopes"] and "staff:read" not in created["scopes"]
    assert created["key"].startswith(f"warp_{created['prefix']}_")
    r = runner.invoke(
        cli, ["api-keys", "create", "--account", "GLOBEX", "--scopes", "cdr:read,numbers:read", "--json"]
    )
    assert json.loads(r.stdout)["scopes"] == ["cdr:read", "numbers:read"]
    r = runner.invoke(cli, ["api-keys", "list", "--account", "GLOBEX", "--json"])
    listed = json.loads(r.stdout)
    assert len(listed) == 2
    assert created["key"] not in r.stdout
    r = runner.invoke(cli, ["api-keys", "revoke", created["prefix"], "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["revoked_at"]
    r = runner.invoke(cli, ["api-keys", "create", "--account", "GLOBEX", "--scopes", "staff:write"])
    assert r.exit_code != 0
