"""Messaging test world: rates, a loopback vendor, numbers created directly with SQL as staff."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from warp.messaging.secrets import encrypt_secret
from warp.messaging.service import set_inbound_route
from warp.messaging.signing import signed_headers
from warp_auth_fixtures import TEST_POLICY, World, bearer

VENDOR = "loop-sms"
VENDOR_SECRET = "vendor-callback-secret"
WEBHOOK_SECRET = "customer-webhook-secret"


@dataclass
class Msg:
    world: World
    provider_id: uuid.UUID
    acme_key: str
    globex_key: str
    acme_local: str  # assigned to an APPROVED campaign
    acme_campaign: uuid.UUID
    acme_tollfree: str
    acme_bare: str  # local, no campaign
    globex_local: str
    globex_campaign: uuid.UUID


def add_number(
    conn: Any,
    account: uuid.UUID,
    number: str,
    *,
    kind: str = "DID",
    messaging: bool = True,
    campaign: uuid.UUID | None = None,
) -> uuid.UUID:
    inv = conn.execute(
        "INSERT INTO numbers.inventory (number, number_type, status) VALUES (%s, %s, 'ACTIVE') RETURNING id",
        (number, kind),
    ).fetchone()["id"]
    return conn.execute(
        "INSERT INTO numbers.dids (account_id, inventory_id, number, messaging_enabled, campaign_id, e911_exempt, "
        "e911_exempt_reason) VALUES (%s, %s, %s, %s, %s, true, 'test') RETURNING id",
        (account, inv, number, messaging, campaign),
    ).fetchone()["id"]


def add_campaign(conn: Any, account: uuid.UUID, status: str = "APPROVED", **kw: Any) -> uuid.UUID:
    brand = conn.execute(
        "INSERT INTO messaging.brands_10dlc (account_id, legal_name, entity_type, status) "
        "VALUES (%s, 'Brand', 'PRIVATE_PROFIT', 'VERIFIED') RETURNING id",
        (account,),
    ).fetchone()["id"]
    return conn.execute(
        "INSERT INTO messaging.campaigns_10dlc (account_id, brand_id, name, use_case, description, sample_messages, "
        "status, opt_out_message, help_message, opt_in_message, throughput_mps) "
        "VALUES (%s, %s, 'c', 'MIXED', 'd', '{hello}', %s, %s, %s, %s, %s) RETURNING id",
        (account, brand, status, kw.get("opt_out"), kw.get("help"), kw.get("opt_in"), kw.get("mps")),
    ).fetchone()["id"]


def rate_plan(conn: Any, accounts: list[uuid.UUID]) -> None:
    plan = conn.execute("INSERT INTO billing.rate_plans (name) VALUES ('msg-test') RETURNING id").fetchone()[
        "id"
    ]
    for mtype, direction, dest, rate in [
        ("SMS", "OUTBOUND", "DOMESTIC", "0.004000"),
        ("SMS", "OUTBOUND", "INTERNATIONAL", "0.050000"),
        ("SMS", "OUTBOUND", "TOLL_FREE", "0.005000"),
        ("SMS", "INBOUND", "DOMESTIC", "0.001000"),
        ("SMS", "INBOUND", "TOLL_FREE", "0.001000"),
        ("MMS", "OUTBOUND", "DOMESTIC", "0.020000"),
        ("MMS", "OUTBOUND", "TOLL_FREE", "0.020000"),
        ("MMS", "INBOUND", "DOMESTIC", "0.010000"),
    ]:
        conn.execute(
            "INSERT INTO billing.messaging_rates (rate_plan_id, message_type, direction, destination_type, rate, "
            "effective_date) VALUES (%s, %s, %s, %s, %s, '2020-01-01')",
            (plan, mtype, direction, dest, rate),
        )
    for a in accounts:
        conn.execute(
            "INSERT INTO billing.account_rate_plans (account_id, rate_plan_id, effective_at) "
            "VALUES (%s, %s, '2020-01-01')",
            (a, plan),
        )


def build(world: World, webhook_url: str = "http://127.0.0.1:9/hook") -> Msg:
    with world.staff() as conn:
        provider = conn.execute(
            "INSERT INTO vendor_mgmt.service_providers (name, provider_type, capabilities, config, priority) "
            "VALUES (%s, 'loopback', '{sms,mms}', %s, 10) RETURNING id",
            (VENDOR, json.dumps({"callback_secret_ref": encrypt_secret(TEST_POLICY, VENDOR_SECRET)})),
        ).fetchone()["id"]
        rate_plan(conn, [world.acme, world.acme_child, world.globex])
        acme_campaign = add_campaign(
            conn, world.acme, opt_out="Acme: unsubscribed.", help="Acme help: call us."
        )
        globex_campaign = add_campaign(conn, world.globex)
        add_number(conn, world.acme, "+13035550100", campaign=acme_campaign)
        add_number(conn, world.acme, "+18005550100", kind="TOLL_FREE")
        add_number(conn, world.acme, "+13035550101")
        add_number(conn, world.globex, "+12125550100", campaign=globex_campaign)
        for account in (world.acme, world.globex):
            set_inbound_route(
                conn, TEST_POLICY, account_id=account, webhook_url=webhook_url, webhook_secret=WEBHOOK_SECRET
            )
    return Msg(
        world=world,
        provider_id=provider,
        acme_key=world.key(world.acme),
        globex_key=world.key(world.globex),
        acme_local="+13035550100",
        acme_campaign=acme_campaign,
        acme_tollfree="+18005550100",
        acme_bare="+13035550101",
        globex_local="+12125550100",
        globex_campaign=globex_campaign,
    )


def send(client: Any, key: str, frm: str, to: str, body: str | None = "hello", **kw: Any) -> Any:
    payload: dict[str, Any] = {"from": frm, "to": to}
    if body is not None:
        payload["body"] = body
    payload.update(kw.pop("extra", {}))
    return client.post("/v1/messages", json=payload, headers={**bearer(key), **kw.pop("headers", {})})


def vendor_post(
    client: Any, path: str, payload: dict[str, Any], *, secret: str = VENDOR_SECRET, now: float | None = None
) -> Any:
    raw = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", **signed_headers(secret, raw, now=now)}
    return client.post(f"/v1/vendor-callbacks/{VENDOR}/{path}", content=raw, headers=headers)


def inbound(client: Any, frm: str, to: str, body: str, vendor_id: str | None = None) -> Any:
    return vendor_post(
        client,
        "inbound",
        {"from": frm, "to": to, "body": body, "vendor_message_id": vendor_id or uuid.uuid4().hex},
    )


def mdr(world: World, message_id: Any) -> dict[str, Any]:
    with world.staff() as conn:
        return conn.execute("SELECT * FROM messaging.mdr WHERE id = %s", (message_id,)).fetchone()


def events(world: World, message_id: Any = None) -> list[dict[str, Any]]:
    with world.staff() as conn:
        if message_id is None:
            return conn.execute("SELECT * FROM messaging.webhook_events ORDER BY created_at, id").fetchall()
        return conn.execute(
            "SELECT * FROM messaging.webhook_events WHERE mdr_id = %s ORDER BY created_at, id", (message_id,)
        ).fetchall()


def wait_for_second_boundary() -> None:
    """Start just after a one-second window opens, so a few quick sends share one window."""
    time.sleep(1.02 - time.time() % 1)


class VendorServer:
    """A real HTTP vendor on loopback (ephemeral port): ``/ok`` answers ``{"id": ...}``, ``/fail`` 503,
    ``/slow`` answers after ``delay`` seconds, ``/noid`` 200 without an id. Records every request."""

    def __init__(self, delay: float = 2.0) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.delay = delay
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.first = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with outer.lock:
                    outer.requests.append(
                        {"path": self.path, "headers": dict(self.headers), "json": json.loads(raw)}
                    )
                    n = len(outer.requests)
                outer.first.set()
                if self.path.startswith("/slow"):
                    time.sleep(outer.delay)
                if self.path.startswith("/fail"):
                    self._answer(503, b'{"error": "overloaded"}')
                elif self.path.startswith("/noid"):
                    self._answer(200, b"{}")
                else:
                    self._answer(200, json.dumps({"id": f"v-{n}"}).encode())

            def _answer(self, code: int, body: bytes) -> None:
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client gave up (timeout test)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def message_ids(self) -> list[str]:
        with self.lock:
            return [r["json"]["id"] for r in self.requests]


def add_provider(
    conn: Any, name: str, provider_type: str, config: dict[str, Any], priority: int, caps: str = "{sms,mms}"
) -> uuid.UUID:
    return conn.execute(
        "INSERT INTO vendor_mgmt.service_providers (name, provider_type, capabilities, config, priority) "
        "VALUES (%s, %s, %s, %s, %s) RETURNING id",
        (name, provider_type, caps, json.dumps(config), priority),
    ).fetchone()["id"]


def queue(m: Msg, count: int, frm: str | None = None) -> list[uuid.UUID]:
    """Accept ``count`` messages from Acme (service layer, tenant transaction): their ids."""
    import psycopg
    from psycopg.rows import dict_row

    from warp.db import tenant
    from warp.messaging.service import send_message

    ids = []
    with psycopg.connect(m.world.url, row_factory=dict_row) as conn:
        for i in range(count):
            with tenant.transaction(conn, tenant.Context(account_id=m.world.acme, actor_type="API_KEY")):
                sent = send_message(
                    conn,
                    account_id=m.world.acme,
                    from_number=frm or m.acme_local,
                    to_number=f"+1720555{i:04d}",
                    body=f"message {i}",
                )
            assert sent.result == "queued"
            ids.append(sent.id)
    return ids


def statuses(m: Msg, ids: list[uuid.UUID]) -> dict[str, int]:
    with m.world.staff() as conn:
        rows = conn.execute(
            "SELECT status, count(*) AS n FROM messaging.mdr WHERE id = ANY(%s) GROUP BY status", (ids,)
        ).fetchall()
    return {r["status"]: r["n"] for r in rows}
