"""HttpProvider against a real HTTP vendor on loopback, and dispatch failover through the provider registry."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest
from messaging_helpers import Msg, VendorServer, add_provider, build, queue, statuses
from psycopg.rows import dict_row

from warp.db import tenant
from warp.messaging.dispatch import DISPATCH, dispatch_batch, load_candidates
from warp.messaging.providers import HttpProvider, OutboundMessage, ProviderError
from warp.vendors.secrets import MappingSecretStore, SecretResolver
from warp_auth_fixtures import World

SECRETS = SecretResolver(store=MappingSecretStore({"vendors/acme-sms": "vendor-token-1"}))


@pytest.fixture
def vendor() -> Iterator[VendorServer]:
    server = VendorServer(delay=2.0)
    yield server
    server.close()


@pytest.fixture
def m(world: World) -> Msg:
    return build(world)


def message() -> OutboundMessage:
    return OutboundMessage(
        id=uuid.uuid4(),
        created_at=datetime.now(UTC),
        message_type="SMS",
        from_number="+13035550100",
        to_number="+17205550123",
        body="hello",
        media_urls=[],
    )


def http(vendor: VendorServer, path: str, **config: object) -> HttpProvider:
    return HttpProvider(
        id=uuid.uuid4(), name="acme-sms", config={"url": vendor.base + path, **config}, secrets=SECRETS
    )


def test_success_posts_the_message_with_the_resolved_bearer_token(vendor: VendorServer) -> None:
    msg = message()
    ref = http(vendor, "/ok", auth_token_ref="secret:vendors/acme-sms").send(msg)
    assert ref == "v-1"
    (request,) = vendor.requests
    assert request["headers"]["Authorization"] == "Bearer vendor-token-1"
    assert request["json"] == {
        "id": str(msg.id),
        "type": "SMS",
        "from": "+13035550100",
        "to": "+17205550123",
        "body": "hello",
        "media_urls": [],
    }


@pytest.mark.parametrize(
    ("path", "config", "code", "text"),
    [
        ("/fail", {}, "vendor-http-503", "answered 503"),
        ("/slow", {"timeout": 0.3}, "vendor-timeout", "no answer within 0.3 s"),
        ("/noid", {}, "vendor-bad-answer", "answer has no id"),
        (
            "/ok",
            {"auth_token_ref": "secret:vendors/unknown"},
            "vendor-misconfigured",
            "secret:vendors/unknown",
        ),
    ],
)
def test_vendor_failures_are_provider_errors(
    vendor: VendorServer, path: str, config: dict[str, object], code: str, text: str
) -> None:
    with pytest.raises(ProviderError) as caught:
        http(vendor, path, **config).send(message())
    assert caught.value.code == code
    assert text in caught.value.message


def test_unreachable_vendor_is_a_provider_error() -> None:
    server = VendorServer()
    base = server.base
    server.close()  # nothing listens on that port any more
    provider = HttpProvider(id=uuid.uuid4(), name="gone", config={"url": base + "/ok", "timeout": 2})
    with pytest.raises(ProviderError) as caught:
        provider.send(message())
    assert caught.value.code in {"vendor-unreachable", "vendor-timeout"}


def _dispatch(m: Msg, limit: int = 100) -> object:
    with psycopg.connect(m.world.url, row_factory=dict_row) as conn:
        with tenant.transaction(conn, DISPATCH):
            candidates = load_candidates(conn, SECRETS)
        return dispatch_batch(conn, candidates, limit)


def test_a_5xx_vendor_fails_over_to_the_next_provider(m: Msg, vendor: VendorServer) -> None:
    with m.world.staff() as conn:
        conn.execute("UPDATE vendor_mgmt.service_providers SET enabled = false WHERE name = 'loop-sms'")
        failing = add_provider(conn, "http-primary", "http", {"url": vendor.base + "/fail"}, 5)
        backup = add_provider(
            conn,
            "http-backup",
            "http",
            {"url": vendor.base + "/ok", "auth_token_ref": "secret:vendors/acme-sms"},
            20,
        )
    ids = queue(m, 4)
    with m.world.staff() as conn:
        assigned = conn.execute(
            "SELECT DISTINCT service_provider_id FROM messaging.mdr WHERE id = ANY(%s)", (ids,)
        ).fetchall()
    assert [r["service_provider_id"] for r in assigned] == [failing]

    result = _dispatch(m)
    assert result.as_dict() == {  # type: ignore[attr-defined]
        "claimed": 4,
        "sent": 4,
        "failed": 0,
        "failovers": 4,
        "recovered": 0,
        "by_provider": {"http-backup": 4},
    }
    assert statuses(m, ids) == {"SENT": 4}
    with m.world.staff() as conn:
        rows = conn.execute(
            "SELECT service_provider_id, vendor_message_ref FROM messaging.mdr WHERE id = ANY(%s)", (ids,)
        ).fetchall()
        health = conn.execute(
            "SELECT p.name, p.health_status, h.status, h.error FROM vendor_mgmt.service_providers p "
            "JOIN vendor_mgmt.provider_health_checks h ON h.service_provider_id = p.id ORDER BY h.checked_at"
        ).fetchall()
    # The backup carried them: receipts are matched on (provider, vendor reference).
    assert {r["service_provider_id"] for r in rows} == {backup}
    assert len({r["vendor_message_ref"] for r in rows}) == 4
    # The primary was tried for each message until the batch's circuit opened (3 failures in a row),
    # then skipped for the 4th.
    primary_tries = [r for r in vendor.requests if r["path"] == "/fail"]
    assert len(primary_tries) == 3
    assert ("http-primary", "DOWN", "DOWN") in {(h["name"], h["health_status"], h["status"]) for h in health}
    assert "answered 503" in next(h["error"] for h in health if h["name"] == "http-primary")


def test_when_every_provider_fails_the_message_fails_with_each_reason(m: Msg, vendor: VendorServer) -> None:
    with m.world.staff() as conn:
        conn.execute("UPDATE vendor_mgmt.service_providers SET enabled = false WHERE name = 'loop-sms'")
        add_provider(conn, "http-primary", "http", {"url": vendor.base + "/fail"}, 5)
        add_provider(conn, "http-slow", "http", {"url": vendor.base + "/slow", "timeout": 0.3}, 20)
    (mid,) = queue(m, 1)
    result = _dispatch(m)
    assert (result.sent, result.failed) == (0, 1)  # type: ignore[attr-defined]
    with m.world.staff() as conn:
        row = conn.execute(
            "SELECT status, error_code, error_message FROM messaging.mdr WHERE id = %s", (mid,)
        ).fetchone()
        events = conn.execute(
            "SELECT event_type FROM messaging.webhook_events WHERE mdr_id = %s ORDER BY created_at, id",
            (mid,),
        ).fetchall()
    assert row["status"] == "FAILED"
    assert row["error_code"] == "vendor-timeout"  # the last provider's reason
    assert row["error_message"] == (
        "every provider failed: provider http-primary answered 503; provider http-slow: no answer within 0.3 s"
    )
    assert [e["event_type"] for e in events] == ["message.queued", "message.failed"]
