"""Webhook delivery worker: drains the durable outbox (messaging.webhook_events) to customers.

Restart-safe and at-least-once: a batch is leased (``FOR UPDATE SKIP LOCKED``, status DELIVERING,
``next_attempt_at`` pushed out by the lease) and committed before any request is sent, so a crashed
worker's events become due again when the lease runs out and any worker picks them up. Each try is
a row in messaging.webhook_attempts. Failures back off exponentially with jitter until the retry
horizon (24 h by default), then the event is EXPIRED. Events of one message are delivered in order
(created_at, id): a later event waits while an earlier one is undelivered. The event id is stable
(payload ``id`` and header ``X-Warp-Event-Id``) so receivers deduplicate.

Run: ``python -m warp.workers.webhooks`` (WARP_DATABASE_URL; WARP_WEBHOOK_HORIZON_HOURS,
WARP_WEBHOOK_CONCURRENCY, WARP_WEBHOOK_LEASE_SECONDS tune it).
"""

from __future__ import annotations

import json
import logging
import os
import random
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from warp.auth.policy import AuthPolicy, load_policy
from warp.db import tenant
from warp.db.connection import database_url
from warp.messaging.errors import SecretUnavailable
from warp.messaging.secrets import resolve_secret
from warp.messaging.signing import EVENT_ID_HEADER, signed_headers
from warp.vendors.secrets import SecretResolver

log = logging.getLogger("warp.workers.webhooks")
WORKER = tenant.Context(staff=True, actor_type="SYSTEM")

CLAIM = """
WITH picked AS (
    SELECT e.id FROM messaging.webhook_events e
    WHERE e.status IN ('PENDING', 'DELIVERING') AND e.next_attempt_at <= now()
      AND NOT EXISTS (
          SELECT 1 FROM messaging.webhook_events p
          WHERE e.mdr_id IS NOT NULL AND p.mdr_id = e.mdr_id AND p.mdr_created_at = e.mdr_created_at
            AND p.status IN ('PENDING', 'DELIVERING') AND (p.created_at, p.id) < (e.created_at, e.id))
    ORDER BY e.next_attempt_at, e.created_at, e.id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE messaging.webhook_events e
SET status = 'DELIVERING', attempt_count = e.attempt_count + 1, last_attempt_at = now(),
    next_attempt_at = now() + %(lease)s
FROM picked WHERE e.id = picked.id
RETURNING e.id, e.account_id, e.event_type, e.mdr_id, e.mdr_created_at, e.target_url, e.secret_ref, e.payload,
          e.attempt_count, e.created_at
"""


@dataclass(frozen=True)
class WebhookSettings:
    """Tunables of delivery."""

    horizon: timedelta = timedelta(hours=24)
    base_delay: float = 5.0
    max_delay: float = 3600.0
    lease: timedelta = timedelta(seconds=60)
    timeout: float = 10.0
    batch: int = 100
    concurrency: int = 8

    @classmethod
    def from_env(cls) -> WebhookSettings:
        env = os.environ
        return cls(
            horizon=timedelta(hours=float(env.get("WARP_WEBHOOK_HORIZON_HOURS", "24"))),
            lease=timedelta(seconds=float(env.get("WARP_WEBHOOK_LEASE_SECONDS", "60"))),
            concurrency=int(env.get("WARP_WEBHOOK_CONCURRENCY", "8")),
        )


def backoff(attempt: int, settings: WebhookSettings, rng: random.Random | None = None) -> float:
    """Seconds before try ``attempt + 1``: exponential, capped, with jitter in [delay/2, delay]."""
    delay: float = min(settings.max_delay, settings.base_delay * float(2 ** min(max(0, attempt - 1), 40)))
    source = rng if rng is not None else random.Random()  # noqa: S311 - jitter, not cryptography
    jitter = source.uniform(0, delay / 2)
    return delay / 2 + jitter


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    latency_ms: int
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class WebhookWorker:
    """One delivery loop; run several (threads or processes) for more throughput."""

    def __init__(
        self,
        url: str,
        policy: AuthPolicy,
        settings: WebhookSettings | None = None,
        secrets: SecretResolver | None = None,
    ) -> None:
        self.url = url
        self.policy = policy
        self.settings = settings or WebhookSettings()
        # enc:, env:, file: and secret: (the pluggable store of WARP_SECRET_BACKEND) references.
        self.secrets = secrets if secrets is not None else SecretResolver(policy=policy)
        self._pool = ThreadPoolExecutor(max_workers=self.settings.concurrency)

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def claim(self, conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
        """Lease a batch of due events (committed before delivery)."""
        with tenant.transaction(conn, WORKER):
            return (
                conn.cursor(row_factory=dict_row)
                .execute(CLAIM, {"limit": self.settings.batch, "lease": self.settings.lease})
                .fetchall()
            )

    def deliver(self, event: dict[str, Any]) -> Outcome:
        """POST one event, signed; never raises."""
        body = json.dumps(event["payload"], separators=(",", ":"), sort_keys=True).encode()
        started = time.perf_counter()
        try:
            secret = resolve_secret(self.policy, event["secret_ref"], self.secrets)
        except SecretUnavailable as exc:
            # Recorded on the attempt; the event is retried (the operator may fix the store) until expiry.
            return Outcome(None, 0, f"signing secret unavailable: {exc.message}"[:500])
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "warp-webhooks/1",
            EVENT_ID_HEADER: str(event["id"]),
            **signed_headers(secret, body),
        }
        request = urllib.request.Request(event["target_url"], data=body, headers=headers, method="POST")  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=self.settings.timeout) as response:  # noqa: S310
                response.read()
                code = response.status
            error = None
        except urllib.error.HTTPError as exc:
            code, error = exc.code, f"HTTP {exc.code}"
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            code, error = None, f"{type(exc).__name__}: {exc}"[:500]
        latency = int((time.perf_counter() - started) * 1000)
        return Outcome(code if code and 100 <= code <= 599 else None, latency, error)

    def record(self, conn: psycopg.Connection[Any], event: dict[str, Any], outcome: Outcome) -> str:
        """Write the attempt and the event's next state (own transaction); returns the new status."""
        with tenant.transaction(conn, WORKER):
            return self._record(conn, event, outcome)

    def _record(self, conn: psycopg.Connection[Any], event: dict[str, Any], outcome: Outcome) -> str:
        conn.execute(
            "INSERT INTO messaging.webhook_attempts (webhook_event_id, account_id, mdr_id, mdr_created_at, "
            "attempt, request_url, status_code, latency_ms, error) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT ON CONSTRAINT webhook_attempts_webhook_event_id_attempt_key DO NOTHING",
            (
                event["id"],
                event["account_id"],
                event["mdr_id"],
                event["mdr_created_at"],
                event["attempt_count"],
                event["target_url"],
                outcome.status_code,
                outcome.latency_ms,
                outcome.error,
            ),
        )
        if outcome.ok:
            conn.execute(
                "UPDATE messaging.webhook_events SET status = 'DELIVERED', delivered_at = now() "
                "WHERE id = %s AND status <> 'DELIVERED'",
                (event["id"],),
            )
            return "DELIVERED"
        delay = timedelta(seconds=backoff(event["attempt_count"], self.settings))
        row = conn.execute(
            "UPDATE messaging.webhook_events SET "
            "status = CASE WHEN now() + %(delay)s >= created_at + %(horizon)s THEN 'EXPIRED' ELSE 'PENDING' END, "
            "next_attempt_at = now() + %(delay)s "
            "WHERE id = %(id)s AND status = 'DELIVERING' RETURNING status",
            {"delay": delay, "horizon": self.settings.horizon, "id": event["id"]},
        ).fetchone()
        return str(row[0]) if row else "DELIVERED"

    def run_once(self, conn: psycopg.Connection[Any]) -> int:
        """Claim one batch, deliver it concurrently, record every outcome; returns the batch size."""
        events = self.claim(conn)
        if not events:
            return 0
        outcomes = list(self._pool.map(self.deliver, events))
        # One transaction (one commit) for the whole batch's outcomes: a crash before it commits
        # leaves the events DELIVERING, and they are tried again when the lease runs out.
        with tenant.transaction(conn, WORKER):
            for event, outcome in zip(events, outcomes, strict=True):
                self._record(conn, event, outcome)
        return len(events)

    def run(self, stop: threading.Event, idle_sleep: float = 0.5) -> None:
        """Loop until ``stop`` is set, reconnecting after database errors."""
        while not stop.is_set():
            try:
                with psycopg.connect(self.url) as conn:
                    while not stop.is_set():
                        if self.run_once(conn) == 0:
                            stop.wait(idle_sleep)
            except psycopg.OperationalError:
                log.exception("webhook worker: database unavailable; retrying")
                stop.wait(2.0)


def main() -> None:
    """Entry point: ``python -m warp.workers.webhooks``."""
    logging.basicConfig(level=logging.INFO)
    worker = WebhookWorker(database_url(), load_policy(), WebhookSettings.from_env())
    stop = threading.Event()
    try:
        worker.run(stop)
    except KeyboardInterrupt:
        stop.set()
    finally:
        worker.close()


if __name__ == "__main__":
    main()
