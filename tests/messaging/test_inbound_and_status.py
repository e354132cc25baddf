"""Vendor side: signed callbacks, DLR status never moving backwards, inbound keywords and routing."""

from __future__ import annotations

import time

import psycopg
import pytest
from fastapi.testclient import TestClient
from messaging_helpers import Msg, build, events, inbound, mdr, send, vendor_post
from psycopg.rows import dict_row

from warp.db import tenant
from warp.messaging.dispatch import dispatch_once, load_providers
from warp.messaging.service import DEFAULT_START_REPLY
from warp_auth_fixtures import TEST_POLICY, World

PEER = "+17205550123"


@pytest.fixture
def m(world: World) -> Msg:
    return build(world)


def dispatch(m: Msg) -> None:
    with psycopg.connect(m.world.url, row_factory=dict_row) as conn:
        with tenant.transaction(conn, tenant.Context(staff=True)):
            providers = load_providers(conn, TEST_POLICY)
        dispatch_once(conn, providers)


def test_dispatch_and_receipts_only_move_forward(client: TestClient, m: Msg) -> None:
    mid = send(client, m.acme_key, m.acme_local, PEER).json()["id"]
    dispatch(m)
    row = mdr(m.world, mid)
    assert row["status"] == "SENT" and row["vendor_message_ref"] == f"loop-{mid}" and row["sent_at"]
    ref = row["vendor_message_ref"]
    r = vendor_post(client, "dlr", {"vendor_message_id": ref, "status": "delivered"})
    assert r.status_code == 200 and r.json() == {"message_id": mid, "status": "DELIVERED", "changed": True}
    for late in ("sent", "sending", "delivered", "failed", "undelivered"):
        r = vendor_post(client, "dlr", {"vendor_message_id": ref, "status": late, "error_code": "30003"})
        assert r.json()["changed"] is False and r.json()["status"] == "DELIVERED"
    row = mdr(m.world, mid)
    assert row["status"] == "DELIVERED" and row["error_code"] is None and row["delivered_at"]
    assert [e["event_type"] for e in events(m.world, mid)] == [
        "message.queued",
        "message.sent",
        "message.delivered",
    ]


def test_failure_receipt_carries_the_error_code(client: TestClient, m: Msg) -> None:
    mid = send(client, m.acme_key, m.acme_local, PEER).json()["id"]
    dispatch(m)
    r = vendor_post(
        client,
        "dlr",
        {"message_id": mid, "status": "UNDELIVERED", "error_code": "30003", "error_message": "unreachable"},
    )
    assert r.json()["status"] == "UNDELIVERED"
    assert mdr(m.world, mid)["error_code"] == "30003"
    assert vendor_post(client, "dlr", {"vendor_message_id": "nope", "status": "sent"}).status_code == 404


def test_vendor_refusal_fails_the_message(client: TestClient, m: Msg) -> None:
    with m.world.staff() as conn:
        conn.execute(
            "UPDATE vendor_mgmt.service_providers SET config = config || %s::jsonb",
            ('{"fail_to": "+17205550666"}',),
        )
    mid = send(client, m.acme_key, m.acme_local, "+17205550666").json()["id"]
    dispatch(m)
    row = mdr(m.world, mid)
    assert (row["status"], row["error_code"]) == ("FAILED", "vendor-rejected")


def test_callbacks_must_be_signed_by_the_vendor(client: TestClient, m: Msg) -> None:
    payload = {"vendor_message_id": "x", "status": "sent"}
    r = client.post("/v1/vendor-callbacks/loop-sms/dlr", json=payload)
    assert r.status_code == 401
    assert vendor_post(client, "dlr", payload, secret="wrong").status_code == 401
    assert vendor_post(client, "dlr", payload, now=time.time() - 301).status_code == 401
    assert client.post("/v1/vendor-callbacks/nobody/dlr", json=payload).status_code == 401


def test_stop_start_help_end_to_end(client: TestClient, m: Msg) -> None:
    r = inbound(client, PEER, m.acme_local, " stop ")
    assert r.status_code == 200, r.text
    first = r.json()
    assert first["keyword"] == "STOP" and first["reply_id"] and first["route"] == "WEBHOOK"
    msg = mdr(m.world, first["message_id"])
    assert (msg["direction"], msg["status"], msg["account_id"]) == ("INBOUND", "RECEIVED", m.world.acme)
    reply = mdr(m.world, first["reply_id"])
    assert (reply["from_number"], reply["to_number"], reply["body"]) == (
        m.acme_local,
        PEER,
        "Acme: unsubscribed.",
    )
    assert reply["status"] == "QUEUED" and reply["metadata"]["auto_reply"] == "STOP"
    with m.world.staff() as conn:
        opt = conn.execute("SELECT * FROM messaging.opt_outs").fetchall()
    assert [(o["account_id"], o["campaign_id"], o["recipient_number"]) for o in opt] == [
        (m.world.acme, m.acme_campaign, PEER)
    ]
    # STOP again: no second confirmation
    assert inbound(client, PEER, m.acme_local, "UNSUBSCRIBE").json()["reply_id"] is None
    refused = send(client, m.acme_key, m.acme_local, PEER)
    assert refused.json()["type"].endswith("recipient-opted-out")
    assert send(client, m.acme_key, m.acme_tollfree, PEER).status_code == 202  # other scope
    # HELP answers every time
    h1 = inbound(client, PEER, m.acme_local, "help").json()["reply_id"]
    h2 = inbound(client, PEER, m.acme_local, "INFO").json()["reply_id"]
    assert h1 and h2 and mdr(m.world, h1)["body"] == "Acme help: call us."
    # START removes the opt-out and confirms (default text)
    s = inbound(client, PEER, m.acme_local, "Start").json()
    assert s["keyword"] == "START" and mdr(m.world, s["reply_id"])["body"] == DEFAULT_START_REPLY
    assert send(client, m.acme_key, m.acme_local, PEER).status_code == 202
    # a keyword inside a sentence is just a message
    assert inbound(client, PEER, m.acme_local, "please stop calling").json()["keyword"] is None
    with m.world.staff() as conn:
        assert conn.execute("SELECT count(*) AS n FROM messaging.opt_outs").fetchone()["n"] == 0


def test_stop_to_a_toll_free_number_opts_out_of_the_account(client: TestClient, m: Msg) -> None:
    inbound(client, PEER, m.acme_tollfree, "STOP")
    assert send(client, m.acme_key, m.acme_local, PEER).json()["type"].endswith("recipient-opted-out")
    assert send(client, m.globex_key, m.globex_local, PEER).status_code == 202  # other tenant unaffected


def test_inbound_routing_and_vendor_retries(client: TestClient, m: Msg) -> None:
    r1 = inbound(client, PEER, m.acme_local, "hi there", vendor_id="v-1").json()
    r2 = inbound(client, PEER, m.acme_local, "hi there", vendor_id="v-1").json()
    assert r2["duplicate"] and r2["message_id"] == r1["message_id"]
    evs = events(m.world, r1["message_id"])
    assert [e["event_type"] for e in evs] == ["message.received"]
    assert evs[0]["payload"]["data"]["body"] == "hi there" and evs[0]["account_id"] == m.world.acme
    with m.world.staff() as conn:
        conn.execute(
            "UPDATE messaging.inbound_routes SET route_type = 'STORE' WHERE account_id = %s", (m.world.acme,)
        )
    r3 = inbound(client, PEER, m.acme_local, "stored only").json()
    assert r3["route"] == "STORE" and events(m.world, r3["message_id"]) == []
    assert inbound(client, PEER, "+19995550000", "to nobody").status_code == 404
