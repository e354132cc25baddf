"""Group submit (warp.messaging.coalesce): sends of one tenant context queued for the database slot
go in one transaction, each with its own outcome; failures fall back to one send at a time.

A group is built deterministically: the test holds the slot, queues the sends, then lets go. Which
sends shared a transaction is read from the rows (``xmin``), never from timings."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import anyio
import psycopg
import pytest
from fastapi.testclient import TestClient
from messaging_helpers import Msg, build, send, wait_for_second_boundary
from psycopg_pool import ConnectionPool

from warp.api.app import create_app
from warp.auth import tokens
from warp.auth.policy import AuthPolicy
from warp.db.tenant import Context
from warp.messaging import errors
from warp.messaging.coalesce import CommitUnknown, Outcome, SendCoalescer
from warp.messaging.service import Outbound, Submitted, ThroughputLimiter
from warp_auth_fixtures import TEST_POLICY, World

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def m(world: World) -> Msg:
    return build(world)


@pytest.fixture
def pool(world: World) -> Iterator[ConnectionPool[Any]]:
    with ConnectionPool(world.url, min_size=1, max_size=3, open=True) as p:
        yield p


def ctx(account: Any) -> Context:
    return Context(account_id=account, actor_type="API_KEY", actor_id=account)


def msg(frm: str, to: str, body: str | None = "hello") -> Outbound:
    return Outbound(frm, to, body)


async def in_groups(co: SendCoalescer, sends: list[tuple[Context, Outbound]]) -> list[Outcome]:
    """Send concurrently while the slot is held, so every send is queued; then free the slot."""
    assert co.slots is not None
    results: list[Outcome | None] = [None] * len(sends)

    async def one(i: int, context: Context, message: Outbound) -> None:
        try:
            results[i] = await co.send(context, f"req-{i}", message)
        except Exception as exc:
            results[i] = exc

    await co.slots.acquire()
    async with anyio.create_task_group() as tg:
        for i, (context, message) in enumerate(sends):
            tg.start_soon(one, i, context, message)
        contexts = {c for c, _ in sends}
        while sum(co.queued(c) for c in contexts) < len(sends):
            await anyio.sleep(0)
        co.slots.release()
    assert all(r is not None for r in results)
    return [r for r in results if r is not None]


def rows(m: Msg, sql: str = "") -> list[dict[str, Any]]:
    with m.world.staff() as conn:
        return conn.execute(
            "SELECT m.id, m.to_number, m.account_id, m.status, m.xmin::text AS tx, "
            "(SELECT count(*) FROM messaging.webhook_events e WHERE e.mdr_id = m.id) AS events "
            f"FROM messaging.mdr m {sql} ORDER BY m.to_number"
        ).fetchall()


def coalescer(pool: ConnectionPool[Any], mps: int = 1000) -> SendCoalescer:
    return SendCoalescer(pool, anyio.Semaphore(1), ThroughputLimiter(default_account_mps=mps))


async def test_queued_sends_of_one_account_share_one_transaction(m: Msg, pool: ConnectionPool[Any]) -> None:
    co = coalescer(pool)
    tos = [f"+1720555000{i}" for i in range(5)]
    out = await in_groups(co, [(ctx(m.world.acme), msg(m.acme_local, to, f"hi {to}")) for to in tos])
    assert all(isinstance(o, Submitted) and o.result == "queued" for o in out)
    found = rows(m)
    assert len({r["tx"] for r in found}) == 1, "one transaction for the group"
    by_id = {r["id"]: r for r in found}
    # Each send got its own message back, with its own outbox row.
    assert [by_id[o.id]["to_number"] for o in out if isinstance(o, Submitted)] == tos
    assert [r["events"] for r in found] == [1] * 5
    # Nothing left behind: the next send leads its own group (a later transaction).
    alone = await co.send(ctx(m.world.acme), "req-x", msg(m.acme_local, "+17205559999"))
    assert alone.result == "queued" and co.queued(ctx(m.world.acme)) == 0
    assert len({r["tx"] for r in rows(m)}) == 2


async def test_a_mixed_group_gives_each_message_its_own_outcome(m: Msg, pool: ConnectionPool[Any]) -> None:
    with m.world.staff() as conn:
        conn.execute(
            "INSERT INTO messaging.opt_outs (account_id, campaign_id, recipient_number, keyword, source) "
            "VALUES (%s, NULL, '+17205550001', 'STOP', 'KEYWORD')",
            (m.world.acme,),
        )
    a = ctx(m.world.acme)
    out = await in_groups(
        coalescer(pool),
        [
            (a, msg(m.acme_local, "+17205550001")),  # opted out
            (a, msg(m.acme_local, "+17205550002")),  # good
            (a, msg(m.globex_local, "+17205550003")),  # not Acme's number
            (a, msg(m.acme_bare, "+17205550004")),  # local number without a campaign
            (a, msg(m.acme_local, "+17205550005", None)),  # empty SMS
        ],
    )
    opted, good = out[0], out[1]
    assert isinstance(opted, Submitted) and opted.result == "recipient-opted-out"
    assert isinstance(good, Submitted) and good.result == "queued"
    assert isinstance(out[2], errors.SenderNotFound)
    assert isinstance(out[3], errors.CampaignNotApproved)
    assert isinstance(out[4], errors.InvalidMessage)
    found = rows(m)
    assert [(r["id"], r["status"], r["events"]) for r in found] == [
        (opted.id, "REJECTED", 1),
        (good.id, "QUEUED", 1),
    ]
    assert found[0]["tx"] == found[1]["tx"]


async def test_a_failing_group_falls_back_to_single_sends(m: Msg, pool: ConnectionPool[Any]) -> None:
    """An unexpected error fails only its own message: no MDR or outbox row lost or written twice."""
    with psycopg.connect(m.world.url, autocommit=True) as conn:  # superuser
        conn.execute(
            "CREATE FUNCTION public.refuse_666() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF NEW.to_number = '+17205550666' THEN RAISE EXCEPTION 'unexpected failure'; END IF; "
            "RETURN NEW; END $$"
        )
        conn.execute(
            "CREATE TRIGGER refuse_666 BEFORE INSERT ON messaging.mdr FOR EACH ROW "
            "EXECUTE FUNCTION public.refuse_666()"
        )
    a = ctx(m.world.acme)
    tos = ["+17205550001", "+17205550666", "+17205550003"]
    out = await in_groups(coalescer(pool), [(a, msg(m.acme_local, to)) for to in tos])
    assert isinstance(out[0], Submitted) and isinstance(out[2], Submitted)
    assert isinstance(out[1], psycopg.errors.RaiseException)
    found = rows(m)
    assert [(r["id"], r["to_number"], r["events"]) for r in found] == [
        (out[0].id, tos[0], 1),
        (out[2].id, tos[2], 1),
    ]
    assert found[0]["tx"] != found[1]["tx"], "sent one by one after the group failed"


async def test_prepaid_funds_are_checked_message_by_message_in_a_group(
    m: Msg, pool: ConnectionPool[Any]
) -> None:
    with m.world.staff() as conn:
        conn.execute(
            "INSERT INTO billing.account_balance (account_id, balance, billing_cycle) VALUES (%s, 0.010, 'PREPAID')",
            (m.world.acme,),
        )
    a = ctx(m.world.acme)
    out = await in_groups(coalescer(pool), [(a, msg(m.acme_local, f"+1720555000{i}")) for i in range(4)])
    assert [type(o).__name__ for o in out] == [
        "Submitted",
        "Submitted",
        "InsufficientBalance",
        "InsufficientBalance",
    ]
    with m.world.staff() as conn:
        balance = conn.execute(
            "SELECT balance FROM billing.account_balance WHERE account_id = %s", (m.world.acme,)
        ).fetchone()["balance"]
        ledger = conn.execute("SELECT amount FROM billing.balance_ledger").fetchall()
    assert balance == Decimal("0.002")
    assert [r["amount"] for r in ledger] == [Decimal("-0.004")] * 2
    found = rows(m)
    assert len(found) == 2 and found[0]["tx"] == found[1]["tx"]


async def test_throughput_counts_each_message_of_a_group(m: Msg, pool: ConnectionPool[Any]) -> None:
    co = coalescer(pool, mps=3)
    a = ctx(m.world.acme)
    wait_for_second_boundary()
    out = await in_groups(co, [(a, msg(m.acme_local, f"+1720555000{i}")) for i in range(5)])
    assert [type(o).__name__ for o in out] == ["Submitted"] * 3 + ["ThroughputExceeded"] * 2
    with pytest.raises(errors.ThroughputExceeded):  # the group used the second's three
        await co.send(a, "req-x", msg(m.acme_local, "+17205550009"))
    found = rows(m)
    assert [r["to_number"] for r in found] == [f"+1720555000{i}" for i in range(3)]
    assert len({r["tx"] for r in found}) == 1


async def test_two_accounts_never_share_a_transaction(m: Msg, pool: ConnectionPool[Any]) -> None:
    a, g = ctx(m.world.acme), ctx(m.world.globex)
    out = await in_groups(
        coalescer(pool),
        [
            (a, msg(m.acme_local, "+17205550001")),
            (g, msg(m.globex_local, "+17205550002")),
            (a, msg(m.acme_local, "+17205550003")),
            (g, msg(m.globex_local, "+17205550004")),
            (a, msg(m.globex_local, "+17205550005")),  # Acme naming Globex's number
        ],
    )
    assert isinstance(out[4], errors.SenderNotFound)
    found = rows(m)
    assert [(r["to_number"], r["account_id"]) for r in found] == [
        ("+17205550001", m.world.acme),
        ("+17205550002", m.world.globex),
        ("+17205550003", m.world.acme),
        ("+17205550004", m.world.globex),
    ]
    acme_tx = {r["tx"] for r in found if r["account_id"] == m.world.acme}
    globex_tx = {r["tx"] for r in found if r["account_id"] == m.world.globex}
    assert len(acme_tx) == len(globex_tx) == 1 and acme_tx != globex_tx
    with m.world.staff() as conn:
        mixed = conn.execute(
            "SELECT count(*) AS n FROM messaging.webhook_events e JOIN messaging.mdr d ON d.id = e.mdr_id "
            "WHERE e.account_id <> d.account_id"
        ).fetchone()["n"]
    assert mixed == 0


def first_key_id(m: Msg) -> Any:
    with m.world.staff() as conn:
        return conn.execute(
            "SELECT id FROM auth.api_keys WHERE account_id = %s ORDER BY created_at LIMIT 1", (m.world.acme,)
        ).fetchone()["id"]


def test_the_route_groups_concurrent_sends_of_a_cached_key(m: Msg) -> None:
    """POST /v1/messages with a cached API key and no Idempotency-Key goes through group submit;
    every request still gets its own 202 and message."""
    policy = AuthPolicy(secret_key=TEST_POLICY.secret_key, api_key_cache_seconds=60)
    app = create_app(m.world.url, policy=policy, pool_size=4)
    with TestClient(app, client=("198.51.100.7", 40000)) as client:
        first = send(client, m.acme_key, m.acme_local, "+17205550000")  # caches the key
        assert first.status_code == 202, first.text
        slots = app.state.warp.db_slots
        client.portal.call(slots.acquire)
        answers: dict[str, Any] = {}

        def post(to: str) -> None:
            answers[to] = send(client, m.acme_key, m.acme_local, to)

        tos = [f"+1720555010{i}" for i in range(4)]
        threads = [threading.Thread(target=post, args=(to,)) for to in tos]
        for t in threads:
            t.start()
        key_context = Context(account_id=m.world.acme, actor_type="API_KEY", actor_id=first_key_id(m))

        def queued() -> int:
            co = getattr(app.state, "messaging_coalescer", None)
            return co.queued(key_context) if co is not None else 0

        while client.portal.call(queued) < len(tos):
            threading.Event().wait(0.01)
        client.portal.call(slots.release)
        for t in threads:
            t.join(30)
    assert [answers[to].status_code for to in tos] == [202] * 4
    found = {str(r["id"]): r for r in rows(m, "WHERE m.to_number LIKE '+1720555010%'")}
    assert [found[answers[to].json()["id"]]["to_number"] for to in tos] == tos
    assert len({r["tx"] for r in found.values()}) == 1


async def test_a_send_cancelled_while_queued_is_not_sent(m: Msg, pool: ConnectionPool[Any]) -> None:
    """A request that goes away before its group is taken leaves the queue; the others still go."""
    co = coalescer(pool)
    a = ctx(m.world.acme)
    assert co.slots is not None
    done: dict[str, Any] = {}
    scopes: dict[str, anyio.CancelScope] = {}

    async def one(to: str) -> None:
        with anyio.CancelScope() as scope:
            scopes[to] = scope
            done[to] = await co.send(a, to, msg(m.acme_local, to))

    tos = ["+17205550001", "+17205550002", "+17205550003"]
    await co.slots.acquire()
    async with anyio.create_task_group() as tg:
        for to in tos:
            tg.start_soon(one, to)
        while co.queued(a) < 3:
            await anyio.sleep(0)
        scopes[tos[0]].cancel()  # the leader itself, waiting for the slot
        scopes[tos[1]].cancel()  # a follower
        while co.queued(a) > 1:
            await anyio.sleep(0)
        co.slots.release()
    assert sorted(done) == [tos[2]]
    assert [r["to_number"] for r in rows(m)] == [tos[2]]
    assert co.queued(a) == 0 and not co._groups


def test_a_grouped_send_records_the_use_of_a_cached_key(m: Msg) -> None:
    policy = AuthPolicy(secret_key=TEST_POLICY.secret_key, api_key_cache_seconds=60)
    app = create_app(m.world.url, policy=policy, pool_size=4)
    with TestClient(app) as client:
        assert send(client, m.acme_key, m.acme_local, "+17205550000").status_code == 202  # looked up
        with psycopg.connect(m.world.url, autocommit=True) as conn:
            conn.execute("UPDATE auth.api_keys SET last_used_at = NULL")
        # The cached entry's last use is over a minute old: the next request, served from the
        # cache, must record it, in its group's transaction.
        cache = app.state.warp.key_cache
        entry = cache.get(tokens.sha256_hex(m.acme_key))
        entry.last_used_at -= timedelta(minutes=2)
        assert send(client, m.acme_key, m.acme_local, "+17205550001").status_code == 202
    with psycopg.connect(m.world.url) as conn:
        used = conn.execute(
            "SELECT last_used_at FROM auth.api_keys WHERE id = %s", (first_key_id(m),)
        ).fetchone()
    assert used is not None and used[0] is not None


def commit_trigger(m: Msg, body: str) -> None:
    """A deferred (commit-time) trigger on messaging.mdr running ``body`` for the recipient +17205550666."""
    with psycopg.connect(m.world.url, autocommit=True) as conn:  # superuser
        conn.execute(
            "CREATE FUNCTION public.at_commit_666() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$ "
            f"BEGIN IF NEW.to_number = '+17205550666' THEN {body} END IF; RETURN NULL; END $$"
        )
        conn.execute(
            "CREATE CONSTRAINT TRIGGER at_commit_666 AFTER INSERT ON messaging.mdr DEFERRABLE INITIALLY DEFERRED "
            "FOR EACH ROW EXECUTE FUNCTION public.at_commit_666()"
        )


async def test_a_refused_commit_falls_back_to_single_sends(m: Msg, pool: ConnectionPool[Any]) -> None:
    commit_trigger(m, "RAISE EXCEPTION 'refused at commit';")
    a = ctx(m.world.acme)
    tos = ["+17205550001", "+17205550666", "+17205550003"]
    out = await in_groups(coalescer(pool), [(a, msg(m.acme_local, to)) for to in tos])
    assert isinstance(out[0], Submitted) and isinstance(out[2], Submitted)
    assert isinstance(out[1], psycopg.errors.RaiseException)
    assert [(r["id"], r["events"]) for r in rows(m)] == [(out[0].id, 1), (out[2].id, 1)]


async def test_a_group_whose_commit_went_unanswered_is_not_sent_again(
    m: Msg, pool: ConnectionPool[Any]
) -> None:
    """The connection dies during COMMIT: the outcome is unknown, so nothing is resent (no duplicate
    can arise); every request of the group gets the error, as a single send would."""
    commit_trigger(m, "PERFORM pg_terminate_backend(pg_backend_pid());")
    a = ctx(m.world.acme)
    tos = ["+17205550001", "+17205550666", "+17205550003"]
    out = await in_groups(coalescer(pool), [(a, msg(m.acme_local, to)) for to in tos])
    assert all(isinstance(o, CommitUnknown) for o in out), out
    assert rows(m) == []  # this time the server had aborted it; either way nothing was sent twice
