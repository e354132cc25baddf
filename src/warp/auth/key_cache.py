"""A short-lived, bounded, in-process cache of verified API keys.

Entries are keyed by the SHA-256 of the presented key (the clear key is never kept) and hold what
``auth.authenticate_api_key`` returned for it once the hash matched: an entry can only be found again
by presenting the same key. An entry lives ``ttl`` seconds, so a key revoked (or its account closed)
by another process stops working within ``ttl``; ``revoke_api_key`` drops the key from every cache of
this process at once and keeps it out for ``ttl`` seconds (so a request racing the revoking
transaction cannot put it back). Expiry and the IP allow-list are still checked on every request,
against the cached row. ``ttl`` 0 disables the cache.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from warp.auth.principal import Principal

DEFAULT_MAX_ENTRIES = 10_000


@dataclass
class CachedKey:
    """A verified key: its principal (without ``needs_touch``) and what is checked per request."""

    principal: Principal
    expires_at: datetime | None
    allowed_ips: list[Any] | None
    last_used_at: datetime | None  # advanced when this process records a use
    cached_at: float  # cache clock reading taken before the database read


class ApiKeyCache:
    """LRU of verified keys by SHA-256 digest, each entry valid ``ttl`` seconds."""

    def __init__(
        self, ttl: float, max_entries: int = DEFAULT_MAX_ENTRIES, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if ttl < 0:
            raise ValueError("ttl: must not be negative")
        if max_entries <= 0:
            raise ValueError("max_entries: must be positive")
        self.ttl = ttl
        self.max_entries = max_entries
        self.clock = clock
        self._entries: OrderedDict[str, CachedKey] = OrderedDict()
        self._dropped: dict[UUID, float] = {}  # key id -> monotonic time it was revoked here
        self._lock = threading.Lock()
        _CACHES.add(self)

    @property
    def enabled(self) -> bool:
        return self.ttl > 0

    def get(self, digest: str) -> CachedKey | None:
        """The entry for ``digest`` when present and younger than ``ttl``."""
        if not self.enabled:
            return None
        now = self.clock()
        with self._lock:
            entry = self._entries.get(digest)
            if entry is None:
                return None
            if now - entry.cached_at >= self.ttl:
                del self._entries[digest]
                return None
            self._entries.move_to_end(digest)
            return entry

    def put(self, digest: str, entry: CachedKey) -> None:
        """Remember a verified key (not one revoked in this process during the last ``ttl`` seconds)."""
        if not self.enabled:
            return
        key_id = entry.principal.api_key_id
        with self._lock:
            dropped_at = self._dropped.get(key_id) if key_id is not None else None
            if dropped_at is not None:
                if entry.cached_at - dropped_at < self.ttl:
                    return
                del self._dropped[key_id]  # type: ignore[arg-type]
            self._entries[digest] = entry
            self._entries.move_to_end(digest)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def drop_key(self, key_id: UUID) -> None:
        """Forget ``key_id`` now and refuse to cache it again for ``ttl`` seconds."""
        now = self.clock()
        with self._lock:
            for digest in [d for d, e in self._entries.items() if e.principal.api_key_id == key_id]:
                del self._entries[digest]
            self._dropped = {k: t for k, t in self._dropped.items() if now - t < self.ttl}
            self._dropped[key_id] = now

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._dropped.clear()

    def __len__(self) -> int:
        return len(self._entries)


_CACHES: weakref.WeakSet[ApiKeyCache] = weakref.WeakSet()


def drop_key_everywhere(key_id: UUID) -> None:
    """Forget ``key_id`` in every cache of this process (called when a key is revoked)."""
    for cache in list(_CACHES):
        cache.drop_key(key_id)
