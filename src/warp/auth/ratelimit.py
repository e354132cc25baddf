"""Rate limiting with the ``limits`` library: in memory, or Redis when WARP_REDIS_URL is set."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

from limits import RateLimitItem, RateLimitItemPerHour, RateLimitItemPerMinute, RateLimitItemPerSecond
from limits.storage import Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter

from warp.auth.errors import RateLimited
from warp.auth.policy import AuthPolicy
from warp.errors import ConfigError


@dataclass(frozen=True)
class Quota:
    """What is left of the tightest window after a request (for the RateLimit headers)."""

    limit: int
    remaining: int
    reset_after: int

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_after),
        }


class LocalStorage(Storage):
    """In-process fixed-window counters for ``limits`` (the default when no Redis is configured).

    Written here rather than using ``limits.storage.MemoryStorage`` because that one expires keys
    from a ``threading.Timer`` it re-creates 10 ms after activity: under load the API started ~100
    threads a second, and each ``Thread.start`` blocks the event loop until the new thread runs
    (measured with py-spy on ``bench/api_me.py``). Here a counter expires when it is read after
    its window, and expired counters are swept at most every ``sweep_seconds`` so memory stays
    bounded by the identities seen in the last window. One lock: counts are exact across threads.
    """

    def __init__(self, sweep_seconds: float = 30.0) -> None:
        super().__init__()
        self._counts: dict[str, tuple[float, int]] = {}  # key -> (expires at, count)
        self._lock = threading.Lock()
        self._sweep_seconds = sweep_seconds
        self._next_sweep = time.time() + sweep_seconds

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return ValueError

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        return self.incr_at(key, expiry, time.time(), amount)[0]

    def incr_at(self, key: str, expiry: int, now: float, amount: int = 1) -> tuple[int, float]:
        """Count ``amount`` in ``key``'s window as of ``now``: (the count, when the window ends)."""
        with self._lock:
            if now >= self._next_sweep:
                self._sweep(now)
            entry = self._counts.get(key)
            if entry is None or entry[0] <= now:
                entry = (now + expiry, amount)
            else:
                entry = (entry[0], entry[1] + amount)
            self._counts[key] = entry
            return entry[1], entry[0]

    def get(self, key: str) -> int:
        entry = self._counts.get(key)
        return entry[1] if entry is not None and entry[0] > time.time() else 0

    def get_expiry(self, key: str) -> float:
        entry = self._counts.get(key)
        now = time.time()
        return entry[0] if entry is not None and entry[0] > now else now

    def check(self) -> bool:
        return True

    def reset(self) -> int | None:
        with self._lock:
            count = len(self._counts)
            self._counts.clear()
        return count

    def clear(self, key: str) -> None:
        with self._lock:
            self._counts.pop(key, None)

    def _sweep(self, now: float) -> None:
        self._counts = {key: entry for key, entry in self._counts.items() if entry[0] > now}
        self._next_sweep = now + self._sweep_seconds

    def __len__(self) -> int:
        return len(self._counts)


def _sync_storage(url: str) -> Storage:
    storage = storage_from_string(url)
    if not isinstance(storage, Storage):
        raise ConfigError(f"WARP_REDIS_URL: {url!r} names an asynchronous storage")
    return storage


class RateLimiter:
    """Fixed-window counters per identity (API key, user, or IP for login)."""

    def __init__(self, policy: AuthPolicy, storage: Storage | None = None) -> None:
        self.policy = policy
        if storage is None:
            storage = _sync_storage(policy.redis_url) if policy.redis_url else LocalStorage()
        self.storage = storage
        self._limiter = FixedWindowRateLimiter(storage)

    def _windows(self, limits: tuple[int | None, int | None, int | None]) -> tuple[_Window, ...]:
        per_s, per_m, per_h = limits
        return (
            _Window(per_s or self.policy.rate_per_second, 1, "second"),
            _Window(per_m or self.policy.rate_per_minute, 60, "minute"),
            _Window(per_h or self.policy.rate_per_hour, 3600, "hour"),
        )

    def hit(
        self, identity: str, limits: tuple[int | None, int | None, int | None] = (None, None, None)
    ) -> Quota:
        """Count one request for ``identity``; raise RateLimited when any window is exhausted."""
        return self._hit(identity, self._windows(limits))

    def hit_login(self, client_ip: str) -> Quota:
        """Count one login attempt from ``client_ip``."""
        return self._hit(f"login:{client_ip}", (_Window(self.policy.login_per_minute_per_ip, 60, "minute"),))

    def _hit(self, identity: str, windows: tuple[_Window, ...]) -> Quota:
        """Count the request in every window (fixed windows, as ``limits`` counts them)."""
        best: Quota | None = None
        now = time.time()
        storage = self.storage
        for window in windows:
            if isinstance(storage, LocalStorage):  # the common case: no ``limits`` machinery per request
                count, expires_at = storage.incr_at(
                    f"{identity}/{window.amount}/{window.seconds}", window.seconds, now
                )
                allowed, remaining = count <= window.amount, max(0, window.amount - count)
            else:
                item = window.item()
                allowed = self._limiter.hit(item, "warp", identity)
                stats = self._limiter.get_window_stats(item, "warp", identity)
                expires_at, remaining = stats.reset_time, stats.remaining
            reset_after = max(1, math.ceil(expires_at - now))
            if not allowed:
                raise RateLimited(
                    f"rate limit: more than {window.amount} requests per {window.name}",
                    retry_after=reset_after,
                    limit=window.amount,
                )
            if best is None or remaining < best.remaining:
                best = Quota(limit=window.amount, remaining=remaining, reset_after=reset_after)
        assert best is not None
        return best


@dataclass(frozen=True)
class _Window:
    amount: int
    seconds: int
    name: str

    def item(self) -> RateLimitItem:
        kind = {1: RateLimitItemPerSecond, 60: RateLimitItemPerMinute, 3600: RateLimitItemPerHour}[
            self.seconds
        ]
        return kind(self.amount)
