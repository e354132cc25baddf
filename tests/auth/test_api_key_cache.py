"""The in-process cache of verified API keys: hits skip the look-up; revocation, expiry, IPs, last use."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import psycopg
import pytest
from fastapi.testclient import TestClient

from warp.api.app import create_app
from warp.auth import api_keys, tokens
from warp.auth.errors import SourceIpNotAllowed
from warp.auth.key_cache import ApiKeyCache, CachedKey
from warp.auth.policy import load_policy
from warp.auth.principal import Principal
from warp_auth_fixtures import TEST_POLICY, World, bearer

TTL = 5


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Prefixes looked up in the database through auth.authenticate_api_key."""
    seen: list[str] = []
    real = api_keys._look_up

    def counting(conn: psycopg.Connection[Any], prefix: str, digest: str, read_at: float) -> CachedKey:
        seen.append(prefix)
        return real(conn, prefix, digest, read_at)

    monkeypatch.setattr(api_keys, "_look_up", counting)
    return seen


def _app(world: World, ttl: float) -> Any:
    policy = dataclasses.replace(TEST_POLICY, api_key_cache_seconds=ttl)
    return create_app(world.url, policy=policy, pool_size=2, request_log=False)


@pytest.fixture
def cached(world: World) -> Iterator[tuple[TestClient, Clock]]:
    clock = Clock()
    with TestClient(_app(world, TTL), client=("198.51.100.7", 40000)) as c:
        c.app.state.warp.key_cache.clock = clock  # type: ignore[attr-defined]
        yield c, clock


def test_a_cached_key_is_not_looked_up_again(
    cached: tuple[TestClient, Clock], world: World, lookups: list[str]
) -> None:
    client, _ = cached
    key = world.key(world.acme, ["accounts:read"])
    for _ in range(3):
        r = client.get("/v1/me", headers=bearer(key))
        assert r.status_code == 200, r.text
        assert r.json()["account_id"] == str(world.acme)
    assert lookups == [tokens.parse_api_key(key)]
    cache = client.app.state.warp.key_cache  # type: ignore[attr-defined]
    assert key not in cache._entries and tokens.sha256_hex(key) in cache._entries


def test_a_wrong_secret_is_never_served_from_the_cache(
    cached: tuple[TestClient, Clock], world: World, lookups: list[str]
) -> None:
    client, _ = cached
    key = world.key(world.acme, ["accounts:read"])
    assert client.get("/v1/me", headers=bearer(key)).status_code == 200
    tampered = key[:-1] + ("A" if key[-1] != "A" else "B")
    assert client.get("/v1/me", headers=bearer(tampered)).status_code == 401
    assert client.get("/v1/me", headers=bearer(tampered)).status_code == 401
    assert len(lookups) == 3  # failures are not cached either


def test_revocation_elsewhere_is_honoured_after_the_ttl(
    cached: tuple[TestClient, Clock], world: World, lookups: list[str]
) -> None:
    client, clock = cached
    key = world.key(world.acme, ["accounts:read"])
    assert client.get("/v1/me", headers=bearer(key)).status_code == 200
    with psycopg.connect(world.url, autocommit=True) as conn:  # another process revokes it
        conn.execute(
            "UPDATE auth.api_keys SET revoked_at = now() WHERE key_prefix = %s", (tokens.parse_api_key(key),)
        )
    clock.now += TTL - 0.5
    assert client.get("/v1/me", headers=bearer(key)).status_code == 200  # the bound: at most TTL seconds
    clock.now += 0.5
    r = client.get("/v1/me", headers=bearer(key))
    assert r.status_code == 401
    assert "revoked" in r.json()["detail"]
    assert len(lookups) == 2


def test_revocation_in_this_process_is_immediate(cached: tuple[TestClient, Clock], world: World) -> None:
    client, _ = cached
    admin = world.key(world.acme, ["api_keys:read", "api_keys:write"])
    r = client.post("/v1/api-keys", headers=bearer(admin), json={"name": "temp", "scopes": ["api_keys:read"]})
    assert r.status_code == 201, r.text
    temp, temp_id = r.json()["key"], r.json()["api_key"]["id"]
    assert client.get("/v1/api-keys", headers=bearer(temp)).status_code == 200
    assert client.delete(f"/v1/api-keys/{temp_id}", headers=bearer(admin)).status_code == 200
    r = client.get("/v1/api-keys", headers=bearer(temp))
    assert r.status_code == 401
    assert "revoked" in r.json()["detail"]


def test_expiry_is_checked_on_every_request(
    cached: tuple[TestClient, Clock], world: World, lookups: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, _ = cached
    key = world.key(world.acme, ["accounts:read"], expires_at=datetime.now(UTC) + timedelta(hours=1))
    assert client.get("/v1/me", headers=bearer(key)).status_code == 200

    class TwoHoursLater(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Any:
            return datetime.now(tz) + timedelta(hours=2)

    monkeypatch.setattr(api_keys, "datetime", TwoHoursLater)
    r = client.get("/v1/me", headers=bearer(key))
    assert r.status_code == 401
    assert "expired" in r.json()["detail"]
    assert len(lookups) == 1  # decided from the cached row


def test_ip_allow_list_is_checked_on_a_cache_hit(world: World) -> None:
    key = world.key(world.acme, ["accounts:read"], allowed_ips=["198.51.100.0/24"])
    cache = ApiKeyCache(TTL)
    with psycopg.connect(world.url) as conn:
        assert api_keys.authenticate_api_key(conn, key, "198.51.100.7", cache).account_id == world.acme
    # From the cache alone (no database): the allow-list still applies.
    hit = api_keys.authenticate_cached_api_key(key, "198.51.100.9", cache)
    assert hit is not None and hit.account_id == world.acme
    with pytest.raises(SourceIpNotAllowed):
        api_keys.authenticate_cached_api_key(key, "203.0.113.9", cache)
    with pytest.raises(SourceIpNotAllowed):
        api_keys.authenticate_cached_api_key(key, None, cache)
    tampered = key[:-1] + ("A" if key[-1] != "A" else "B")
    assert api_keys.authenticate_cached_api_key(tampered, "198.51.100.9", cache) is None


def test_disabled_with_zero(world: World, lookups: list[str]) -> None:
    key = world.key(world.acme, ["accounts:read"])
    with TestClient(_app(world, 0), client=("198.51.100.7", 1234)) as c:
        for _ in range(3):
            assert c.get("/v1/me", headers=bearer(key)).status_code == 200
        assert len(c.app.state.warp.key_cache) == 0  # type: ignore[attr-defined]
    assert len(lookups) == 3


def test_last_used_is_recorded_once_a_minute_with_the_cache(
    cached: tuple[TestClient, Clock], world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, _ = cached
    key = world.key(world.acme, ["accounts:read"])
    touched: list[object] = []
    real = api_keys.touch_last_used

    def counting(conn: psycopg.Connection[Any], key_id: Any) -> None:
        touched.append(key_id)
        real(conn, key_id)

    monkeypatch.setattr(api_keys, "touch_last_used", counting)
    for _ in range(4):
        assert client.get("/v1/me", headers=bearer(key)).status_code == 200
    assert len(touched) == 1
    with psycopg.connect(world.url) as conn:
        row = conn.execute(
            "SELECT last_used_at FROM auth.api_keys WHERE key_prefix = %s", (tokens.parse_api_key(key),)
        ).fetchone()
    assert row is not None and row[0] is not None


def _entry(key_id: Any, read_at: float) -> CachedKey:
    principal = Principal(
        kind="API_KEY", actor_id=key_id, account_id=None, permissions=frozenset(), api_key_id=key_id
    )
    return CachedKey(
        principal=principal, expires_at=None, allowed_ips=None, last_used_at=None, cached_at=read_at
    )


def test_cache_is_bounded_and_expires_entries() -> None:
    clock = Clock()
    cache = ApiKeyCache(TTL, max_entries=3, clock=clock)
    for n in range(5):
        cache.put(f"d{n}", _entry(uuid4(), clock.now))
    assert len(cache) == 3 and cache.get("d0") is None and cache.get("d4") is not None
    clock.now += TTL
    assert cache.get("d4") is None


def test_a_revoked_key_is_not_cached_again_by_a_racing_request() -> None:
    clock = Clock()
    cache = ApiKeyCache(TTL, clock=clock)
    key_id = uuid4()
    read_before_revoke = clock.now
    cache.put("d", _entry(key_id, read_before_revoke))
    clock.now += 1
    cache.drop_key(key_id)
    assert cache.get("d") is None
    cache.put("d", _entry(key_id, read_before_revoke))  # a look-up that raced the revocation
    assert cache.get("d") is None
    clock.now += TTL
    cache.put("d", _entry(key_id, clock.now))
    assert cache.get("d") is not None


def test_load_policy_reads_the_ttl() -> None:
    assert load_policy({}).api_key_cache_seconds == 5
    assert load_policy({"WARP_AUTH_CACHE_SECONDS": "0"}).api_key_cache_seconds == 0
    assert ApiKeyCache(0).enabled is False
