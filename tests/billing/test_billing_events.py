"""Billing events (low balance, invoice issued, payment applied / refunded) reach the customer through the
durable webhook outbox: queued in the transaction that wrote them, delivered signed to a real loopback
receiver by the webhook worker (retried after a failure), the outcome written back."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from uuid import UUID

import psycopg
import pytest
from billing_helpers import STAFF, account, assert_ledger_ok, cdrs

from warp.billing import invoices, ledger, payments
from warp.db import tenant
from warp.messaging.service import set_inbound_route
from warp.messaging.signing import verify_signature
from warp.workers.webhooks import WebhookSettings, WebhookWorker
from warp_auth_fixtures import TEST_POLICY

SECRET = "billing-hook-secret"
FAST = WebhookSettings(base_delay=0.01, max_delay=0.05, lease=timedelta(seconds=30), batch=50, concurrency=2)


class Receiver:
    """Loopback HTTP receiver answering 500 to the first ``fail_first`` requests, 200 after; records all."""

    def __init__(self, fail_first: int = 0) -> None:
        self.fail_first = fail_first
        self.requests: list[tuple[dict[str, str], bytes, int]] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                with outer.lock:
                    code = 500 if len(outer.requests) < outer.fail_first else 200
                    outer.requests.append(({k.lower(): v for k, v in self.headers.items()}, raw, code))
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/billing"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def delivered(self) -> list[dict[str, Any]]:
        return [json.loads(raw) for _, raw, code in self.requests if code == 200]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(fail_first=1)
    yield r
    r.server.shutdown()


def route(conn: psycopg.Connection[Any], acct: UUID, url: str) -> None:
    with tenant.transaction(conn, STAFF):
        set_inbound_route(
            conn, TEST_POLICY, account_id=acct, webhook_url=url, status_webhook_url=url, webhook_secret=SECRET
        )


def drain(url: str, settings: WebhookSettings = FAST, rounds: int = 200) -> None:
    worker = WebhookWorker(url, TEST_POLICY, settings)
    try:
        with psycopg.connect(url) as c:
            for _ in range(rounds):
                with tenant.transaction(c, STAFF):
                    left = c.execute(
                        "SELECT count(*) FROM messaging.webhook_events WHERE status IN ('PENDING', 'DELIVERING')"
                    ).fetchone()
                if not left or left[0] == 0:
                    return
                worker.run_once(c)
                time.sleep(0.02)
    finally:
        worker.close()


def events(conn: psycopg.Connection[Any], acct: UUID) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT id, event_type, status, delivered_at IS NOT NULL FROM billing.billing_events WHERE account_id = %s "
        "ORDER BY created_at, event_type",
        (acct,),
    ).fetchall()


def test_billing_events_are_delivered_signed_once_each(
    seeded_url: str, conn: psycopg.Connection[Any], receiver: Receiver
) -> None:
    hooked = account(conn, "HOOKED", state=None, threshold=Decimal("-10"))
    silent = account(conn, "SILENT", state=None, threshold=Decimal("-10"))
    route(conn, hooked, receiver.url)
    for acct in (hooked, silent):
        cdrs(conn, acct, n=2, charge=Decimal("10.00"), jurisdiction="INTRASTATE", day="2026-10-05")
    with tenant.transaction(conn, STAFF):  # issue: invoice.issued, and the charge crosses the -10 threshold
        invoices.run(
            conn,
            period_start=date(2026, 10, 1),
            period_end=date(2026, 10, 31),
            issue=True,
            issue_date=date(2026, 11, 1),
        )
        pid, _ = payments.record_payment(
            conn, account_id=hooked, amount=Decimal("20.00"), method="ACH", external_reference="ev-1"
        )
        payments.refund_payment(conn, pid, Decimal("5.00"), "goodwill reversal")

    queued = events(conn, hooked)
    assert [(t, s) for _, t, s, _ in queued] == [
        ("balance.low", "QUEUED"),
        ("invoice.issued", "QUEUED"),
        ("payment.applied", "QUEUED"),
        ("payment.refunded", "QUEUED"),
    ]
    assert {s for _, _, s, _ in events(conn, silent)} == {"NO_ROUTE"}  # no webhook configured: not queued
    outbox = conn.execute(
        "SELECT id, target_url FROM messaging.webhook_events ORDER BY created_at"
    ).fetchall()
    assert {r[0] for r in outbox} == {r[0] for r in queued}  # same ids, and only the hooked account's
    assert {r[1] for r in outbox} == {receiver.url}

    drain(seeded_url)

    bodies = receiver.delivered()
    assert sorted(b["type"] for b in bodies) == [
        "balance.low",
        "invoice.issued",
        "payment.applied",
        "payment.refunded",
    ]
    assert sorted(b["id"] for b in bodies) == sorted(str(r[0]) for r in queued)  # each once, stable id
    assert len(receiver.requests) == 5  # the first try failed (500) and was retried with the same id
    for headers, raw, _ in receiver.requests:
        verify_signature(SECRET, headers["x-warp-timestamp"], headers["x-warp-signature"], raw)
        assert json.loads(raw)["id"] == headers["x-warp-event-id"]
    by_type = {b["type"]: b["data"] for b in bodies}
    assert by_type["invoice.issued"]["total"] == "20.00"
    assert by_type["balance.low"]["balance"] == "-20.00"
    assert by_type["payment.refunded"]["amount"] == "5.00"
    assert [r["amount"] for r in by_type["payment.refunded"]["reopened_invoices"]] == ["5.00"]

    assert [(t, s, d) for _, t, s, d in events(conn, hooked)] == [
        ("balance.low", "DELIVERED", True),
        ("invoice.issued", "DELIVERED", True),
        ("payment.applied", "DELIVERED", True),
        ("payment.refunded", "DELIVERED", True),
    ]
    assert_ledger_ok(conn)


def test_a_tenant_debit_queues_its_low_balance_event_under_rls(
    seeded_url: str, conn: psycopg.Connection[Any], receiver: Receiver
) -> None:
    acct = account(conn, "PREPAID-HOOK", cycle="PREPAID", balance=Decimal("10"), threshold=Decimal("5"))
    route(conn, acct, receiver.url)
    with tenant.transaction(conn, tenant.Context(account_id=acct)):  # role warp_app, row-level security on
        ledger.debit(conn, acct, Decimal("6"))
    assert [(t, s) for _, t, s, _ in events(conn, acct)] == [("balance.low", "QUEUED")]
    drain(seeded_url)
    assert [b["type"] for b in receiver.delivered()] == ["balance.low"]
    assert [s for _, _, s, _ in events(conn, acct)] == ["DELIVERED"]


def test_an_undeliverable_event_ends_failed(seeded_url: str, conn: psycopg.Connection[Any]) -> None:
    acct = account(conn, "DEAD-HOOK", balance=Decimal("10"), threshold=Decimal("5"))
    route(conn, acct, "http://127.0.0.1:9/closed")
    with tenant.transaction(conn, STAFF):
        ledger.debit(conn, acct, Decimal("6"))
    drain(seeded_url, WebhookSettings(base_delay=0.01, max_delay=0.02, horizon=timedelta(0), batch=10))
    assert [(t, s, d) for _, t, s, d in events(conn, acct)] == [("balance.low", "FAILED", False)]
