"""Vendor dispatch: claim QUEUED messages, hand them to a provider (with failover), record SENT or FAILED.

The claim (QUEUED -> SENDING, ``FOR UPDATE SKIP LOCKED``) commits before any vendor is called, so
several dispatchers never send the same message. Each message goes first to the provider chosen when
it was accepted (``mdr.service_provider_id``), then, when that one fails, to the other enabled
providers of its capability (``sms``/``mms``) in failover order
(``vendor_mgmt.get_providers_by_capability``). The provider that carried it is written on the MDR
(delivery receipts are matched by provider + vendor reference). Providers failing in a batch get a
DOWN health record, and one that fails ``circuit_after`` times in a row is skipped for the rest of
the batch; a provider that answers again is recorded HEALTHY.

A dispatcher that dies between the claim and recording the answer leaves messages SENDING:
:func:`recover_stuck` puts those older than the lease back to QUEUED (delivery to vendors is at least
once; WARP's message id travels with each message so vendors can deduplicate).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol
from uuid import UUID

import psycopg
from psycopg.rows import dict_row

from warp.auth.policy import AuthPolicy
from warp.db import tenant
from warp.errors import WarpError
from warp.messaging.providers import OutboundMessage, ProviderError, SmsProvider, build_provider
from warp.vendors import registry
from warp.vendors.errors import InvalidProviderConfig, ProviderFailure, SecretUnavailable
from warp.vendors.secrets import SecretResolver

DISPATCH = tenant.Context(staff=True, actor_type="SYSTEM")
FAILURES: tuple[type[BaseException], ...] = (
    ProviderError,
    ProviderFailure,
    SecretUnavailable,
    InvalidProviderConfig,
    OSError,
    TimeoutError,
)


class Sender(Protocol):
    """Anything that carries a message: a provider plugin or a :class:`SmsProvider`."""

    id: Any
    name: str

    def send(self, message: OutboundMessage) -> str: ...


@dataclass
class Candidate:
    """One provider the dispatcher may use."""

    id: UUID
    name: str
    capabilities: frozenset[str]
    sender: Sender | None  # None: could not be built (error says why)
    health_status: str | None = None
    error: str | None = None


@dataclass
class DispatchResult:
    """What one batch (or a whole run, added up) did."""

    claimed: int = 0
    sent: int = 0
    failed: int = 0
    failovers: int = 0
    recovered: int = 0
    by_provider: dict[str, int] = field(default_factory=dict)

    def add(self, other: DispatchResult) -> None:
        self.claimed += other.claimed
        self.sent += other.sent
        self.failed += other.failed
        self.failovers += other.failovers
        self.recovered += other.recovered
        for name, n in other.by_provider.items():
            self.by_provider[name] = self.by_provider.get(name, 0) + n

    def as_dict(self) -> dict[str, Any]:
        return {
            "claimed": self.claimed,
            "sent": self.sent,
            "failed": self.failed,
            "failovers": self.failovers,
            "recovered": self.recovered,
            "by_provider": dict(sorted(self.by_provider.items())),
        }


def load_candidates(conn: psycopg.Connection[Any], secrets: SecretResolver) -> list[Candidate]:
    """Enabled sms/mms providers in failover order, built through the vendor plugin registry."""
    rows: dict[UUID, dict[str, Any]] = {}
    for capability in ("sms", "mms"):
        found = (
            conn.cursor(row_factory=dict_row)
            .execute(
                "SELECT id, name, provider_type, capabilities, config, priority, health_status "
                "FROM vendor_mgmt.get_providers_by_capability(%s)",
                (capability,),
            )
            .fetchall()
        )
        for row in found:
            rows.setdefault(row["id"], row)
    out: list[Candidate] = []
    for row in sorted(rows.values(), key=lambda r: (r["priority"], r["name"])):
        sender: Sender | None = None
        error: str | None = None
        try:
            sender = registry.build(row, secrets)  # type: ignore[assignment]
        except WarpError as exc:
            error = exc.message
        out.append(
            Candidate(
                id=row["id"],
                name=row["name"],
                capabilities=frozenset(row["capabilities"]),
                sender=sender,
                health_status=row["health_status"],
                error=error,
            )
        )
    return out


def _legacy_candidates(providers: Mapping[UUID, SmsProvider]) -> list[Candidate]:
    return [
        Candidate(id=pid, name=p.name, capabilities=frozenset({"sms", "mms"}), sender=p)
        for pid, p in providers.items()
    ]


def load_providers(conn: psycopg.Connection[Any], policy: AuthPolicy) -> dict[UUID, SmsProvider]:
    """Every enabled messaging provider, built from vendor_mgmt.service_providers (staff transaction)."""
    rows = (
        conn.cursor(row_factory=dict_row)
        .execute(
            "SELECT id, name, provider_type, config FROM vendor_mgmt.service_providers "
            "WHERE enabled AND capabilities && ARRAY['sms', 'mms'] ORDER BY priority, name"
        )
        .fetchall()
    )
    return {r["id"]: build_provider(r, policy) for r in rows}


def recover_stuck(conn: psycopg.Connection[Any], stale_after: timedelta) -> int:
    """Messages SENDING for longer than ``stale_after`` go back to QUEUED (own transaction)."""
    with tenant.transaction(conn, DISPATCH):
        row = conn.execute("SELECT messaging.recover_sending(%s)", (stale_after,)).fetchone()
    value = next(iter(row.values())) if isinstance(row, Mapping) else (row[0] if row else 0)
    return int(value or 0)


def _error_of(exc: BaseException) -> tuple[str, str]:
    """(error code, message) of a provider failure."""
    cause = exc.__cause__
    if isinstance(exc, ProviderError):
        return exc.code, exc.message
    if isinstance(cause, ProviderError):  # a plugin wrapping the vendor's own error
        return cause.code[:32], cause.message
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return str(getattr(exc, "code", "vendor-error"))[:32], str(message)


@dataclass
class _Health:
    failures: int = 0
    streak: int = 0
    successes: int = 0
    last_error: str | None = None


def dispatch_batch(
    conn: psycopg.Connection[Any],
    candidates: list[Candidate],
    limit: int = 100,
    *,
    circuit_after: int = 3,
    record_health: bool = True,
) -> DispatchResult:
    """Claim up to ``limit`` queued messages, send each with failover, record the outcomes."""
    result = DispatchResult()
    with tenant.transaction(conn, DISPATCH):
        claimed = (
            conn.cursor(row_factory=dict_row)
            .execute("SELECT * FROM messaging.lease_queued(%s)", (limit,))
            .fetchall()
        )
    result.claimed = len(claimed)
    if not claimed:
        return result
    health: dict[UUID, _Health] = {c.id: _Health() for c in candidates}
    outcomes: list[tuple[dict[str, Any], str, UUID | None, str | None, str | None, str | None]] = []
    for m in claimed:
        capability = "mms" if m["message_type"] == "MMS" else "sms"
        first = [c for c in candidates if c.id == m["service_provider_id"]]
        rest = [c for c in candidates if c.id != m["service_provider_id"] and capability in c.capabilities]
        message = OutboundMessage(
            id=m["id"],
            created_at=m["created_at"],
            message_type=m["message_type"],
            from_number=m["from_number"],
            to_number=m["to_number"],
            body=m["body"],
            media_urls=list(m["media_urls"]),
        )
        errors: list[str] = []
        code: str | None = None
        carried: Candidate | None = None
        ref: str | None = None
        tried = 0
        for c in first + rest:
            h = health[c.id]
            if c.sender is None:
                errors.append(f"{c.name}: {c.error}")
                code = "vendor-misconfigured"
                h.failures += 1
                h.last_error = c.error
                continue
            if h.streak >= circuit_after:
                errors.append(f"{c.name}: skipped after {h.streak} failures in a row")
                continue
            tried += 1
            try:
                ref = str(c.sender.send(message))[:128]
            except FAILURES as exc:
                code, text = _error_of(exc)
                errors.append(text if c.name in text else f"{c.name}: {text}")
                h.failures += 1
                h.streak += 1
                h.last_error = text
                continue
            h.successes += 1
            h.streak = 0
            carried = c
            break
        if carried is not None:
            result.sent += 1
            result.by_provider[carried.name] = result.by_provider.get(carried.name, 0) + 1
            if carried.id != m["service_provider_id"] or tried > 1:
                result.failovers += 1
            outcomes.append((m, "SENT", carried.id, ref, None, None))
        else:
            result.failed += 1
            if not errors:
                code, errors = "vendor-unavailable", ["no enabled provider offers " + capability]
            detail = "every provider failed: " + "; ".join(errors)
            outcomes.append((m, "FAILED", None, None, (code or "vendor-unavailable")[:32], detail[:2000]))
    with tenant.transaction(conn, DISPATCH):
        for m, status, provider_id, vendor_ref, error_code, error_text in outcomes:
            if provider_id is not None and provider_id != m["service_provider_id"]:
                conn.execute(
                    "UPDATE messaging.mdr SET service_provider_id = %s "
                    "WHERE id = %s AND created_at = %s AND status = 'SENDING'",
                    (provider_id, m["id"], m["created_at"]),
                )
            conn.execute(
                "SELECT messaging.apply_status(%s, %s, %s, %s, %s)",
                (m["id"], status, error_code, error_text, vendor_ref),
            )
        if record_health:
            _record_health(conn, candidates, health)
    return result


def _record_health(
    conn: psycopg.Connection[Any], candidates: Iterable[Candidate], health: dict[UUID, _Health]
) -> None:
    from warp.vendors.service import record_health

    for c in candidates:
        h = health[c.id]
        if c.health_status is None:
            continue
        if h.failures and not h.successes and c.health_status != "DOWN":
            record_health(conn, c.id, "DOWN", None, h.last_error)
            c.health_status = "DOWN"
        elif h.successes and c.health_status != "HEALTHY":
            record_health(conn, c.id, "HEALTHY", None, None)
            c.health_status = "HEALTHY"


def dispatch_once(
    conn: psycopg.Connection[Any], providers: Mapping[UUID, SmsProvider], limit: int = 100
) -> int:
    """Send up to ``limit`` queued messages with the given providers; returns how many were claimed."""
    return dispatch_batch(conn, _legacy_candidates(providers), limit, record_health=False).claimed
