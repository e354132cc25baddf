"""Webhook outbox delivery to a real HTTP receiver on loopback: retries, order, signatures, crash safety."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from messaging_helpers import WEBHOOK_SECRET, Msg, build, inbound, send, vendor_post
from psycopg.rows import dict_row

from warp.db import tenant
from warp.messaging.dispatch import dispatch_once, load_providers
from warp.messaging.errors import InvalidSignature
from warp.messaging.signing import sign, signed_headers, verify_signature
from warp.workers.webhooks import WebhookSettings, WebhookWorker, backoff
from warp_auth_fixtures import TEST_POLICY, World

PEER = "+17205550123"


class Receiver:
    """A loopback HTTP receiver: fails the first ``fail_first`` requests with 500, records everything."""

    def __init__(self, fail_first: int = 0, hang_first: bool = False) -> None:
        self.fail_first = fail_first
        self.hang_first = hang_first
        self.release = threading.Event()
        self.got_first = threading.Event()
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                with outer.lock:
                    n = len(outer.requests)
                    outer.requests.append({"headers": dict(self.headers), "raw": raw})
                if n == 0 and outer.hang_first:
                    outer.got_first.set()
                    outer.release.wait(10)
                code = 500 if n < outer.fail_first else 200
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()

    def delivered(self) -> list[dict[str, Any]]:
        """Parsed bodies of requests answered 200."""
        return [json.loads(r["raw"]) for i, r in enumerate(self.requests) if i >= self.fail_first]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(fail_first=2)
    yield r
    r.close()


FAST = WebhookSettings(base_delay=0.01, max_delay=0.05, lease=timedelta(seconds=30), batch=50, concurrency=4)


def drain(url: str, settings: WebhookSettings = FAST, rounds: int = 60) -> None:
    worker = WebhookWorker(url, TEST_POLICY, settings)
    try:
        with psycopg.connect(url) as conn:
            for _ in range(rounds):
                with tenant.transaction(conn, tenant.Context(staff=True)):
                    left = conn.execute(
                        "SELECT count(*) FROM messaging.webhook_events WHERE status IN ('PENDING', 'DELIVERING')"
                    ).fetchone()
                if not left or left[0] == 0:
                    return
                worker.run_once(conn)
                time.sleep(0.03)
    finally:
        worker.close()


def test_retries_order_and_signatures(client: TestClient, world: World, receiver: Receiver) -> None:
    m: Msg = build(world, webhook_url=receiver.url)
    mid = send(client, m.acme_key, m.acme_local, PEER).json()["id"]
    with psycopg.connect(world.url, row_factory=dict_row) as conn:
        with tenant.transaction(conn, tenant.Context(staff=True)):
            providers = load_providers(conn, TEST_POLICY)
        dispatch_once(conn, providers)
    vendor_post(client, "dlr", {"message_id": mid, "status": "delivered"})
    drain(world.url)

    for req in receiver.requests:  # every request, failed or not, is signed over its raw body
        h = {k.lower(): v for k, v in req["headers"].items()}
        verify_signature(WEBHOOK_SECRET, h["x-warp-timestamp"], h["x-warp-signature"], req["raw"])
        assert json.loads(req["raw"])["id"] == h["x-warp-event-id"]
    bodies = receiver.delivered()
    assert [b["type"] for b in bodies] == ["message.queued", "message.sent", "message.delivered"]
    assert {b["data"]["message_id"] for b in bodies} == {mid}
    # the first event failed twice and was retried with the same id: 3 attempts, then one each
    first_id = bodies[0]["id"]
    assert [json.loads(r["raw"])["id"] for r in receiver.requests[:3]] == [first_id] * 3
    with world.staff() as conn:
        attempts = conn.execute(
            "SELECT attempt, status_code, latency_ms, error, mdr_id FROM messaging.webhook_attempts "
            "WHERE webhook_event_id = %s ORDER BY attempt",
            (first_id,),
        ).fetchall()
        statuses = conn.execute("SELECT DISTINCT status FROM messaging.webhook_events").fetchall()
    assert [(a["attempt"], a["status_code"]) for a in attempts] == [(1, 500), (2, 500), (3, 200)]
    assert attempts[0]["error"] == "HTTP 500" and str(attempts[0]["mdr_id"]) == mid
    assert [s["status"] for s in statuses] == ["DELIVERED"]


def test_events_expire_after_the_horizon(client: TestClient, world: World) -> None:
    dead = Receiver(fail_first=10**6)
    try:
        m = build(world, webhook_url=dead.url)
        inbound(client, PEER, m.acme_local, "hello")
        drain(world.url, WebhookSettings(horizon=timedelta(seconds=0), base_delay=0.01), rounds=3)
    finally:
        dead.close()
    with world.staff() as conn:
        rows = conn.execute("SELECT status, attempt_count FROM messaging.webhook_events").fetchall()
    assert [(r["status"], r["attempt_count"]) for r in rows] == [("EXPIRED", 1)]


def test_worker_crash_loses_nothing_and_redelivers_with_the_same_id(client: TestClient, world: World) -> None:
    hanging = Receiver(hang_first=True)
    try:
        m = build(world, webhook_url=hanging.url)
        inbound(client, PEER, m.acme_local, "hello")
        env = {
            **os.environ,
            "WARP_DATABASE_URL": world.url,
            "WARP_SECRET_KEY": "test-secret-key",
            "WARP_WEBHOOK_LEASE_SECONDS": "1",
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "warp.workers.webhooks"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            assert hanging.got_first.wait(30), "the worker never delivered"
            proc.send_signal(signal.SIGKILL)  # crash mid-request: no outcome is recorded
            proc.wait(10)
        finally:
            if proc.poll() is None:
                proc.kill()
        hanging.release.set()
        with world.staff() as conn:
            ev = conn.execute("SELECT status, attempt_count FROM messaging.webhook_events").fetchone()
        assert (ev["status"], ev["attempt_count"]) == ("DELIVERING", 1)
        time.sleep(1.1)  # the crashed worker's lease runs out
        drain(world.url)
    finally:
        hanging.close()
    ids = [json.loads(r["raw"])["id"] for r in hanging.requests]
    assert len(ids) == 2 and ids[0] == ids[1]  # at least once, same event id for dedup
    with world.staff() as conn:
        ev = conn.execute("SELECT status, attempt_count FROM messaging.webhook_events").fetchone()
        attempts = conn.execute("SELECT attempt, status_code FROM messaging.webhook_attempts").fetchall()
    assert (ev["status"], ev["attempt_count"]) == ("DELIVERED", 2)
    assert [(a["attempt"], a["status_code"]) for a in attempts] == [(2, 200)]


def test_secret_is_not_stored_in_clear(world: World) -> None:
    build(world)
    with world.staff() as conn:
        refs = [
            r["webhook_secret_ref"]
            for r in conn.execute("SELECT webhook_secret_ref FROM messaging.inbound_routes")
        ]
    assert refs and all(r.startswith("enc:") and WEBHOOK_SECRET not in r for r in refs)


def test_verification_helper() -> None:
    body = b'{"id":"e1"}'
    now = 1_800_000_000
    h = signed_headers("s3cret", body, now=now)
    verify_signature("s3cret", h["X-Warp-Timestamp"], h["X-Warp-Signature"], body, now=now + 299)
    assert h["X-Warp-Signature"] == sign("s3cret", now, body) and len(h["X-Warp-Signature"]) == 64
    for secret, ts, sig, raw, at in [
        ("s3cret", h["X-Warp-Timestamp"], h["X-Warp-Signature"], body, now + 301),  # older than 5 minutes
        ("other", h["X-Warp-Timestamp"], h["X-Warp-Signature"], body, now),
        ("s3cret", h["X-Warp-Timestamp"], h["X-Warp-Signature"], body + b" ", now),
        ("s3cret", str(now + 1), h["X-Warp-Signature"], body, now),  # timestamp is signed too
        ("s3cret", None, h["X-Warp-Signature"], body, now),
    ]:
        with pytest.raises(InvalidSignature):
            verify_signature(secret, ts, sig, raw, now=at)


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    s = WebhookSettings(base_delay=5, max_delay=3600)
    for attempt, full in [(1, 5), (2, 10), (5, 80), (20, 3600)]:
        values = [backoff(attempt, s) for _ in range(50)]
        assert all(full / 2 <= v <= full for v in values)
        assert len(set(values)) > 1
