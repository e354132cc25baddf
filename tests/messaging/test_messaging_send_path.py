"""The one-statement send path (messaging.submit_message, SECURITY DEFINER): tenant boundary, concurrent
prepaid debits, and the outbox row it writes itself."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from messaging_helpers import Msg, build
from psycopg.rows import dict_row

from warp.db import tenant
from warp.messaging import errors
from warp.messaging.service import send_message
from warp_auth_fixtures import World

TO = "+17205550199"


@pytest.fixture
def m(world: World) -> Msg:
    return build(world)


def as_tenant(conn: psycopg.Connection[Any], account: Any) -> Any:
    return tenant.transaction(conn, tenant.Context(account_id=account, actor_type="API_KEY"))


def count(m: Msg, sql: str) -> int:
    with m.world.staff() as conn:
        return int(conn.execute(sql).fetchone()["n"])


def test_a_tenant_cannot_send_for_an_account_it_does_not_see(m: Msg) -> None:
    """Row-level security no longer applies inside the function: its own visibility test must hold."""
    with psycopg.connect(m.world.url, row_factory=dict_row) as conn:
        # Acme (a reseller) naming Globex's account and number: refused as if the number did not exist.
        with pytest.raises(errors.SenderNotFound), as_tenant(conn, m.world.acme):
            send_message(conn, account_id=m.world.globex, from_number=m.globex_local, to_number=TO, body="x")
        # A tenant of nothing (no account in the context) is refused too.
        with pytest.raises(errors.SenderNotFound), tenant.transaction(conn, tenant.Context()):
            send_message(conn, account_id=m.world.globex, from_number=m.globex_local, to_number=TO, body="x")
        # Globex itself may.
        with as_tenant(conn, m.world.globex):
            sent = send_message(
                conn, account_id=m.world.globex, from_number=m.globex_local, to_number=TO, body="x"
            )
        assert sent.result == "queued"
    assert count(m, "SELECT count(*) AS n FROM messaging.mdr") == 1


def test_a_reseller_sends_for_its_child_account(m: Msg) -> None:
    from messaging_helpers import add_campaign, add_number

    with m.world.staff() as conn:
        campaign = add_campaign(conn, m.world.acme_child)
        add_number(conn, m.world.acme_child, "+13035550177", campaign=campaign)
    with psycopg.connect(m.world.url, row_factory=dict_row) as conn, as_tenant(conn, m.world.acme):
        sent = send_message(
            conn, account_id=m.world.acme_child, from_number="+13035550177", to_number=TO, body="x"
        )
    assert sent.result == "queued" and sent.campaign_id == campaign


def test_concurrent_prepaid_sends_never_overspend(m: Msg) -> None:
    """Both sends pass the first check on the committed balance; the debit, under the row lock, lets
    only one through and the other is refused as insufficient-balance (nothing of it is kept)."""
    with m.world.staff() as conn:
        conn.execute(
            "INSERT INTO billing.account_balance (account_id, balance, billing_cycle) VALUES (%s, 0.005, 'PREPAID')",
            (m.world.acme,),
        )
    first = psycopg.connect(m.world.url, row_factory=dict_row)
    second = psycopg.connect(m.world.url, row_factory=dict_row)
    outcome: dict[str, Any] = {}
    try:
        with as_tenant(first, m.world.acme):
            one = send_message(
                first, account_id=m.world.acme, from_number=m.acme_local, to_number=TO, body="a"
            )
            assert one.result == "queued" and one.charge == Decimal("0.004")

            def other() -> None:
                try:
                    with as_tenant(second, m.world.acme):
                        send_message(
                            second, account_id=m.world.acme, from_number=m.acme_local, to_number=TO, body="b"
                        )
                    outcome["result"] = "queued"
                except errors.InsufficientBalance as exc:
                    outcome["error"] = exc

            thread = threading.Thread(target=other)
            thread.start()
            # The second send waits on the balance row lock held by the first transaction.
            with psycopg.connect(m.world.url, autocommit=True) as probe:  # superuser: sees every session
                for _ in range(400):
                    row = probe.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                        "AND query LIKE '%submit_message%'"
                    ).fetchone()
                    waiting = row[0] if row else 0
                    if waiting:
                        break
                    threading.Event().wait(0.05)
            assert waiting == 1, "the second send should wait for the first one's debit"
        thread.join(30)  # the first committed: the second re-checks the funds under the lock
    finally:
        first.close()
        second.close()
    assert "result" not in outcome
    assert isinstance(outcome["error"], errors.InsufficientBalance)
    with m.world.staff() as conn:
        balance = conn.execute(
            "SELECT balance FROM billing.account_balance WHERE account_id = %s", (m.world.acme,)
        ).fetchone()["balance"]
        mdrs = conn.execute("SELECT body, status FROM messaging.mdr").fetchall()
        ledger = conn.execute("SELECT amount FROM billing.balance_ledger").fetchall()
    assert balance == Decimal("0.001")
    assert [(r["body"], r["status"]) for r in mdrs] == [("a", "QUEUED")]
    assert [r["amount"] for r in ledger] == [Decimal("-0.004")]


def test_the_outbox_row_matches_the_route_of_the_sender(m: Msg) -> None:
    """The function resolves the route itself (the DID's own, else the account default)."""
    from warp.auth.policy import AuthPolicy
    from warp.messaging.service import set_inbound_route

    with m.world.staff() as conn:
        did = conn.execute("SELECT id FROM numbers.dids WHERE number = %s", (m.acme_local,)).fetchone()["id"]
        set_inbound_route(
            conn,
            AuthPolicy(secret_key="k"),
            account_id=m.world.acme,
            did_id=did,
            webhook_url="https://did.example/in",
            status_webhook_url="https://did.example/status",
            secret_ref="secret:webhooks/did",
        )
    with psycopg.connect(m.world.url, row_factory=dict_row) as conn, as_tenant(conn, m.world.acme):
        own = send_message(conn, account_id=m.world.acme, from_number=m.acme_local, to_number=TO, body="x")
        default = send_message(
            conn, account_id=m.world.acme, from_number=m.acme_tollfree, to_number=TO, body="y"
        )
    with m.world.staff() as conn:
        rows = {
            r["mdr_id"]: r
            for r in conn.execute(
                "SELECT mdr_id, event_type, target_url, secret_ref, payload FROM messaging.webhook_events"
            ).fetchall()
        }
    assert rows[own.id]["target_url"] == "https://did.example/status"
    assert rows[own.id]["secret_ref"] == "secret:webhooks/did"
    assert rows[default.id]["target_url"] == "http://127.0.0.1:9/hook"
    assert rows[default.id]["secret_ref"].startswith("enc:")
    payload = rows[own.id]["payload"]
    assert payload["type"] == "message.queued" and payload["data"]["message_id"] == str(own.id)
    assert payload["data"]["status"] == "queued" and payload["data"]["segments"] == 1


def test_the_read_only_role_cannot_call_the_definer_function(m: Msg) -> None:
    with psycopg.connect(m.world.url, row_factory=dict_row) as conn:
        ctx = tenant.Context(account_id=m.world.acme, role=tenant.READONLY_ROLE)
        with pytest.raises(psycopg.errors.InsufficientPrivilege), tenant.transaction(conn, ctx):
            send_message(conn, account_id=m.world.acme, from_number=m.acme_local, to_number=TO, body="x")


def test_a_send_crossing_the_low_balance_threshold_queues_balance_low(m: Msg) -> None:
    """The billing triggers fired by the debit run inside the definer function (fixed search_path)."""
    with m.world.staff() as conn:
        conn.execute(
            "INSERT INTO billing.account_balance (account_id, balance, billing_cycle, low_balance_threshold) "
            "VALUES (%s, 0.012, 'PREPAID', 0.01)",
            (m.world.acme,),
        )
    with psycopg.connect(m.world.url, row_factory=dict_row) as conn, as_tenant(conn, m.world.acme):
        sent = send_message(conn, account_id=m.world.acme, from_number=m.acme_local, to_number=TO, body="x")
    assert sent.result == "queued"
    with m.world.staff() as conn:
        types = [
            r["event_type"]
            for r in conn.execute(
                "SELECT event_type FROM messaging.webhook_events WHERE account_id = %s ORDER BY event_type",
                (m.world.acme,),
            ).fetchall()
        ]
        balance = conn.execute(
            "SELECT balance FROM billing.account_balance WHERE account_id = %s", (m.world.acme,)
        ).fetchone()["balance"]
    assert balance == Decimal("0.008")
    assert types == ["balance.low", "message.queued"]
