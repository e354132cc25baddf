"""Service providers: saving validated configurations, health checks and failover by priority."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

import psycopg
from psycopg import errors

from warp.messaging.providers import OutboundMessage
from warp.vendors import registry
from warp.vendors.errors import (
    DuplicateProvider,
    InvalidProviderConfig,
    NoProviderAvailable,
    ProviderFailure,
    ProviderNotFound,
    SecretUnavailable,
)
from warp.vendors.secrets import SecretResolver

T = TypeVar("T")
FAILURES = (ProviderFailure, SecretUnavailable, OSError, TimeoutError)

_COLUMNS = (
    "id, vendor_id, name, provider_type, capabilities, config, priority, enabled, health_status, "
    "last_health_check_at, last_health_error"
)


def _row(row: Any) -> dict[str, Any]:
    return dict(row) if isinstance(row, Mapping) else dict(zip(_COLUMNS.split(", "), row, strict=True))


def add_provider(
    conn: psycopg.Connection[Any],
    *,
    name: str,
    provider_type: str,
    capabilities: list[str],
    config: Mapping[str, Any],
    priority: int = 100,
    enabled: bool = True,
    vendor_id: UUID | None = None,
) -> dict[str, Any]:
    """Save a new provider after validating its config against its plugin's schema (staff)."""
    _, parsed = registry.validate_config(provider_type, capabilities, config)
    stored = parsed.model_dump(mode="json", exclude_none=True)
    try:
        with conn.transaction():
            row = conn.execute(
                f"INSERT INTO vendor_mgmt.service_providers (name, provider_type, capabilities, config, priority, "
                f"enabled, vendor_id) VALUES (%s, %s, %s, %s::jsonb, %s, %s, %s) RETURNING {_COLUMNS}",
                (name, provider_type, capabilities, json.dumps(stored), priority, enabled, vendor_id),
            ).fetchone()
    except errors.UniqueViolation as exc:
        raise DuplicateProvider(f"name: a provider called {name!r} exists already") from exc
    except errors.CheckViolation as exc:
        raise InvalidProviderConfig(
            f"provider {name}: {exc.diag.constraint_name or 'check'} refused"
        ) from exc
    return _row(row)


def update_provider(
    conn: psycopg.Connection[Any],
    name: str,
    *,
    config: Mapping[str, Any] | None = None,
    priority: int | None = None,
    enabled: bool | None = None,
) -> dict[str, Any]:
    """Change a provider; a new config is validated like on creation."""
    current = get_provider(conn, name)
    new_config = current["config"] if config is None else config
    _, parsed = registry.validate_config(current["provider_type"], list(current["capabilities"]), new_config)
    row = conn.execute(
        f"UPDATE vendor_mgmt.service_providers SET config = %s::jsonb, priority = coalesce(%s, priority), "
        f"enabled = coalesce(%s, enabled) WHERE id = %s RETURNING {_COLUMNS}",
        (json.dumps(parsed.model_dump(mode="json", exclude_none=True)), priority, enabled, current["id"]),
    ).fetchone()
    return _row(row)


def get_provider(conn: psycopg.Connection[Any], name: str) -> dict[str, Any]:
    """One provider by name; ProviderNotFound otherwise."""
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM vendor_mgmt.service_providers WHERE name = %s", (name,)
    ).fetchone()
    if row is None:
        raise ProviderNotFound(f"provider {name!r}: not found")
    return _row(row)


def list_providers(conn: psycopg.Connection[Any], capability: str | None = None) -> list[dict[str, Any]]:
    """Every provider (optionally offering ``capability``), by priority then name."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM vendor_mgmt.service_providers "
        "WHERE %(cap)s::text IS NULL OR %(cap)s = ANY (capabilities) ORDER BY priority, name",
        {"cap": capability},
    ).fetchall()
    return [_row(r) for r in rows]


def providers_by_capability(conn: psycopg.Connection[Any], capability: str) -> list[dict[str, Any]]:
    """Enabled providers of ``capability`` in failover order (vendor_mgmt.get_providers_by_capability)."""
    rows = conn.execute(
        "SELECT id, name, provider_type, capabilities, config, priority, health_status "
        "FROM vendor_mgmt.get_providers_by_capability(%s)",
        (capability,),
    ).fetchall()
    keys = ("id", "name", "provider_type", "capabilities", "config", "priority", "health_status")
    return [dict(r) if isinstance(r, Mapping) else dict(zip(keys, r, strict=True)) for r in rows]


def record_health(
    conn: psycopg.Connection[Any], provider_id: UUID, status: str, latency_ms: float | None, error: str | None
) -> None:
    """Append a health-check row and copy the state onto the provider."""
    conn.execute(
        "WITH h AS (INSERT INTO vendor_mgmt.provider_health_checks (service_provider_id, status, latency_ms, error) "
        "VALUES (%(id)s, %(status)s, %(ms)s, %(error)s) RETURNING checked_at) "
        "UPDATE vendor_mgmt.service_providers SET health_status = %(status)s, last_health_error = %(error)s, "
        "last_health_check_at = (SELECT checked_at FROM h) WHERE id = %(id)s",
        {
            "id": provider_id,
            "status": status,
            "ms": None if latency_ms is None else round(latency_ms, 3),
            "error": None if error is None else error[:2000],
        },
    )


def health_history(
    conn: psycopg.Connection[Any],
    name: str,
    *,
    limit: int = 100,
    before: tuple[datetime, UUID] | None = None,
) -> list[dict[str, Any]]:
    """A provider's health checks, newest first, before the (checked_at, id) key; ProviderNotFound."""
    provider = get_provider(conn, name)
    rows = conn.execute(
        "SELECT id, status, latency_ms, error, checked_at FROM vendor_mgmt.provider_health_checks "
        "WHERE service_provider_id = %(p)s AND (%(t)s::timestamptz IS NULL OR (checked_at, id) < (%(t)s, %(i)s)) "
        "ORDER BY checked_at DESC, id DESC LIMIT %(n)s",
        {
            "p": provider["id"],
            "t": before[0] if before else None,
            "i": before[1] if before else None,
            "n": limit,
        },
    ).fetchall()
    keys = ("id", "status", "latency_ms", "error", "checked_at")
    return [dict(r) if isinstance(r, Mapping) else dict(zip(keys, r, strict=True)) for r in rows]


@dataclass(frozen=True)
class HealthResult:
    name: str
    status: str
    latency_ms: float
    error: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "latency_ms": round(self.latency_ms, 3),
            "error": self.error,
        }


def check_provider(conn: psycopg.Connection[Any], name: str, secrets: SecretResolver) -> HealthResult:
    """Run the provider's health check and record the result (vendor_mgmt.provider_health_checks)."""
    row = get_provider(conn, name)
    error: str | None = None
    ms = 0.0
    try:
        provider = registry.build(row, secrets)
        ms, _ = registry.timed(provider.health_check)
    except (*FAILURES, InvalidProviderConfig) as exc:
        error = getattr(exc, "message", None) or str(exc)
    status = "HEALTHY" if error is None else "DOWN"
    record_health(conn, row["id"], status, ms, error)
    return HealthResult(name=row["name"], status=status, latency_ms=ms, error=error)


def check_all(conn: psycopg.Connection[Any], secrets: SecretResolver) -> list[HealthResult]:
    """Health-check every enabled provider."""
    return [check_provider(conn, p["name"], secrets) for p in list_providers(conn) if p["enabled"]]


def with_failover(
    conn: psycopg.Connection[Any],
    capability: str,
    call: Callable[[Any], T],
    secrets: SecretResolver,
) -> tuple[T, str]:
    """Run ``call(provider)`` on the enabled providers of ``capability`` by priority until one succeeds.

    A failing provider gets a DOWN health-check record and the next one is tried; a provider that
    succeeds after being DOWN/UNKNOWN is recorded HEALTHY. Returns the result and the provider's name;
    NoProviderAvailable (with every error) when all fail or none is configured.
    """
    failures: list[str] = []
    for row in providers_by_capability(conn, capability):
        try:
            provider = registry.build(row, secrets)
            ms, result = registry.timed(lambda p=provider: call(p))
        except (*FAILURES, InvalidProviderConfig) as exc:
            message = getattr(exc, "message", None) or str(exc)
            failures.append(f"{row['name']}: {message}")
            record_health(conn, row["id"], "DOWN", None, message)
            continue
        if row["health_status"] != "HEALTHY":
            record_health(conn, row["id"], "HEALTHY", ms, None)
        return result, str(row["name"])
    if not failures:
        raise NoProviderAvailable(f"{capability}: no enabled provider is configured")
    raise NoProviderAvailable(f"{capability}: every provider failed ({'; '.join(failures)})")


class FailoverLrnProvider:
    """The ``lrn_lookup`` providers as one :class:`warp.cdr.reference.LrnProvider`, with failover."""

    name = "failover"

    def __init__(self, conn: psycopg.Connection[Any], secrets: SecretResolver) -> None:
        self.conn = conn
        self.secrets = secrets
        self.last_provider: str | None = None

    def lookup(self, numbers: list[str]) -> Mapping[str, str | None]:
        answer, self.last_provider = with_failover(
            self.conn, "lrn_lookup", lambda p: p.lookup(numbers), self.secrets
        )
        return dict(answer)


class FailoverSmsProvider:
    """The ``sms`` providers as one :class:`warp.messaging.providers.SmsProvider`, with failover."""

    name = "failover"

    def __init__(self, conn: psycopg.Connection[Any], secrets: SecretResolver) -> None:
        self.conn = conn
        self.secrets = secrets
        self.id: UUID | None = None
        self.last_provider: str | None = None

    def send(self, message: OutboundMessage) -> str:
        ref, self.last_provider = with_failover(self.conn, "sms", lambda p: p.send(message), self.secrets)
        return str(ref)
