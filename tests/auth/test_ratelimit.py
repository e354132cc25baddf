"""Rate limits: per key from its row, per IP for login; 429 with Retry-After and RateLimit headers."""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient
from limits.storage import MemoryStorage

from warp.auth.errors import RateLimited
from warp.auth.ratelimit import LocalStorage, RateLimiter
from warp_auth_fixtures import TEST_POLICY, World, bearer


def test_key_limit_gives_429_with_retry_after(client: TestClient, world: World) -> None:
    key = world.key(world.acme, ["accounts:read"], rate_limits=(1000, 3, None))
    other = world.key(world.acme, ["accounts:read"])
    remaining = [client.get("/v1/me", headers=bearer(key)).headers["RateLimit-Remaining"] for _ in range(3)]
    assert remaining == ["2", "1", "0"]
    r = client.get("/v1/me", headers=bearer(key))
    assert r.status_code == 429
    assert r.headers["content-type"] == "application/problem+json"
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    assert r.headers["RateLimit-Limit"] == "3" and r.headers["RateLimit-Remaining"] == "0"
    assert r.json()["type"] == "urn:warp:problem:rate-limited"
    assert client.get("/v1/me", headers=bearer(other)).status_code == 200  # limits are per key


def test_login_is_limited_per_ip(client: TestClient) -> None:
    codes = [
        client.post("/v1/auth/login", json={"email": "x@y.example", "password": "nope"}).status_code
        for _ in range(TEST_POLICY.login_per_minute_per_ip + 1)
    ]
    assert codes[:-1] == [401] * TEST_POLICY.login_per_minute_per_ip
    assert codes[-1] == 429


def test_limiter_shares_counters_through_its_storage() -> None:
    storage = MemoryStorage()
    a, b = RateLimiter(TEST_POLICY, storage), RateLimiter(TEST_POLICY, storage)
    a.hit("key:1", (2, None, None))
    b.hit("key:1", (2, None, None))
    try:
        a.hit("key:1", (2, None, None))
    except RateLimited as exc:
        assert exc.retry_after >= 1 and exc.limit == 2
    else:
        raise AssertionError("third hit in the same second should be limited")


def test_local_storage_counts_per_window_and_expires_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr("warp.auth.ratelimit.time.time", lambda: clock[0])
    storage = LocalStorage(sweep_seconds=60)
    assert [storage.incr("k", 10) for _ in range(3)] == [1, 2, 3]
    assert storage.get("k") == 3 and storage.get_expiry("k") == 1010.0
    assert storage.incr("other", 10, amount=5) == 5
    clock[0] = 1010.0  # the window has ended: the counter restarts, its expiry moves on
    assert storage.get("k") == 0
    assert storage.incr("k", 10) == 1 and storage.get_expiry("k") == 1020.0
    clock[0] = 1061.0  # past the sweep time: every expired counter is dropped on the next write
    storage.incr("new", 1)
    assert len(storage) == 1
    storage.clear("new")
    assert storage.get("new") == 0 and storage.reset() == 0


def test_local_storage_is_exact_across_threads() -> None:
    before = set(threading.enumerate())
    storage = LocalStorage()
    limiter = RateLimiter(TEST_POLICY, storage)

    def hammer() -> None:
        for _ in range(500):
            storage.incr("shared", 60)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert storage.get("shared") == 4000
    assert limiter.hit("key:2", (3, None, None)).remaining == 2
    assert set(threading.enumerate()) <= before  # no timer thread started or left behind


def test_api_uses_the_local_storage_without_redis(client: TestClient) -> None:
    assert isinstance(client.app.state.warp.limiter.storage, LocalStorage)  # type: ignore[attr-defined]
