"""POST /v1/messages: ownership, 10DLC gate, opt-out refusal, rating, prepaid funds, throughput, isolation."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from messaging_helpers import Msg, build, events, mdr, send, wait_for_second_boundary

from warp.db import tenant
from warp.messaging import service
from warp.messaging.errors import ThroughputExceeded
from warp.messaging.service import ThroughputLimiter
from warp_auth_fixtures import World, bearer

TO = "+17205550123"


@pytest.fixture
def m(world: World) -> Msg:
    return build(world)


def test_send_queues_a_rated_mdr_and_an_outbox_event(client: TestClient, m: Msg) -> None:
    r = send(client, m.acme_key, m.acme_local, TO, "x" * 161)
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["status"] == "QUEUED" and body["segments"] == 2 and body["encoding"] == "GSM-7"
    row = mdr(m.world, body["id"])
    assert row["account_id"] == m.world.acme and row["direction"] == "OUTBOUND"
    assert row["campaign_id"] == m.acme_campaign and row["service_provider_id"] == m.provider_id
    assert row["rate"] == Decimal("0.004") and row["charge"] == Decimal("0.008")
    evs = events(m.world, body["id"])
    assert [e["event_type"] for e in evs] == ["message.queued"]
    assert evs[0]["payload"]["id"] == str(evs[0]["id"]) and evs[0]["secret_ref"].startswith("enc:")


def test_unicode_mms_and_toll_free_rates(client: TestClient, m: Msg) -> None:
    r = send(client, m.acme_key, m.acme_tollfree, TO, "zażółć")
    assert r.status_code == 202, r.text
    assert (r.json()["encoding"], r.json()["charge"]) == ("UCS-2", "0.005000")
    r = send(client, m.acme_key, m.acme_local, TO, None, extra={"media_urls": ["https://x.example/a.png"]})
    assert r.status_code == 202, r.text
    row = mdr(m.world, r.json()["id"])
    assert row["message_type"] == "MMS" and row["segments"] == 1 and row["charge"] == Decimal("0.02")
    assert send(client, m.acme_key, m.acme_local, TO, "").status_code == 422
    assert send(client, m.acme_key, m.acme_local, "+44201234567", "hi").json()["charge"] == "0.050000"


def test_idempotency_key_replays_the_first_message(client: TestClient, m: Msg) -> None:
    h = {"Idempotency-Key": "k-1"}
    a = send(client, m.acme_key, m.acme_local, TO, headers=h)
    b = send(client, m.acme_key, m.acme_local, TO, headers=h)
    assert a.status_code == b.status_code == 202 and a.json()["id"] == b.json()["id"]
    assert b.headers.get("Idempotent-Replayed") == "true"
    with m.world.staff() as conn:
        assert conn.execute("SELECT count(*) AS n FROM messaging.mdr").fetchone()["n"] == 1
    assert send(client, m.acme_key, m.acme_local, "+17205550999", headers=h).status_code == 422


def test_sender_must_be_an_active_messaging_number_of_the_account(client: TestClient, m: Msg) -> None:
    r = send(client, m.acme_key, m.globex_local, TO)
    assert (r.status_code, r.json()["type"]) == (422, "urn:warp:problem:sender-not-found")
    with m.world.staff() as conn:
        conn.execute(
            "UPDATE numbers.dids SET messaging_enabled = false WHERE number = %s", (m.acme_tollfree,)
        )
        conn.execute("UPDATE numbers.dids SET status = 'SUSPENDED' WHERE number = %s", (m.acme_local,))
    assert (
        send(client, m.acme_key, m.acme_tollfree, TO).json()["type"].endswith("sender-not-messaging-enabled")
    )
    assert send(client, m.acme_key, m.acme_local, TO).json()["type"].endswith("sender-not-found")


@pytest.mark.parametrize("status", [None, "PENDING", "REJECTED", "SUSPENDED"])
def test_10dlc_gate_for_local_senders(client: TestClient, m: Msg, status: str | None) -> None:
    if status is not None:
        with m.world.staff() as conn:
            conn.execute(
                "UPDATE messaging.campaigns_10dlc SET status = %s WHERE id = %s", (status, m.acme_campaign)
            )
    sender = m.acme_bare if status is None else m.acme_local
    r = send(client, m.acme_key, sender, TO)
    assert (r.status_code, r.json()["type"]) == (422, "urn:warp:problem:campaign-not-approved")
    assert send(client, m.acme_key, m.acme_tollfree, TO).status_code == 202  # toll-free needs no campaign


def test_opted_out_recipient_is_refused_and_recorded(client: TestClient, m: Msg) -> None:
    with m.world.staff() as conn:
        conn.execute(
            "INSERT INTO messaging.opt_outs (account_id, campaign_id, recipient_number) VALUES (%s, %s, %s)",
            (m.world.acme, m.acme_campaign, TO),
        )
    r = send(client, m.acme_key, m.acme_local, TO)
    assert (r.status_code, r.json()["type"]) == (422, "urn:warp:problem:recipient-opted-out")
    row = mdr(m.world, r.json()["message_id"])
    assert (
        row["status"] == "REJECTED" and row["error_code"] == "recipient-opted-out" and row["charge"] is None
    )
    # campaign-scoped: the toll-free sender (no campaign) may still write to them
    assert send(client, m.acme_key, m.acme_tollfree, TO).status_code == 202
    with m.world.staff() as conn:
        assert service.check_opt_out(conn, m.world.acme, m.acme_campaign, TO)
        assert not service.check_opt_out(conn, m.world.acme, None, TO)
        assert not service.check_opt_out(conn, m.world.globex, m.acme_campaign, TO)


def test_prepaid_funds_are_checked_and_debited(client: TestClient, m: Msg) -> None:
    with m.world.staff() as conn:
        conn.execute(
            "INSERT INTO billing.account_balance (account_id, balance, billing_cycle) VALUES (%s, 0.010, 'PREPAID')",
            (m.world.acme,),
        )
    ok = send(client, m.acme_key, m.acme_local, TO, "x" * 200)  # 2 segments = 0.008
    assert ok.status_code == 202, ok.text
    r = send(client, m.acme_key, m.acme_local, TO, "x" * 200)
    assert (r.status_code, r.json()["type"]) == (402, "urn:warp:problem:insufficient-balance")
    with m.world.staff() as conn:
        assert conn.execute(
            "SELECT balance FROM billing.account_balance WHERE account_id = %s", (m.world.acme,)
        ).fetchone()["balance"] == Decimal("0.002")
        ledger = conn.execute("SELECT amount, source_type, source_id FROM billing.balance_ledger").fetchall()
    assert [(x["amount"], x["source_type"], str(x["source_id"])) for x in ledger] == [
        (Decimal("-0.008"), "MDR", ok.json()["id"])
    ]


def _send_service(m: Msg, limiter: ThroughputLimiter) -> Any:
    import psycopg

    with (
        psycopg.connect(m.world.url) as conn,
        tenant.transaction(conn, tenant.Context(account_id=m.world.acme)),
    ):
        return service.send_message(
            conn, account_id=m.world.acme, from_number=m.acme_local, to_number=TO, body="hi", limiter=limiter
        )


def test_per_campaign_and_per_account_throughput(m: Msg) -> None:
    with m.world.staff() as conn:
        conn.execute(
            "UPDATE messaging.campaigns_10dlc SET throughput_mps = 2 WHERE id = %s", (m.acme_campaign,)
        )
    limiter = ThroughputLimiter(default_account_mps=1000)
    wait_for_second_boundary()
    _send_service(m, limiter)
    _send_service(m, limiter)
    with pytest.raises(ThroughputExceeded, match="campaign limit of 2"):
        _send_service(m, limiter)
    with m.world.staff() as conn:
        conn.execute(
            "UPDATE messaging.campaigns_10dlc SET throughput_mps = NULL WHERE id = %s", (m.acme_campaign,)
        )
        conn.execute(
            'UPDATE accounts.accounts SET metadata = \'{"messaging": {"max_mps": 1}}\' WHERE id = %s',
            (m.world.acme,),
        )
    limiter = ThroughputLimiter(default_account_mps=1000)
    wait_for_second_boundary()
    _send_service(m, limiter)
    with pytest.raises(ThroughputExceeded, match="account limit of 1"):
        _send_service(m, limiter)
    with m.world.staff() as conn:  # the refused messages were rolled back
        assert conn.execute("SELECT count(*) AS n FROM messaging.mdr").fetchone()["n"] == 3


def test_tenant_isolation_through_the_api(client: TestClient, m: Msg) -> None:
    mine = send(client, m.acme_key, m.acme_local, TO).json()["id"]
    theirs = send(client, m.globex_key, m.globex_local, TO).json()["id"]
    assert client.get(f"/v1/messages/{mine}", headers=bearer(m.globex_key)).status_code == 404
    assert client.get(f"/v1/messages/{theirs}", headers=bearer(m.globex_key)).status_code == 200
    listed = client.get("/v1/messages", headers=bearer(m.globex_key)).json()["data"]
    assert [x["id"] for x in listed] == [theirs]
    assert send(client, m.globex_key, m.acme_local, TO).status_code == 422
    read_only = m.world.key(m.world.acme, scopes=["messaging:read"])
    assert send(client, read_only, m.acme_local, TO).status_code == 403
