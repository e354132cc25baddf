"""API keys: create (shown once), list, revoke, and authenticate a presented key."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import class_row, dict_row

from warp.auth import rbac, tokens
from warp.auth.errors import ApiKeyNotFound, InvalidAuthInput, SourceIpNotAllowed, Unauthenticated
from warp.auth.key_cache import ApiKeyCache, CachedKey, drop_key_everywhere
from warp.auth.principal import Principal

LAST_USED_RESOLUTION = timedelta(minutes=1)
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class ApiKey:
    """An API key as listed (never the key itself)."""

    id: UUID
    account_id: UUID
    name: str
    key_prefix: str
    scopes: list[str]
    allowed_ips: list[str] | None
    rate_limit_per_second: int | None
    rate_limit_per_minute: int | None
    rate_limit_per_hour: int | None
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    created_at: datetime


_COLUMNS = (
    "id, account_id, name, key_prefix, scopes, "
    "CASE WHEN allowed_ips IS NULL THEN NULL ELSE array(SELECT host(x) || CASE WHEN masklen(x) "
    "IN (32, 128) THEN '' ELSE '/' || masklen(x) END FROM unnest(allowed_ips) x) END AS allowed_ips, "
    "rate_limit_per_second, rate_limit_per_minute, rate_limit_per_hour, expires_at, revoked_at, "
    "last_used_at, created_at"
)


def _networks(values: list[str] | None) -> list[str] | None:
    if values is None:
        return None
    out = []
    for value in values:
        try:
            out.append(str(ipaddress.ip_network(value.strip(), strict=False)))
        except ValueError as exc:
            raise InvalidAuthInput(f"allowed_ips: {value!r} is not an IP address or network") from exc
    return out


def create_api_key(
    conn: psycopg.Connection[Any],
    *,
    account_id: UUID,
    name: str = "default",
    scopes: list[str] | None = None,
    allowed_ips: list[str] | None = None,
    expires_at: datetime | None = None,
    rate_limits: tuple[int | None, int | None, int | None] = (None, None, None),
    created_by_user_id: UUID | None = None,
    grantable: set[str] | None = None,
) -> tuple[ApiKey, str]:
    """Create a key for ``account_id``; return it with the clear key (the only time it exists).

    Without ``scopes`` the key gets every customer scope (limited to ``grantable`` when given:
    a caller may not hand out more than it holds).
    """
    if scopes is None:
        scopes = [s for s in rbac.customer_scopes(conn) if grantable is None or s in grantable]
    scopes = rbac.validate_scopes(conn, scopes, allowed=grantable)
    if not name or len(name) > 100:
        raise InvalidAuthInput("name: must be 1 to 100 characters")
    if expires_at is not None and expires_at <= datetime.now(UTC):
        raise InvalidAuthInput("expires_at: must be in the future")
    for label, value in zip(("per_second", "per_minute", "per_hour"), rate_limits, strict=True):
        if value is not None and value <= 0:
            raise InvalidAuthInput(f"rate_limit_{label}: must be positive")
    new = tokens.generate_api_key()
    cur = conn.cursor(row_factory=class_row(ApiKey))
    row = cur.execute(
        "INSERT INTO auth.api_keys (account_id, created_by_user_id, name, key_prefix, key_hash, scopes, "
        "allowed_ips, rate_limit_per_second, rate_limit_per_minute, rate_limit_per_hour, expires_at) "
        f"VALUES (%s, %s, %s, %s, %s, %s, %s::inet[], %s, %s, %s, %s) RETURNING {_COLUMNS}",
        (
            account_id,
            created_by_user_id,
            name,
            new.prefix,
            new.key_hash,
            scopes,
            _networks(allowed_ips),
            *rate_limits,
            expires_at,
        ),
    ).fetchone()
    assert row is not None
    return row, new.key


def list_api_keys(
    conn: psycopg.Connection[Any],
    *,
    account_id: UUID | None = None,
    limit: int = 100,
    after: tuple[datetime, UUID] | None = None,
) -> list[ApiKey]:
    """Keys visible to the transaction (optionally of one account), oldest first, keyset-paged."""
    where: list[str] = ["true"]
    params: list[Any] = []
    if account_id is not None:
        where.append("account_id = %s")
        params.append(account_id)
    if after is not None:
        where.append("(created_at, id) > (%s, %s)")
        params.extend(after)
    cur = conn.cursor(row_factory=class_row(ApiKey))
    return cur.execute(
        f"SELECT {_COLUMNS} FROM auth.api_keys WHERE {' AND '.join(where)} ORDER BY created_at, id LIMIT %s",
        [*params, limit],
    ).fetchall()


def get_api_key(conn: psycopg.Connection[Any], key_id_or_prefix: str) -> ApiKey:
    """One key by id or prefix (as visible to the transaction)."""
    try:
        key_id: UUID | None = UUID(key_id_or_prefix)
    except ValueError:
        key_id = None
    cur = conn.cursor(row_factory=class_row(ApiKey))
    if key_id is not None:
        row = cur.execute(f"SELECT {_COLUMNS} FROM auth.api_keys WHERE id = %s", (key_id,)).fetchone()
    else:
        row = cur.execute(
            f"SELECT {_COLUMNS} FROM auth.api_keys WHERE key_prefix = %s", (key_id_or_prefix,)
        ).fetchone()
    if row is None:
        raise ApiKeyNotFound(f"api key: no key {key_id_or_prefix!r}")
    return row


def revoke_api_key(conn: psycopg.Connection[Any], key_id_or_prefix: str) -> ApiKey:
    """Revoke a key (idempotent: revoking twice keeps the first revocation time)."""
    key = get_api_key(conn, key_id_or_prefix)
    cur = conn.cursor(row_factory=class_row(ApiKey))
    row = cur.execute(
        "UPDATE auth.api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = %s "
        f"RETURNING {_COLUMNS}",
        (key.id,),
    ).fetchone()
    assert row is not None
    drop_key_everywhere(row.id)
    return row


def _ip_allowed(client_ip: str | None, allowed: list[Any] | None) -> bool:
    if allowed is None:
        return True
    if not client_ip:
        return False
    try:
        ip = ipaddress.ip_address(client_ip)
    except ValueError:
        return False
    for entry in allowed:
        if isinstance(entry, ipaddress.IPv4Interface | ipaddress.IPv6Interface):
            network = entry.network
        elif isinstance(entry, ipaddress.IPv4Address | ipaddress.IPv6Address):
            network = ipaddress.ip_network(entry)
        else:
            network = ipaddress.ip_network(str(entry), strict=False)
        if ip.version == network.version and ip in network:
            return True
    return False


def authenticate_api_key(
    conn: psycopg.Connection[Any],
    presented: str,
    client_ip: str | None,
    cache: ApiKeyCache | None = None,
) -> Principal:
    """The principal of a presented key, or Unauthenticated / SourceIpNotAllowed.

    The lookup runs before any tenant is known, through the SECURITY DEFINER function
    ``auth.authenticate_api_key`` (row-level security hides every key from the application role
    until then); the hash comparison happens here, in constant time. With a ``cache``, a key verified
    in the last ``cache.ttl`` seconds is not looked up again (entries are keyed by the key's SHA-256);
    expiry and the IP allow-list are checked on every call either way.
    """
    prefix = tokens.parse_api_key(presented)
    if prefix is None:
        raise Unauthenticated("credentials: malformed API key")
    digest = tokens.sha256_hex(presented)
    entry = cache.get(digest) if cache is not None else None
    if entry is None:
        entry = _look_up(conn, prefix, digest, cache.clock() if cache is not None else 0.0)
        if cache is not None:
            cache.put(digest, entry)
    return _principal_of(entry, client_ip)


def authenticate_cached_api_key(
    presented: str, client_ip: str | None, cache: ApiKeyCache
) -> Principal | None:
    """The principal of a presented key found in ``cache`` (no database), else None; the same
    per-request checks as ``authenticate_api_key`` apply."""
    if tokens.parse_api_key(presented) is None:
        return None
    entry = cache.get(tokens.sha256_hex(presented))
    return None if entry is None else _principal_of(entry, client_ip)


def _look_up(conn: psycopg.Connection[Any], prefix: str, digest: str, read_at: float) -> CachedKey:
    row = (
        conn.cursor(row_factory=dict_row)
        .execute("SELECT * FROM auth.authenticate_api_key(%s)", (prefix,))
        .fetchone()
    )
    if row is None or not tokens.same_hash(digest, row["key_hash"]):
        raise Unauthenticated("credentials: unknown API key")
    if row["revoked_at"] is not None:
        raise Unauthenticated("credentials: the API key was revoked")
    if row["expires_at"] is not None and row["expires_at"] <= datetime.now(UTC):
        raise Unauthenticated("credentials: the API key has expired")
    if row["account_status"] == "CLOSED":
        raise Unauthenticated("credentials: the account is closed")
    principal = Principal(
        kind="API_KEY",
        actor_id=row["id"],
        account_id=row["account_id"],
        permissions=frozenset(row["scopes"]),
        name=row["name"],
        api_key_id=row["id"],
        rate_limits=(row["rate_limit_per_second"], row["rate_limit_per_minute"], row["rate_limit_per_hour"]),
    )
    return CachedKey(
        principal=principal,
        expires_at=row["expires_at"],
        allowed_ips=row["allowed_ips"],
        last_used_at=row["last_used_at"],
        cached_at=read_at,
    )


def _principal_of(entry: CachedKey, client_ip: str | None) -> Principal:
    """Per-request checks on a verified key: expiry, IP allow-list, whether to record the use."""
    now = datetime.now(UTC)
    if entry.expires_at is not None and entry.expires_at <= now:
        raise Unauthenticated("credentials: the API key has expired")
    if not _ip_allowed(client_ip, entry.allowed_ips):
        raise SourceIpNotAllowed("client_ip: this API key may not be used from this address")
    last_used = entry.last_used_at
    if last_used is None or now - last_used >= LAST_USED_RESOLUTION:
        # This request records the use (touch_last_used); later requests served from the cache
        # need not, until a minute has passed.
        entry.last_used_at = now
        return replace(entry.principal, needs_touch=True)
    return entry.principal


def touch_last_used(conn: psycopg.Connection[Any], key_id: UUID) -> None:
    """Record use of a key, at most once a minute (call inside the principal's transaction)."""
    conn.execute(
        "UPDATE auth.api_keys SET last_used_at = now() WHERE id = %s "
        "AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
        (key_id,),
    )
